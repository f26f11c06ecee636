"""/recent [N]: the newest posts that matched the chat's topics."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import texts
from bot.dates import zone
from bot.handlers.replies import answer_blocks
from bot.parsing import parse_count
from bot.render import render_post_line
from storage import Store
from storage.models import Subscriber


async def recent(
    message: Message, command: CommandObject, store: Store, subscriber: Subscriber
) -> None:
    count = parse_count(command.args)
    chat_id = message.chat.id
    posts = await store.posts.recent(count, chat_id=chat_id)
    if not posts:
        has_topics = bool(await store.subscribers.topic_ids(chat_id))
        await message.answer(texts.recent_empty(has_topics))
        return
    tz = zone(subscriber.timezone)
    lines = [render_post_line(post, tz=tz) for post in posts]
    await answer_blocks(message, [texts.recent_header(len(posts)), *lines])


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(recent, Command("recent"))
    router.channel_post.register(recent, Command("recent"))
    return router
