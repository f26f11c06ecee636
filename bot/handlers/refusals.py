"""Polite refusals for commands and buttons the sender may not use.

Included after the gated routers: an event reaches these handlers only when the gate there
(IsOperator, CanManageChat) turned it away.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import texts
from bot.commands import MANAGE_COMMANDS, OPERATOR_COMMANDS
from bot.handlers.subscriptions import TopicToggle

router = Router(name=__name__)


@router.message(Command(*(name for name, _ in OPERATOR_COMMANDS)))
async def not_operator(message: Message) -> None:
    await message.reply(texts.NOT_OPERATOR)


@router.message(Command(*MANAGE_COMMANDS))
async def not_chat_admin(message: Message) -> None:
    await message.reply(texts.NOT_CHAT_ADMIN)


@router.callback_query(TopicToggle.filter())
async def not_chat_admin_button(query: CallbackQuery) -> None:
    await query.answer(texts.NOT_CHAT_ADMIN, show_alert=True)
