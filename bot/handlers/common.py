"""/start and /help: what the bot is, what it watches, how to use it."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot import texts
from bot.handlers.replies import answer_blocks
from bot.settings import BotSettings
from storage import Store


async def start(message: Message) -> None:
    user = message.from_user
    name = user.first_name if user and message.chat.type == "private" else None
    await message.answer(texts.start_text(name, group=message.chat.type != "private"))


async def help_(message: Message, store: Store, settings: BotSettings) -> None:
    user = message.from_user
    operator = user is not None and user.id in settings.admins
    text = texts.help_text(
        await store.channels.watched(), await store.topics.live(), operator=operator
    )
    await answer_blocks(message, [text])


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(start, CommandStart())
    router.channel_post.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.channel_post.register(help_, Command("help"))
    return router
