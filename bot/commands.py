"""The command menus Telegram shows (setMyCommands): for everyone and for operators, in each
language, and for a chat whose language was chosen with /language.

Telegram picks a menu by scope and the user's app language: a chat's own menu first, then
the default one for the app's language, then the default one. chanwatch registers the
default menu in English and, for apps in Russian, Ukrainian, Belarusian and Kazakh, in
Russian (the same rule that picks a new chat's language); a chat that chose its language,
and every operator's private chat, gets a menu of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Final

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.i18n import ENGLISH, RUSSIAN, RUSSIAN_READERS, Catalogs, speaking
from bot.i18n import gettext as _

logger = logging.getLogger(__name__)

PUBLIC_COMMANDS: Final = (
    "start",
    "help",
    "topics",
    "subscribe",
    "unsubscribe",
    "recent",
    "search",
    "trend",
    "digest",
    "mode",
    "timezone",
    "quiet",
    "copies",
    "language",
)

OPERATOR_COMMANDS: Final = (
    "addchannel",
    "removechannel",
    "channels",
    "addtopic",
    "removetopic",
    "stats",
)

# Commands that change a chat's subscriptions or settings: in a group only its admins may.
MANAGE_COMMANDS: Final = (
    "subscribe",
    "unsubscribe",
    "digest",
    "mode",
    "timezone",
    "quiet",
    "copies",
    "language",
)

KNOWN_COMMANDS: Final = frozenset((*PUBLIC_COMMANDS, *OPERATOR_COMMANDS))


def describe(command: str) -> str:
    """The menu line of a command, in the current language."""
    descriptions = {
        "start": _("Start: what this bot does"),
        "help": _("What is watched and how to use the bot"),
        "topics": _("Topics, with buttons to subscribe"),
        "subscribe": _("Subscribe to all topics or /subscribe NAME"),
        "unsubscribe": _("Unsubscribe from all or /unsubscribe NAME"),
        "recent": _("Latest matches for your topics: /recent [N]"),
        "search": _("Search all stored posts: /search WORDS"),
        "trend": _("Chart of matches per day: /trend [TOPIC] [7d|30d|90d]"),
        "digest": _("Digest time: /digest HH:MM [daily|weekly] or off"),
        "mode": _("Alerts: /mode instant|digest|both"),
        "timezone": _("Your time zone: /timezone Area/City"),
        "quiet": _("Toggle silent alerts"),
        "copies": _("Reposts in other channels: /copies on|off"),
        "language": _("Language: /language ru|en"),
        "addchannel": _("Watch a channel: /addchannel @name [web]"),
        "removechannel": _("Stop watching: /removechannel @name"),
        "channels": _("Watched channels and their health"),
        "addtopic": _("Add or replace a topic: /addtopic NAME: terms"),
        "removetopic": _("Remove a topic: /removetopic NAME"),
        "stats": _("Posts, matches, subscribers, queue; /stats chart"),
    }
    return descriptions[command]


def menu(i18n: Catalogs, language: str, *, operator: bool) -> list[BotCommand]:
    names = (*PUBLIC_COMMANDS, *OPERATOR_COMMANDS) if operator else PUBLIC_COMMANDS
    with speaking(i18n, language):
        return [BotCommand(command=name, description=describe(name)) for name in names]


def _by_app_language(chosen: str | None) -> dict[str | None, str]:
    """Which menu language to register for each app language code (None: any other)."""
    if chosen is not None:
        return {code: chosen for code in (None, *sorted(RUSSIAN_READERS))}
    return {None: ENGLISH} | dict.fromkeys(sorted(RUSSIAN_READERS), RUSSIAN)


async def register_commands(
    bot: Bot,
    i18n: Catalogs,
    admins: Iterable[int] = (),
    languages: Mapping[int, str | None] | None = None,
) -> None:
    """Publish the default menus and the full menu in each operator's private chat
    (`languages`: operators' chosen languages, by chat id).

    An operator who never opened the bot has no chat yet; Telegram refuses that scope, which
    is logged and skipped rather than stopping start-up.
    """
    for code, language in _by_app_language(None).items():
        await bot.set_my_commands(
            menu(i18n, language, operator=False),
            scope=BotCommandScopeDefault(),
            language_code=code,
        )
    for admin in sorted(set(admins)):
        try:
            await set_chat_menu(bot, i18n, admin, (languages or {}).get(admin), operator=True)
        except TelegramAPIError as error:
            logger.warning("operator command menu for %d not set: %s", admin, error)


async def set_chat_menu(
    bot: Bot, i18n: Catalogs, chat_id: int, language: str | None, *, operator: bool
) -> None:
    """The chat's own menu: in its chosen language for every app language, or by app
    language while it has chosen none."""
    scope = BotCommandScopeChat(chat_id=chat_id)
    for code, shown in _by_app_language(language).items():
        await bot.set_my_commands(
            menu(i18n, shown, operator=operator), scope=scope, language_code=code
        )
