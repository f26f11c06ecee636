"""/trend: a chart of matching posts per day; shared by the operators' /stats chart.

The chart is drawn by the chart worker (bounded time and memory, never in the event loop);
when it cannot be drawn, the caption's figures go out as text with a short note.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from aiogram import Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot import texts
from bot.charts.renderer import ChartRenderer
from bot.charts.spec import ChartSpec
from bot.dates import zone
from bot.parsing import parse_trend
from bot.trends import Period, topic_trend, trend_chart
from storage import Store
from storage.models import Subscriber


async def send_chart(
    message: Message, charts: ChartRenderer, spec: ChartSpec, caption: str, name: str
) -> None:
    """Answer with the chart and its caption, or with the caption alone if it fails."""
    if message.bot is not None:
        # "sending a photo…" while it is drawn; only a courtesy, so a refusal is ignored.
        with contextlib.suppress(TelegramAPIError):
            await message.bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_PHOTO)
    png = await charts.render(spec)
    if png is None:
        await message.answer(f"{caption}\n\n{texts.chart_failed()}")
        return
    await message.answer_photo(BufferedInputFile(png, filename=f"{name}.png"), caption=caption)


async def trend(
    message: Message,
    command: CommandObject,
    store: Store,
    subscriber: Subscriber,
    charts: ChartRenderer,
) -> None:
    live = await store.topics.live()
    request = parse_trend(command.args, live)
    topics = list(request.topics)
    if not topics:
        followed = await store.subscribers.topic_ids(message.chat.id)
        topics = [topic for topic in live if topic.id in followed]
    if not topics:
        await message.answer(texts.trend_no_topics())
        return
    tz = zone(subscriber.timezone)
    period = Period.ending(datetime.now(UTC).astimezone(tz).date(), request.days, tz)
    found = await topic_trend(store, topics, period)
    if found.total == 0:
        await message.answer(texts.trend_empty(topics, request.days))
        return
    spec, caption = trend_chart(found)
    await send_chart(message, charts, spec, caption, "trend")


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(trend, Command("trend"))
    router.channel_post.register(trend, Command("trend"))
    return router
