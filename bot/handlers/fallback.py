"""Anything no other handler took: unknown commands get a hint to /help."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from bot import texts


def _mention(text: str) -> str | None:
    head = text.split(maxsplit=1)[0]
    _, at, mention = head.partition("@")
    return mention if at else None


async def unknown_command(message: Message, bot: Bot) -> None:
    mention = _mention(message.text or "/")
    private = message.chat.type == "private"
    if mention is not None:
        me = await bot.me()
        if mention.lower() != (me.username or "").lower():
            if private:
                # No other bot reads a private chat with this one: silence would only puzzle.
                await message.reply(texts.other_bot_command(mention))
            return  # a command for another bot in the same group
    elif not private:
        # Unaddressed commands in groups may be meant for other bots; stay quiet.
        return
    await message.reply(texts.unknown_command())


async def not_a_command(message: Message) -> None:
    await message.answer(texts.not_a_command())


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(not_a_command, F.chat.type == "private")
    return router
