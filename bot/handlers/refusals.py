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
from bot.handlers.operators import StatsChart
from bot.handlers.subscriptions import TopicToggle


async def not_operator(message: Message) -> None:
    await message.reply(texts.not_operator())


async def not_chat_admin(message: Message) -> None:
    await message.reply(texts.not_chat_admin())


async def not_chat_admin_button(query: CallbackQuery) -> None:
    await query.answer(texts.not_chat_admin(), show_alert=True)


async def not_operator_button(query: CallbackQuery) -> None:
    await query.answer(texts.not_operator(), show_alert=True)


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(not_operator, Command(*OPERATOR_COMMANDS))
    router.message.register(not_chat_admin, Command(*MANAGE_COMMANDS))
    router.callback_query.register(not_chat_admin_button, TopicToggle.filter())
    router.callback_query.register(not_operator_button, StatsChart.filter())
    return router
