"""Assembling the conversation: the bot client, the dispatcher with its routers, the menus."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject

from bot.charts.renderer import ChartRenderer
from bot.chat_language import ChatLanguage
from bot.commands import register_commands
from bot.handlers import (
    common,
    errors,
    fallback,
    language,
    operators,
    preferences,
    recent,
    refusals,
    search,
    subscriptions,
    trend,
)
from bot.i18n import Catalogs, language_for
from bot.settings import BotSettings
from bot.topic_control import ChannelControl, TopicControl
from storage import Store

if TYPE_CHECKING:
    from bot.delivery import Delivery
    from bot.digests import DigestScheduler


logger = logging.getLogger(__name__)

__all__ = ["build_dispatcher", "make_bot", "register_commands"]


class EnsureSubscriber(BaseMiddleware):
    """Every chat the bot answers has a subscriber row; handlers get it as `subscriber`.

    An inner middleware: it runs only once a handler has accepted the event, so chatter the
    bot ignores creates nothing. A new chat speaks the language of the user who first talks
    to the bot there (a channel post has no user: the chat waits for one, in English).
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = None
        if isinstance(event, Message):
            chat = event.chat
        elif isinstance(event, CallbackQuery) and event.message is not None:
            chat = event.message.chat
        if chat is not None:
            store: Store = data["store"]
            settings: BotSettings = data["settings"]
            user = data.get("event_from_user")
            # Anonymous group admins write as a bot (GroupAnonymousBot): not a person's language.
            language = language_for(user.language_code) if user and not user.is_bot else None
            data["subscriber"] = await store.subscribers.ensure(
                chat.id,
                chat_type=chat.type,
                title=chat.full_name if chat.type == "private" else chat.title,
                digest_time=settings.digest_time,
                timezone=settings.timezone,
                language=language,
            )
        return await handler(event, data)


def build_dispatcher(
    *,
    store: Store,
    settings: BotSettings,
    delivery: Delivery,
    digests: DigestScheduler,
    topics: TopicControl,
    channels: ChannelControl,
    charts: ChartRenderer,
) -> Dispatcher:
    """The dispatcher with every conversation router; the dependencies are workflow data."""
    i18n: Catalogs = delivery.i18n
    dp = Dispatcher(
        store=store,
        settings=settings,
        delivery=delivery,
        digests=digests,
        topics=topics,
        channels=channels,
        charts=charts,
        i18n=i18n,
    )
    ensure = EnsureSubscriber()
    speak = ChatLanguage(i18n, store)
    # The chat's language is known once its subscriber row is: `speak` comes second.
    for observer in (dp.message, dp.channel_post, dp.callback_query):
        observer.middleware(ensure)
        observer.middleware(speak)
    dp.errors.middleware(speak)
    # Order matters: the gated routers come before the refusals they fall through to, and
    # the catch-all fallback comes last.
    dp.include_routers(
        *(
            feature.build_router()
            for feature in (
                errors,
                common,
                subscriptions,
                preferences,
                recent,
                search,
                trend,
                language,
                operators,
                refusals,
                fallback,
            )
        )
    )
    return dp


def make_bot(token: str, api_base: str) -> Bot:
    """A bot talking to `api_base` (Telegram's, or a local server), HTML without previews."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    return Bot(
        token=token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
