"""Who may do what: operators (config admins) and the admins of a group chat."""

from __future__ import annotations

import logging
from typing import Final

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Chat, Message, User

from bot.settings import BotSettings

logger = logging.getLogger(__name__)

_MANAGER_STATUSES: Final = frozenset({"creator", "administrator"})


class IsOperator(Filter):
    """The sender's user id is one of the configured operators."""

    async def __call__(self, event: Message | CallbackQuery, settings: BotSettings) -> bool:
        user = event.from_user
        return user is not None and user.id in settings.admins


async def may_manage(bot: Bot, chat: Chat, user: User | None, sender_chat: Chat | None) -> bool:
    """Whether this sender may change the chat's subscriptions and settings.

    Anyone in their own private chat; in a channel only admins can post at all; in a group
    the group's creator and administrators, including an admin posting anonymously as the
    group itself.
    """
    if chat.type in ("private", "channel"):
        return True
    if sender_chat is not None and sender_chat.id == chat.id:
        return True
    if user is None:
        return False
    try:
        member = await bot.get_chat_member(chat.id, user.id)
    except TelegramAPIError as error:
        logger.warning("cannot check admin rights of %d in %d: %s", user.id, chat.id, error)
        return False
    return member.status in _MANAGER_STATUSES


class CanManageChat(Filter):
    """The sender may change this chat's subscriptions (see `may_manage`)."""

    async def __call__(self, event: Message | CallbackQuery, bot: Bot) -> bool:
        if isinstance(event, CallbackQuery):
            message = event.message
            if message is None:
                return False
            return await may_manage(bot, message.chat, event.from_user, None)
        return await may_manage(bot, event.chat, event.from_user, event.sender_chat)
