"""Operator commands: channels and topics, changed while running and kept in the database."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import texts
from bot.errors import CommandError
from bot.filters import IsOperator
from bot.handlers.replies import answer_blocks
from bot.parsing import check_topic_name, parse_channel, parse_handle, parse_topic
from bot.topic_control import ChannelControl, TopicControl
from monitor.matching import validate_term
from storage import Store


async def add_channel(
    message: Message, command: CommandObject, store: Store, channels: ChannelControl
) -> None:
    handle, source = parse_channel(command.args)
    channel, added = await store.channels.add(handle, source)
    if added:
        await channels.channels_changed()
        # Placing a telegram channel on an account happens in channels_changed().
        channel = await store.channels.get(handle) or channel
    await message.answer(texts.channel_added_text(channel, added))


async def remove_channel(
    message: Message, command: CommandObject, store: Store, channels: ChannelControl
) -> None:
    handle = parse_handle(command.args, "removechannel")
    if not await store.channels.remove(handle):
        raise CommandError(f"@{handle} is not watched. /channels lists the watched channels.")
    await channels.channels_changed()
    await message.answer(f"Stopped watching @{escape(handle)}. Its stored posts stay searchable.")


async def list_channels(message: Message, store: Store) -> None:
    await answer_blocks(message, texts.channels_text(await store.channels.watched()))


async def add_topic(
    message: Message, command: CommandObject, store: Store, topics: TopicControl
) -> None:
    spec = parse_topic(command.args, validate_term)
    created = await store.topics.put(spec)
    await topics.topics_changed()
    count = len(spec.terms) + len(spec.require) + len(spec.exclude)
    stored = await store.topics.get(spec.name)  # keeps the spelling it was created with
    name = stored.name if stored is not None else spec.name
    await message.answer(texts.topic_saved_text(name, created, count))


async def remove_topic(
    message: Message, command: CommandObject, store: Store, topics: TopicControl
) -> None:
    if not (command.args or "").strip():
        raise CommandError("Write /removetopic NAME, e.g. /removetopic Выборы.")
    name = check_topic_name(command.args or "")
    if not await store.topics.remove(name):
        known = ", ".join(topic.name for topic in await store.topics.live()) or "none"
        raise CommandError(f"There is no topic “{name}”. Topics: {known}.")
    await topics.topics_changed()
    await message.answer(
        f"Topic <b>{escape(name)}</b> removed; its subscribers no longer get its alerts."
    )


async def stats(message: Message, store: Store) -> None:
    watched = await store.channels.watched()
    failing = [channel for channel in watched if channel.last_error]
    unassigned = sum(1 for channel in watched if channel.unassigned)
    # Accounts matter only while some channel is read through Telegram.
    accounts = (
        await store.accounts.configured()
        if any(channel.source == "telegram" for channel in watched)
        else []
    )
    await message.answer(
        texts.stats_text(await store.outbox.stats(), failing, accounts, unassigned)
    )


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.filter(IsOperator())
    router.message.register(add_channel, Command("addchannel"))
    router.message.register(remove_channel, Command("removechannel"))
    router.message.register(list_channels, Command("channels"))
    router.message.register(add_topic, Command("addtopic"))
    router.message.register(remove_topic, Command("removetopic"))
    router.message.register(stats, Command("stats"))
    return router
