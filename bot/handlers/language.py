"""/language ru|en: the language the bot speaks in this chat, kept in the database."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import texts
from bot.commands import set_chat_menu
from bot.filters import CanManageChat
from bot.i18n import Catalogs, chat_language, speaking
from bot.parsing import parse_language
from bot.settings import BotSettings
from storage import Store
from storage.models import Subscriber

logger = logging.getLogger(__name__)


async def language(
    message: Message,
    command: CommandObject,
    store: Store,
    subscriber: Subscriber,
    bot: Bot,
    i18n: Catalogs,
    settings: BotSettings,
) -> None:
    chosen = parse_language(command.args)
    if chosen is None:
        await message.answer(texts.language_text(chat_language(subscriber)))
        return
    await store.subscribers.update(message.chat.id, language=chosen)
    with speaking(i18n, chosen):
        await message.answer(texts.language_set_text(chosen))
    user = message.from_user
    operator = message.chat.type == "private" and user is not None and user.id in settings.admins
    try:
        await set_chat_menu(bot, i18n, message.chat.id, chosen, operator=operator)
    except TelegramAPIError as error:
        # The setting is kept either way; the menu follows at the next start at the latest.
        logger.warning("chat %d: command menu not updated: %s", message.chat.id, error)


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(language, Command("language"), CanManageChat())
    router.channel_post.register(language, Command("language"), CanManageChat())
    return router
