"""/topics with toggle buttons, /subscribe and /unsubscribe."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import texts
from bot.filters import CanManageChat
from bot.parsing import find_topics
from storage import Store
from storage.models import Topic

logger = logging.getLogger(__name__)


class TopicToggle(CallbackData, prefix="topic"):
    topic_id: int


def topics_keyboard(topics: Sequence[Topic], subscribed: set[int]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for topic in topics:
        builder.button(
            text=texts.topic_button(topic, topic.id in subscribed),
            callback_data=TopicToggle(topic_id=topic.id),
        )
    builder.adjust(2)
    return builder.as_markup()


async def list_topics(message: Message, store: Store) -> None:
    topics = await store.topics.live()
    subscribed = await store.subscribers.topic_ids(message.chat.id)
    markup = topics_keyboard(topics, subscribed) if topics else None
    await message.answer(texts.topics_text(topics, subscribed), reply_markup=markup)


async def toggle_topic(
    query: CallbackQuery, callback_data: TopicToggle, store: Store, bot: Bot
) -> None:
    message = query.message
    if message is None:
        await query.answer(texts.search_expired())
        return
    chat_id = message.chat.id
    topics = await store.topics.live()
    topic = next((t for t in topics if t.id == callback_data.topic_id), None)
    if topic is None:
        notice = texts.topic_gone()
    elif topic.id in await store.subscribers.topic_ids(chat_id):
        await store.subscribers.unsubscribe(chat_id, [topic.id])
        notice = texts.toggled_text(topic, subscribed=False)
    else:
        await store.subscribers.subscribe(chat_id, [topic.id])
        notice = texts.toggled_text(topic, subscribed=True)
    subscribed = await store.subscribers.topic_ids(chat_id)
    markup = topics_keyboard(topics, subscribed) if topics else None
    try:
        await bot.edit_message_text(
            text=texts.topics_text(topics, subscribed),
            chat_id=chat_id,
            message_id=message.message_id,
            reply_markup=markup,
        )
    except TelegramBadRequest as error:
        # A double tap can leave the message as it already is; nothing to change then.
        if "not modified" not in str(error):
            raise
    await query.answer(notice)


async def subscribe(message: Message, command: CommandObject, store: Store) -> None:
    chosen = find_topics(command.args, await store.topics.live(), "subscribe")
    added = await store.subscribers.subscribe(message.chat.id, [t.id for t in chosen])
    await message.answer(texts.subscribed_text(chosen, added))


async def unsubscribe(message: Message, command: CommandObject, store: Store) -> None:
    if not (command.args or "").strip():
        removed = await store.subscribers.unsubscribe(message.chat.id)
        await message.answer(texts.unsubscribed_text(None, removed))
        return
    chosen = find_topics(command.args, await store.topics.live(), "unsubscribe")
    removed = await store.subscribers.unsubscribe(message.chat.id, [t.id for t in chosen])
    await message.answer(texts.unsubscribed_text(chosen, removed))


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(list_topics, Command("topics"))
    router.channel_post.register(list_topics, Command("topics"))
    router.callback_query.register(toggle_topic, TopicToggle.filter(), CanManageChat())
    router.message.register(subscribe, Command("subscribe"), CanManageChat())
    router.channel_post.register(subscribe, Command("subscribe"), CanManageChat())
    router.message.register(unsubscribe, Command("unsubscribe"), CanManageChat())
    router.channel_post.register(unsubscribe, Command("unsubscribe"), CanManageChat())
    return router
