"""/start and /help: what the bot is, what it watches, how to use it."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot import texts
from bot.handlers.replies import answer_blocks
from bot.settings import BotSettings
from storage import Store

router = Router(name=__name__)


@router.message(CommandStart())
@router.channel_post(CommandStart())
async def start(message: Message) -> None:
    user = message.from_user
    name = user.first_name if user and message.chat.type == "private" else None
    await message.answer(texts.start_text(name, group=message.chat.type != "private"))


@router.message(Command("help"))
@router.channel_post(Command("help"))
async def help_(message: Message, store: Store, settings: BotSettings) -> None:
    user = message.from_user
    operator = user is not None and user.id in settings.admins
    text = texts.help_text(
        await store.channels.watched(), await store.topics.live(), operator=operator
    )
    await answer_blocks(message, [text])
