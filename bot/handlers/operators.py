"""Operator commands: channels and topics, changed while running and kept in the database."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import texts
from bot.charts.renderer import ChartRenderer
from bot.dates import zone
from bot.errors import CommandError
from bot.filters import IsOperator
from bot.handlers.replies import answer_blocks
from bot.handlers.trend import send_chart
from bot.parsing import check_topic_name, parse_channel, parse_handle, parse_topic
from bot.settings import BotSettings
from bot.topic_control import ChannelControl, TopicControl
from bot.trends import STATS_DAYS, Period, activity_chart
from monitor.matching import validate_term
from storage import Store
from storage.errors import N_
from storage.models import Subscriber


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
        raise CommandError(
            N_("@{channel} is not watched. /channels lists the watched channels."), channel=handle
        )
    await channels.channels_changed()
    await message.answer(texts.channel_removed_text(handle))


async def list_channels(message: Message, store: Store, subscriber: Subscriber) -> None:
    watched = await store.channels.watched()
    await answer_blocks(message, texts.channels_text(watched, zone(subscriber.timezone)))


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
        raise CommandError(N_("Write /removetopic NAME, e.g. /removetopic Выборы."))
    name = check_topic_name(command.args or "")
    if not await store.topics.remove(name):
        raise CommandError(
            N_("There is no topic “{topic}”. Topics: {known}."),
            topic=name,
            known=", ".join(topic.name for topic in await store.topics.live()) or "—",
        )
    await topics.topics_changed()
    await message.answer(texts.topic_removed_text(name))


class StatsChart(CallbackData, prefix="stats"):
    """The button under /stats that draws its chart (the last STATS_DAYS days)."""


async def stats(
    message: Message,
    command: CommandObject,
    store: Store,
    subscriber: Subscriber,
    charts: ChartRenderer,
    settings: BotSettings,
) -> None:
    words = (command.args or "").lower().split()
    if words == ["chart"]:
        await _stats_chart(message, store, subscriber, charts)
        return
    if words:
        raise CommandError(N_("Write /stats, or /stats chart for the last 30 days as a chart."))
    watched = await store.channels.watched()
    failing = [channel for channel in watched if channel.last_error]
    tz = zone(subscriber.timezone)
    text = texts.stats_text(await store.outbox.stats(), failing, tz)
    # Accounts matter only while some channel is read through Telegram.
    if any(channel.source == "telegram" for channel in watched):
        unassigned = sum(1 for channel in watched if channel.unassigned)
        accounts = await store.accounts.configured()
        text += "\n\n" + texts.accounts_stats_text(accounts, unassigned, tz)
    processes = await store.processes.live(settings.live_seconds)
    if processes:
        text += "\n\n" + texts.processes_stats_text(processes, datetime.now(UTC))
    text += "\n\n" + await _retention(store, settings, tz)
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.stats_chart_button(), callback_data=StatsChart())
    await message.answer(text, reply_markup=builder.as_markup())


async def _retention(store: Store, settings: BotSettings, tz: tzinfo) -> str:
    last = await store.retention.last_run()
    totals = await store.retention.totals()
    return texts.retention_text(settings.retention, last, totals, tz)


async def stats_chart_button(
    query: CallbackQuery, store: Store, subscriber: Subscriber, charts: ChartRenderer
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _stats_chart(query.message, store, subscriber, charts)


async def _stats_chart(
    message: Message, store: Store, subscriber: Subscriber, charts: ChartRenderer
) -> None:
    tz = zone(subscriber.timezone)
    period = Period.ending(datetime.now(UTC).astimezone(tz).date(), STATS_DAYS, tz)
    spec, caption = await activity_chart(store, period)
    await send_chart(message, charts, spec, caption, "stats")


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.filter(IsOperator())
    router.callback_query.filter(IsOperator())
    router.message.register(add_channel, Command("addchannel"))
    router.message.register(remove_channel, Command("removechannel"))
    router.message.register(list_channels, Command("channels"))
    router.message.register(add_topic, Command("addtopic"))
    router.message.register(remove_topic, Command("removetopic"))
    router.message.register(stats, Command("stats"))
    router.callback_query.register(stats_chart_button, StatsChart.filter())
    return router
