"""/search WORDS over every stored post, paged with ◀ ▶ buttons that edit the message."""

from __future__ import annotations

import logging
from datetime import tzinfo
from typing import Final

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import texts
from bot.dates import zone
from bot.errors import CommandError
from bot.parsing import parse_search
from bot.render import render_post_line
from monitor.matching import query_lemmas
from storage import Store
from storage.errors import N_
from storage.models import Subscriber

logger = logging.getLogger(__name__)


PAGE_SIZE: Final = 5
PAGE_MAX: Final = 100_000
"""Callback data comes from the client and may be forged: a page past this is the last one
(an offset past SQLite's integers would fail)."""
MESSAGE_LIMIT: Final = 4096


class SearchPage(CallbackData, prefix="search"):
    page: int


def _keyboard(page: int, pages: int) -> InlineKeyboardMarkup | None:
    if pages <= 1:
        return None
    builder = InlineKeyboardBuilder()
    if page > 0:
        builder.button(text="◀", callback_data=SearchPage(page=page - 1))
    if page < pages - 1:
        builder.button(text="▶", callback_data=SearchPage(page=page + 1))
    return builder.as_markup()


async def _page(
    store: Store, query: str, page: int, tz: tzinfo
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The message text and buttons of one page of results (page clamped into range)."""
    groups = query_lemmas(query)
    if not groups:
        raise CommandError(
            N_("There are no words to search for in that query; write words, e.g. /search выборы.")
        )
    page = min(max(page, 0), PAGE_MAX)
    posts, total = await store.posts.search(groups, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if total and not posts and page >= pages:
        # Fewer results than when the buttons were drawn: show the last page instead.
        page = pages - 1
        posts, total = await store.posts.search(groups, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    lines = [render_post_line(post, tz=tz) for post in posts]
    text = texts.search_text(query, lines, total, page, pages)
    while len(text) > MESSAGE_LIMIT and len(lines) > 1:
        lines.pop()
        text = texts.search_text(query, lines, total, page, pages)
    return text, _keyboard(page, pages)


async def search(
    message: Message, command: CommandObject, store: Store, subscriber: Subscriber
) -> None:
    query = parse_search(command.args)
    text, markup = await _page(store, query, 0, zone(subscriber.timezone))
    await message.answer(text, reply_markup=markup)


async def turn_page(
    query: CallbackQuery,
    callback_data: SearchPage,
    store: Store,
    bot: Bot,
    subscriber: Subscriber,
) -> None:
    message = query.message
    # The query is read back from the message's first line, so paging survives a restart
    # and needs no server-side state; callback data has room only for the page number.
    first_line = (message.text or "").split("\n", 1)[0] if isinstance(message, Message) else ""
    searched = texts.search_query(first_line)
    if searched is None or message is None:
        await query.answer(texts.search_expired(), show_alert=True)
        return
    text, markup = await _page(store, searched, callback_data.page, zone(subscriber.timezone))
    try:
        await bot.edit_message_text(
            text=text, chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup
        )
    except TelegramBadRequest as error:
        if "not modified" not in str(error):
            raise
    await query.answer()


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(search, Command("search"))
    router.channel_post.register(search, Command("search"))
    router.callback_query.register(turn_page, SearchPage.filter())
    return router
