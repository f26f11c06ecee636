"""Posts older than chanwatch's first look at a channel are history, whatever a server returns.

Both sources run against their local fakes and feed the real ingest pipeline and a real
database, so "never alerted" is read where alerts are owed: the fan-out queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from pathlib import Path

import pytest

from monitor.ingest import Ingest, SilentListener
from monitor.sources.base import IncomingPost
from monitor.sources.telegram import TelegramSource
from monitor.sources.web import WebSource
from storage import Store, TopicSpec
from tests.fakes.telethon_client import FakeTelegramClient
from tests.fakes.tme_server import TmeServer

NEWS = "pul_news"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "chanwatch.db")
    await opened.topics.sync_config([TopicSpec("visit", ("визит",))])
    yield opened
    await opened.close()


async def owed(store: Store) -> list[int]:
    return [post.post_id for post in await store.posts.pending_fanout()]


class OnePass:
    """The real pipeline as the Telethon source's sink, telling when a pass has finished."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.done = asyncio.Event()

    async def handle_posts(self, posts: Sequence[IncomingPost], *, history: bool) -> None:
        await self.ingest.handle_posts(posts, history=history)

    async def source_error(self, channel: str, message: str) -> None:
        raise AssertionError(message)

    async def source_ok(self, channel: str) -> None:
        await self.ingest.source_ok(channel)
        self.done.set()  # the source reports a channel ok once it has read it through


async def read_once(client: FakeTelegramClient, ingest: Ingest) -> None:
    """One start of the Telethon source, stopped after its first pass."""
    sink = OnePass(ingest)
    source = TelegramSource(
        client, sink=sink, cursor=ingest, watchlist=ingest, join_pause_seconds=0.0
    )
    task = asyncio.create_task(source.run())
    try:
        await asyncio.wait_for(sink.done.wait(), 10)
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def test_telethon_catch_up_answered_with_the_whole_channel_alerts_only_new_posts(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.channels.sync_config([(NEWS, "telegram")])
    ingest = await Ingest.open(store, SilentListener())
    client = FakeTelegramClient()
    news = client.add_channel(NEWS, 1_111_111, "Pul News")
    for i in range(1, 81):
        client.post(news, f"визит номер {i}")
    await read_once(client, ingest)  # first sight: the newest 50 as history
    assert (await store.outbox.stats()).posts == 50

    # Down for a while; two new posts; the server now ignores min_id on catch-up.
    client.post(news, "новый визит")
    client.post(news, "ещё один визит")
    client.ignores_min_id = True
    with caplog.at_level(logging.WARNING, logger="monitor.sources.telegram"):
        await read_once(client, ingest)

    assert (await store.outbox.stats()).posts == 82  # the 30 never seen are kept...
    found, _ = await store.posts.search([["номер"]], limit=100)
    assert {post.post_id for post in found} == set(range(1, 81))
    assert await owed(store) == [81, 82]  # ...and only the new ones owe alerts
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Telegram channel @pul_news: asked for posts after 80, got 80 at or below it; "
        "kept as history, not alerted"
    ]


async def test_web_page_repeating_old_posts_alerts_only_the_new_post(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.channels.sync_config([("pul_1", "web")])
    ingest = await Ingest.open(store, SilentListener())
    async with TmeServer() as tme:
        tme.add_posts("pul_1", 60, "визит номер {n}")
        source = WebSource(
            base_url=tme.base_url, poll_seconds=60, sink=ingest, cursor=ingest, watchlist=ingest
        )
        async with source:
            await source.poll_channel("pul_1")  # first sight: one page, 41-60, as history
            assert await ingest.last_post_id("pul_1") == 60
            tme.add_post("pul_1", "новый визит")
            tme.repeat_old_posts("pul_1", range(1, 11))
            with caplog.at_level(logging.WARNING, logger="monitor.sources.web"):
                await source.poll_channel("pul_1")
                await source.poll_channel("pul_1")  # the same page again: nothing new

    assert await owed(store) == [61]
    assert (await store.outbox.stats()).posts == 31
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [  # once: the second poll finds those ten stored
        "web source: channel pul_1: the page returned 10 posts at or below post 60 that were "
        "never stored; kept as history, not alerted"
    ]
