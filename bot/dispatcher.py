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

from bot.commands import register_commands
from bot.handlers import (
    common,
    errors,
    fallback,
    operators,
    preferences,
    recent,
    refusals,
    search,
    subscriptions,
)
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
    bot ignores creates nothing.
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
            data["subscriber"] = await store.subscribers.ensure(
                chat.id,
                chat_type=chat.type,
                title=chat.full_name if chat.type == "private" else chat.title,
                digest_time=settings.digest_time,
                timezone=settings.timezone,
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
) -> Dispatcher:
    """The dispatcher with every conversation router; the dependencies are workflow data."""
    dp = Dispatcher(
        store=store,
        settings=settings,
        delivery=delivery,
        digests=digests,
        topics=topics,
        channels=channels,
    )
    ensure = EnsureSubscriber()
    dp.message.middleware(ensure)
    dp.channel_post.middleware(ensure)
    dp.callback_query.middleware(ensure)
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
