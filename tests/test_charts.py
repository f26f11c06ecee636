"""Charts: /trend and /stats chart as photos through the fake Bot API, the weekly digest's
chart through the outbox, and a chart worker that hangs, eats memory or talks nonsense."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from bot.charts.spec import ChartSpec, Series
from bot.delivery import Delivery
from bot.digests import DigestScheduler
from bot.dispatcher import make_bot
from bot.trends import Period
from storage import Store, TopicSpec
from storage.models import NewMessage, Tally
from tests.bot_helpers import ALICE, OPERATOR, Conversation, conversation, store_post
from tests.fakes.bot_api import FakeBotAPI, SentMessage, image_size
from tests.test_chart_worker import misbehaving

NOW = datetime.now(UTC)
CHART_WAIT = 30.0
"""A chart may start its worker first (matplotlib's import): slower on a loaded machine."""


def assert_phone_sized_png(message: SentMessage) -> None:
    assert message.method == "sendPhoto" and message.photo is not None
    # Uploaded as a file part of a multipart/form-data request, not as a URL or file_id.
    assert message.params["photo"].startswith("attach://")
    assert 10_000 < len(message.photo) < 1_000_000
    with Image.open(BytesIO(message.photo)) as image:
        assert image.format == "PNG"
        image.verify()  # decodes the whole file: a truncated or damaged PNG fails
    width, height = image_size(message.photo) or (0, 0)
    assert width == 1080 and 600 <= height <= 1400


async def topics_with_posts(
    c: Conversation, names: list[str], *, per_topic: int = 3, now: datetime = NOW
) -> None:
    """Posts of each topic, one a day back from `now` (five minutes before it)."""
    await c.store.channels.add("news_ch", "web")
    post = 0
    for index, name in enumerate(names):
        await c.store.topics.put(TopicSpec(name, (f"слово{index}",)))
        for day in range(per_topic + index % 3):
            post += 1
            await store_post(
                c.store,
                "news_ch",
                post,
                f"пост слово{index}",
                topic=name,
                word=f"слово{index}",
                date=now - timedelta(days=day, minutes=5),
            )


async def test_trend_answers_with_a_png_photo_and_totals(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await topics_with_posts(c, ["visit", "invitation"])
        await c.ask("/subscribe")
        (photo,) = await c.say("/trend 7d", timeout=CHART_WAIT)
        assert_phone_sized_png(photo)
        assert photo.visible_text.startswith("📈 Matching posts per day, last 7 days")
        assert "invitation: 4 · visit: 3" in photo.visible_text  # busiest first
        assert "Total: 7 matching posts" in photo.visible_text
        await c.ask("/language ru")
        (russian,) = await c.say("/trend invitation 90d", timeout=CHART_WAIT)
        assert_phone_sized_png(russian)
        assert "последние 90 дней" in russian.visible_text
        assert "Всего: 4 подходящих поста" in russian.visible_text


async def test_trend_without_data_or_topics_answers_in_words(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        assert "nothing to draw" in await c.ask("/trend")
        await c.store.topics.put(TopicSpec("quiet", ("тишина",)))
        assert "No post matched <b>quiet</b> in the last 30 days" in await c.ask("/trend quiet")
        assert "no topic “loud”" in await c.ask("/trend quiet loud")
        assert "period once" in await c.ask("/trend 7d quiet 7d")
        assert c.api.calls_of("sendPhoto") == []


async def test_too_many_topics_are_limited_with_a_note(tmp_path: Path) -> None:
    names = [f"t{i}" for i in range(11)]
    async with conversation(tmp_path) as c:
        await topics_with_posts(c, names, per_topic=1)
        await c.ask("/subscribe")
        (photo,) = await c.say("/trend", timeout=CHART_WAIT)
        assert_phone_sized_png(photo)
        assert "3 more topics are not shown (the quietest)" in photo.visible_text
        assert len(photo.visible_text) <= 1024


async def test_a_failed_chart_still_sends_its_figures(tmp_path: Path) -> None:
    async with conversation(tmp_path, charts=misbehaving("crash")) as c:
        await topics_with_posts(c, ["visit"])
        (answer,) = await c.say("/trend visit", timeout=CHART_WAIT)
        assert answer.method == "sendMessage"
        assert "visit: 3" in answer.visible_text and "could not be drawn" in answer.visible_text


async def test_operators_stats_chart(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await topics_with_posts(c, ["visit"])
        (photo,) = await c.say("/stats chart", chat_id=OPERATOR, timeout=CHART_WAIT)
        assert_phone_sized_png(photo)
        assert "Posts published: 3 · Matches: 3 · Alerts sent: 0" in photo.visible_text
        (stats,) = await c.say("/stats", chat_id=OPERATOR)
        before = len(c.api.messages_to(OPERATOR))
        await c.press(stats, stats.button("30"), user_id=OPERATOR)
        pressed = (
            await c.api.wait_for_messages(before + 1, chat_id=OPERATOR, timeout=CHART_WAIT)
        )[-1]
        assert_phone_sized_png(pressed)
        refusal = await c.ask("/stats chart", chat_id=ALICE)
        assert "only the bot's operators" in refusal


async def test_weekly_digest_sends_its_chart_above_the_list(tmp_path: Path) -> None:
    # Today's post must fall on the digest's day (in its zone, Moscow), which the suite's
    # start time does not ensure: just after midnight there, five minutes before the start
    # is the day before, the chart's last day.
    now = datetime.now(UTC)
    midnight = datetime.now(ZoneInfo("Europe/Moscow")).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    now = max(now, midnight.astimezone(UTC) + timedelta(minutes=5, seconds=1))
    async with conversation(tmp_path) as c:
        await topics_with_posts(c, ["visit", "invitation"], now=now)
        await c.ask("/subscribe")
        await c.ask("/digest 09:00 weekly")
        await c.ask("/mode digest")
        await c.store.subscribers.set_last_digest(ALICE, NOW - timedelta(days=7))
        digests = DigestScheduler(c.store, c.delivery, settle=0)
        queued = await digests.send_digest(ALICE)
        rows = [row for row in await c.store.outbox.for_chat(ALICE) if row.kind == "digest"]
        assert queued == len(rows) == 2 and rows[0].dedup_key.endswith(":chart")
        before = len(c.api.messages_to(ALICE))
        sending = asyncio.create_task(c.delivery.run())
        try:
            sent = (await c.api.wait_for_messages(before + 2, chat_id=ALICE, timeout=30))[before:]
        finally:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        assert_phone_sized_png(sent[0])
        # The seven days before the digest's day: today's post is not in the chart.
        assert "invitation: 3 · visit: 2" in sent[0].visible_text
        assert sent[1].method == "sendMessage" and "Weekly digest" in sent[1].visible_text
        # Sent once: the rows are marked sent, so a restart would not repeat them.
        assert {(await c.store.outbox.get(row.id)).status for row in rows} == {"sent"}  # type: ignore[union-attr]


async def test_a_digest_chart_that_cannot_be_drawn_goes_as_its_caption(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "d.db")
    renderer = misbehaving("garbage")
    try:
        async with FakeBotAPI(token="42:T") as api:
            bot = make_bot("42:T", api.base_url)
            delivery = Delivery(bot, store, admins=(), charts=renderer, per_chat_interval=0)
            spec = ChartSpec("t", ("a", "b"), (Series("s", (1, 2)),))
            await store.outbox.enqueue(
                [NewMessage(ALICE, "digest", "k", "📈 <b>s: 3</b>", chart=spec.to_json())]
            )
            task = asyncio.create_task(delivery.run())
            (message,) = await api.wait_for_messages(1, chat_id=ALICE)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await bot.session.close()
        assert message.method == "sendMessage" and message.visible_text == "📈 s: 3"
    finally:
        await renderer.close()
        await store.close()


def test_days_count_in_the_chat_zone_and_quiet_days_are_zero() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    period = Period.ending(date(2026, 3, 7), 7, moscow)
    tallies = [
        Tally(datetime(2026, 3, 1, 20, 59, tzinfo=UTC), 2, key=1),  # 23:59 Moscow, March 1
        Tally(datetime(2026, 3, 1, 21, 0, tzinfo=UTC), 1, key=1),  # 00:00 Moscow, March 2
        Tally(datetime(2026, 3, 7, 20, 59, tzinfo=UTC), 5, key=1),  # 23:59, the last day
        Tally(datetime(2026, 3, 7, 21, 0, tzinfo=UTC), 9, key=1),  # March 8: outside
        Tally(datetime(2026, 3, 4, 12, 0, tzinfo=UTC), 4, key=2),  # another topic
    ]
    assert period.per_day(tallies, key=1) == (2, 1, 0, 0, 0, 0, 5)
    assert period.since == datetime(2026, 3, 1, tzinfo=moscow)
