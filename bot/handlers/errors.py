"""The one error handler: user mistakes are answered, everything else is logged and reported."""

from __future__ import annotations

import logging
from html import unescape
from typing import TYPE_CHECKING

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from bot import texts
from storage.errors import ChanwatchError, StorageError

if TYPE_CHECKING:
    from bot.delivery import Delivery


logger = logging.getLogger(__name__)


def _chat_id(event: ErrorEvent) -> int | None:
    update = event.update
    if update.message is not None:
        return update.message.chat.id
    if update.channel_post is not None:
        return update.channel_post.chat.id
    if update.callback_query is not None and update.callback_query.message is not None:
        return update.callback_query.message.chat.id
    return None


async def _tell_operators(delivery: Delivery, event: ErrorEvent, chat_id: int | None) -> None:
    try:
        await delivery.notify_operators(
            lambda: texts.operator_error_notice(
                chat_id or 0, event.update.update_id, event.exception
            ),
            key=f"update-error:{event.update.update_id}",
        )
    except Exception:
        # The failure may be the database itself; the log already has the details.
        logger.exception("could not queue the error notice for operators")


async def on_error(event: ErrorEvent, bot: Bot, delivery: Delivery) -> bool:
    error = event.exception
    chat_id = _chat_id(event)
    # A storage failure is the operators' problem, not something the user can fix.
    if isinstance(error, ChanwatchError) and not isinstance(error, StorageError):
        logger.info("chat %s: %s", chat_id, error)
        text = texts.error_text(error)
    else:
        logger.error(
            "update %d from chat %s failed", event.update.update_id, chat_id, exc_info=error
        )
        await _tell_operators(delivery, event, chat_id)
        text = texts.generic_error()
    try:
        query = event.update.callback_query
        if query is not None:
            # Button presses answer in a pop-up: the chat's history stays as it was.
            await bot.answer_callback_query(query.id, text=_plain(text)[:200], show_alert=True)
        elif chat_id is not None:
            await bot.send_message(chat_id, text)
    except TelegramAPIError as send_error:
        logger.warning("chat %s: could not send the error answer: %s", chat_id, send_error)
    return True


def _plain(html_text: str) -> str:
    """Callback answers are plain text; undo the HTML escaping the texts apply."""
    return unescape(html_text)


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.error.register(on_error)
    return router
