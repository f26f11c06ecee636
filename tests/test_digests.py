"""Digests on both database backends, with a clock the tests move instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot

from bot.delivery import Delivery
from bot.digests import SETTLE, DigestScheduler, last_scheduled, missed, trigger_for
from storage import Location, Store, TopicSpec
from storage.models import NewMatch, PostRecord, Subscriber
from storage.outbox import OutboxRecord

CHAT = 1001
MOSCOW = ZoneInfo("Europe/Moscow")


@dataclass
class FakeClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
async def store(database: Location) -> AsyncIterator[Store]:
    store = await Store.open(database)
    await store.channels.add("news_ch", "web")
    await store.posts.save("news_ch", [], history=True)  # first sight: later posts are live
    await store.topics.put(TopicSpec("Rates", ("ставка",)))
    await store.topics.put(TopicSpec("Banks", ("банк",)))
    yield store
    await store.close()


async def subscriber(
    store: Store, *, chat_id: int = CHAT, period: str = "daily", mode: str = "digest"
) -> Subscriber:
    await store.subscribers.ensure(
        chat_id, chat_type="private", title=None, digest_time="09:00", timezone="Europe/Moscow"
    )
    await store.subscribers.update(chat_id, mode=mode, digest_period=period)
    topics = {topic.name: topic.id for topic in await store.topics.live()}
    await store.subscribers.subscribe(chat_id, list(topics.values()))
    found = await store.subscribers.get(chat_id)
    assert found is not None
    return found


async def save(store: Store, post_id: int, text: str, *topics: str, history: bool = False) -> None:
    matches = tuple(NewMatch(topic, ("x",), ()) for topic in topics)
    record = PostRecord(post_id, datetime.now(UTC), text, "", matches)
    await store.posts.save("news_ch", [record], history=history)


async def digests_of(store: Store, chat_id: int = CHAT) -> list[OutboxRecord]:
    return [row for row in await store.outbox.for_chat(chat_id) if row.kind == "digest"]


def scheduler(store: Store, clock: FakeClock) -> DigestScheduler:
    delivery = Delivery(Bot("42:TEST"), store, admins=(), clock=clock)
    return DigestScheduler(store, delivery, clock=clock)


async def test_digest_fires_at_its_time_in_the_chat_zone(store: Store) -> None:
    real_now = datetime.now(UTC)
    sub = await subscriber(store)
    await store.subscribers.set_last_digest(CHAT, last_scheduled(sub, real_now))
    await save(store, 1, "ставка выросла", "Rates")
    due = trigger_for(sub).get_next_fire_time(None, real_now + timedelta(minutes=5))
    assert due.tzinfo == MOSCOW and (due.hour, due.minute) == (9, 0)

    clock = FakeClock(due - timedelta(seconds=1))
    digests = scheduler(store, clock)
    assert await digests.catch_up() == 0
    assert await digests_of(store) == []

    clock.moment = due
    assert await digests.catch_up() == 1
    (row,) = await digests_of(store)
    assert "ставка выросла" in row.text and "https://t.me/news_ch/1" in row.text
    # Having had it, the chat is not owed another until the next day's time.
    clock.moment = due + timedelta(hours=23)
    assert await digests.catch_up() == 0
    assert len(await digests_of(store)) == 1


async def test_job_is_scheduled_in_the_chat_zone_and_rescheduled(store: Store) -> None:
    sub = await subscriber(store, period="weekly")
    await subscriber(store, chat_id=2002, mode="instant")
    clock = FakeClock(datetime.now(UTC))
    digests = scheduler(store, clock)
    await store.subscribers.set_last_digest(CHAT, clock.now())
    await digests.start()
    try:
        job = digests.job(CHAT)
        assert job is not None and job.id == f"digest:{CHAT}"
        when = job.next_run_time
        assert when.tzinfo is not None and when.utcoffset() == timedelta(hours=3)
        assert (when.weekday(), when.hour, when.minute) == (0, 9, 0)  # Mondays, 09:00 Moscow
        assert digests.job(2002) is None  # instant alerts only: no digest job

        await store.subscribers.update(CHAT, digest_time="18:30", digest_period="daily")
        await digests.reschedule(CHAT)
        job = digests.job(CHAT)
        assert job is not None
        assert (job.next_run_time.hour, job.next_run_time.minute) == (18, 30)
        assert job.next_run_time - datetime.now(UTC) < timedelta(days=1)

        await store.subscribers.update(CHAT, mode="instant")
        await digests.reschedule(CHAT)
        assert digests.job(CHAT) is None

        # Turning digests on: the first covers matches from now, not since subscribing.
        await store.subscribers.set_last_digest(CHAT, clock.now() - timedelta(days=30))
        await store.subscribers.update(CHAT, mode="both")
        await digests.reschedule(CHAT)
        assert digests.job(CHAT) is not None
        after = await store.subscribers.get(CHAT)
        assert after is not None and after.last_digest_at is not None
        assert after.last_digest_at > clock.now() - timedelta(minutes=5)
        assert sub.chat_id == CHAT
    finally:
        await digests.shutdown()


async def test_a_scheduler_started_again_reads_the_schedule_afresh(store: Store) -> None:
    # A process elected to the bot office a second time: meanwhile another process held it
    # and the chat turned its digest off.
    await subscriber(store)
    clock = FakeClock(datetime.now(UTC))
    await store.subscribers.set_last_digest(CHAT, clock.now())
    digests = scheduler(store, clock)
    await digests.start()
    assert digests.job(CHAT) is not None
    await digests.shutdown()
    await store.subscribers.update(CHAT, mode="instant")
    await subscriber(store, chat_id=2002)
    await store.subscribers.set_last_digest(2002, clock.now())
    await digests.start()
    try:
        assert digests.job(CHAT) is None
        assert digests.job(2002) is not None
    finally:
        await digests.shutdown()


async def test_digest_groups_topics_splits_long_ones_and_never_repeats(store: Store) -> None:
    await subscriber(store)
    await store.subscribers.set_last_digest(CHAT, datetime.now(UTC) - timedelta(hours=1))
    long_text = "ставка и банк " * 60
    for post_id in range(1, 41):
        await save(store, post_id, f"пост {post_id} " + long_text, "Rates", "Banks")
    await save(store, 99, "старый банк", "Banks", history=True)
    # Digests close their window SETTLE seconds before they are made: a clock that much
    # ahead makes a window that ends about now.
    ahead = timedelta(seconds=SETTLE)
    clock = FakeClock(datetime.now(UTC) + ahead)
    digests = scheduler(store, clock)

    parts = await digests.send_digest(CHAT)
    rows = await digests_of(store)
    assert parts == len(rows) > 1
    assert len({row.dedup_key for row in rows}) == len(rows)
    everything = "\n".join(row.text for row in rows)
    for post_id in range(1, 41):
        assert everything.count(f"https://t.me/news_ch/{post_id}<") == 1
    assert "news_ch/99" not in everything  # history posts are not news
    assert everything.index("пост 40") < everything.index("пост 1 ")  # newest first

    # The window is closed: making the digest again finds nothing new.
    assert await digests.send_digest(CHAT) == 0
    # Storage keeps whole seconds: a match stored a second later is in the next window.
    await asyncio.sleep(1.1)
    await save(store, 41, "новая ставка", "Rates")
    clock.moment = datetime.now(UTC) + ahead
    assert await digests.send_digest(CHAT) == 1
    newest = (await digests_of(store))[-1]
    assert "news_ch/41" in newest.text and "news_ch/40" not in newest.text


async def test_nothing_matched_sends_nothing_but_closes_the_window(store: Store) -> None:
    await subscriber(store)
    clock = FakeClock(datetime.now(UTC) + timedelta(days=1))
    digests = scheduler(store, clock)
    assert await digests.send_digest(CHAT) == 0
    assert await digests_of(store) == []
    after = await store.subscribers.get(CHAT)
    assert after is not None and after.last_digest_at is not None
    assert after.last_digest_at > clock.now() - timedelta(minutes=5)


async def test_missed_digests_are_sent_once_at_start(store: Store) -> None:
    sub = await subscriber(store)
    real_now = datetime.now(UTC)
    three_days_ago = last_scheduled(sub, real_now) - timedelta(days=3)
    await store.subscribers.set_last_digest(CHAT, three_days_ago)
    await save(store, 1, "ставка", "Rates")
    await save(store, 2, "банк", "Banks")
    clock = FakeClock(real_now + timedelta(minutes=5))
    digests = scheduler(store, clock)
    await digests.start()
    try:
        (row,) = await digests_of(store)  # one digest for three missed days, not three
        assert "news_ch/1" in row.text and "news_ch/2" in row.text
        assert await digests.catch_up() == 0
        # A restart right after (a new scheduler over the same database) owes nothing.
        again = scheduler(store, clock)
        assert await again.catch_up() == 0
        assert len(await digests_of(store)) == 1
    finally:
        await digests.shutdown()


def test_missed_allows_for_the_settle_margin() -> None:
    sub = Subscriber(
        chat_id=1,
        chat_type="private",
        title=None,
        active=True,
        mode="digest",
        quiet=False,
        digest_time="09:00",
        digest_period="daily",
        timezone="Europe/Moscow",
        last_digest_at=datetime(2024, 5, 1, 5, 59, tzinfo=UTC),  # 08:59 Moscow, made at 09:00
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert not missed(sub, datetime(2024, 5, 1, 10, 0, tzinfo=UTC), settle=60)
    assert missed(sub, datetime(2024, 5, 2, 6, 0, tzinfo=UTC), settle=60)
