"""The command menus Telegram shows (setMyCommands): for everyone, and for operators."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

logger = logging.getLogger(__name__)

PUBLIC_COMMANDS: Final[tuple[tuple[str, str], ...]] = (
    ("start", "Start: what this bot does"),
    ("help", "What is watched and how to use the bot"),
    ("topics", "Topics, with buttons to subscribe"),
    ("subscribe", "Subscribe to all topics or /subscribe NAME"),
    ("unsubscribe", "Unsubscribe from all or /unsubscribe NAME"),
    ("recent", "Latest matches for your topics: /recent [N]"),
    ("search", "Search all stored posts: /search WORDS"),
    ("digest", "Digest time: /digest HH:MM [daily|weekly] or off"),
    ("mode", "Alerts: /mode instant|digest|both"),
    ("timezone", "Your time zone: /timezone Area/City"),
    ("quiet", "Toggle silent alerts"),
)

OPERATOR_COMMANDS: Final[tuple[tuple[str, str], ...]] = (
    ("addchannel", "Watch a channel: /addchannel @name [web]"),
    ("removechannel", "Stop watching: /removechannel @name"),
    ("channels", "Watched channels and their health"),
    ("addtopic", "Add or replace a topic: /addtopic NAME: terms"),
    ("removetopic", "Remove a topic: /removetopic NAME"),
    ("stats", "Posts, matches, subscribers, queue, source health"),
)

# Commands that change a chat's subscriptions or settings: in a group only its admins may.
MANAGE_COMMANDS: Final = ("subscribe", "unsubscribe", "digest", "mode", "timezone", "quiet")

KNOWN_COMMANDS: Final = frozenset(name for name, _ in (*PUBLIC_COMMANDS, *OPERATOR_COMMANDS))


def _menu(entries: Iterable[tuple[str, str]]) -> list[BotCommand]:
    return [BotCommand(command=name, description=text) for name, text in entries]


async def register_commands(bot: Bot, admins: Iterable[int] = ()) -> None:
    """Publish the public menu, and the full menu in each operator's private chat.

    An operator who never opened the bot has no chat yet; Telegram refuses that scope, which
    is logged and skipped rather than stopping start-up.
    """
    await bot.set_my_commands(_menu(PUBLIC_COMMANDS), scope=BotCommandScopeDefault())
    full = _menu((*PUBLIC_COMMANDS, *OPERATOR_COMMANDS))
    for admin in sorted(set(admins)):
        try:
            await bot.set_my_commands(full, scope=BotCommandScopeChat(chat_id=admin))
        except TelegramAPIError as error:
            logger.warning("operator command menu for %d not set: %s", admin, error)
