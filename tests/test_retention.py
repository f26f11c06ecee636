"""Retention on both backends: exactly what is due goes, nothing owed goes, the SQLite file
shrinks, /stats tells, and the daily pass keeps its schedule across restarts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from chanwatch.retention import run_retention
from monitor.matching import Lemmatizer
from storage import Location, RetentionPolicy, Store, TopicSpec
from storage.database import now_utc, to_db
from storage.models import NewMatch, NewMessage, PostRecord
from storage.sqlite import SQLiteDatabase
from tests.bot_helpers import OPERATOR, conversation

NOW = now_utc()
LEMMAS = Lemmatizer()
VISIT = NewMatch("visit", ("визит",), ((0, 5),))
INSTANT, DIGEST = 7, 8


def post(post_id: int, days_old: int, text: str, *matches: NewMatch) -> PostRecord:
    return PostRecord(post_id, NOW - timedelta(days=days_old), text, LEMMAS(text), tuple(matches))


@pytest.fixture
async def store(database: Location) -> AsyncIterator[Store]:
    opened = await Store.open(database, lemmatizer=Lemmatizer())
    await opened.topics.sync_config([TopicSpec("visit", ("визит",))])
    await opened.channels.sync_config([("pul_1", "web")])
    [topic] = await opened.topics.live()
    for chat, mode in ((INSTANT, "instant"), (DIGEST, "digest")):
        await opened.subscribers.ensure(
            chat, chat_type="private", title=None, digest_time="09:00", timezone="UTC"
        )
        await opened.subscribers.update(chat, mode=mode)
        await opened.subscribers.subscribe(chat, [topic.id])
    await opened.subscribers.set_last_digest(DIGEST, NOW - timedelta(days=1))
    yield opened
    await opened.close()


async def stored_ids(store: Store) -> set[int]:
    return {row["post_id"] for row in await store.db.fetchall("SELECT post_id FROM posts")}


async def indexed(store: Store, word: str) -> int:
    """Entries of the index itself (on SQLite not checked against posts while it names no
    deleted post): deleted posts must leave none."""
    return await store.search_index.count([[word]])


def file_size(path: Path) -> int:
    return os.stat(path).st_size


async def test_exactly_what_is_due_goes_and_nothing_owed(store: Store) -> None:
    await store.posts.save("pul_1", [post(1, 400, "первый пост")], history=True)  # first sight
    await store.posts.save(
        "pul_1",
        [
            post(2, 40, "старая новость о погоде"),  # unmatched, due
            post(3, 10, "свежая новость о погоде"),  # unmatched, kept
            post(6, 30, "визит месяц назад", VISIT),  # matched, young: kept
        ],
        history=False,
    )
    await store.posts.save("pul_1", [post(4, 90, "визит давно, из истории", VISIT)], history=True)
    await store.posts.save("pul_1", [post(5, 90, "визит давно, живой", VISIT)], history=False)
    # Post 5's alerts are queued (its fanout done); post 6 keeps its fanout row: alert owed.
    [owed5, owed6] = sorted(await store.posts.pending_fanout(), key=lambda p: p.post_id)
    assert (owed5.post_id, owed6.post_id) == (5, 6)
    await store.posts.complete_fanout(owed5.id, [])
    await store.posts.save("pul_1", [post(7, 120, "визит с долгом алерта", VISIT)], history=False)
    await store.outbox.enqueue(
        [NewMessage(INSTANT, "alert", f"k{n}", f"m{n}") for n in range(1, 5)]
    )
    old, young = to_db(NOW - timedelta(days=40)), to_db(NOW - timedelta(days=5))
    for sql, params in (
        ("UPDATE outbox SET status = 'sent', sent_at = ? WHERE dedup_key = 'k1'", (old,)),
        ("UPDATE outbox SET status = 'sent', sent_at = ? WHERE dedup_key = 'k2'", (young,)),
        ("UPDATE outbox SET status = 'failed', created_at = ? WHERE dedup_key = 'k3'", (old,)),
        ("UPDATE outbox SET created_at = ? WHERE dedup_key = 'k4'", (old,)),  # still owed
    ):
        await store.db.execute(sql, params)

    policy = RetentionPolicy(keep_days=30, keep_matched_days=60)
    first = await store.retention.run(policy, now=NOW, batch=2, pause=0)
    # 1, 2: unmatched and old. 4: matched, old, history (no digest owes it). Kept: 3 and 6
    # (young), 5 (its match is in no digest yet), 7 (its alert is not queued yet).
    assert await stored_ids(store) == {3, 5, 6, 7}
    assert (first.posts, first.matched_posts, first.messages) == (2, 1, 2)
    assert {r.dedup_key for r in await store.outbox.for_chat(INSTANT)} == {"k2", "k4"}
    assert await indexed(store, "погода") == 1 and await indexed(store, "первый") == 0
    _, visits = await store.posts.search([["визит"]], limit=10)
    assert visits == 3 and await indexed(store, "визит") == 3

    # The digest goes out and the alerts are queued: nothing owes them any longer.
    await store.subscribers.set_last_digest(DIGEST, now_utc() + timedelta(seconds=1))
    [owed7] = [p for p in await store.posts.pending_fanout() if p.post_id == 7]
    await store.posts.complete_fanout(owed7.id, [])
    second = await store.retention.run(policy, now=NOW, pause=0)
    assert await stored_ids(store) == {3, 6}
    assert (second.posts, second.matched_posts, second.messages) == (0, 2, 0)
    assert await indexed(store, "визит") == 1

    # 0 keeps forever.
    await store.retention.run(RetentionPolicy(), now=NOW + timedelta(days=999), pause=0)
    assert await stored_ids(store) == {3, 6}
    totals = await store.retention.totals()
    assert (totals.runs, totals.posts, totals.matched_posts) == (3, 2, 3)


async def test_the_file_shrinks_and_stats_tells_what_was_removed(tmp_path: Path) -> None:
    async with conversation(tmp_path) as chat:
        store = chat.store
        path = tmp_path / "bot.db"
        assert isinstance(store.db, SQLiteDatabase)
        await store.channels.sync_config([("pul_1", "web")])
        text = "Длинная новость о погоде и дорогах. " * 60
        for start in range(1, 3001, 500):
            await store.posts.save(
                "pul_1",
                [post(n, 100, f"{n} {text}") for n in range(start, start + 500)],
                history=True,
            )
        await store.posts.save("pul_1", [post(3001, 1, "свежий пост")], history=True)
        await store.db.checkpoint()
        before = file_size(path)
        report = await store.retention.run(RetentionPolicy(keep_days=30), pause=0)
        after = file_size(path)
        assert report.posts == 3000
        assert after < before / 4, (before, after)
        assert report.freed_bytes >= (before - after) * 0.9
        # This store has no lemmatizer to take the deleted posts out of the index exactly:
        # what the index still names is not counted.
        found, total = await store.posts.search([["погода"]], limit=5)
        assert (found, total) == ([], 0)

        stats = await chat.ask("/stats", chat_id=OPERATOR)
    assert "<b>Retention</b>" in stats
    assert "Posts kept forever" in stats  # the conversation's settings: the defaults
    assert "removed 3000 posts, 0 with matches, 0 sent messages" in stats, stats


async def test_the_daily_pass_follows_the_last_one_across_restarts(store: Store) -> None:
    policy = RetentionPolicy(keep_days=30)
    await store.posts.save("pul_1", [post(1, 40, "старая новость")], history=True)

    async def start(first_delay: float) -> asyncio.Task[None]:
        return asyncio.create_task(
            run_retention(store, policy, interval=timedelta(hours=1), first_delay=timedelta(0))
        )

    job = await start(0)
    async with asyncio.timeout(10):
        while (await store.retention.totals()).runs < 1:  # noqa: ASYNC110 - in the database
            await asyncio.sleep(0.02)
    job.cancel()
    assert await stored_ids(store) == set()

    # Restarted: the pass of a moment ago counts, the next is an hour after it.
    job = await start(0)
    await asyncio.sleep(0.3)
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    assert (await store.retention.totals()).runs == 1
