"""Deliveries that arrive while another is being written (sources read several channels at
once) are stored together, in one transaction; each caller still learns its own results,
and one delivery that cannot be stored does not take the others down with it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from monitor.ingest import Ingest, SilentListener
from monitor.sources.base import IncomingPost
from storage import Location, TopicSpec
from tests.test_ingest_catch_up import BASE, START, UNRELATED, prepared, row_id, story_of


class Counting(SilentListener):
    def __init__(self) -> None:
        self.stored: list[tuple[str, int, tuple[str, ...]]] = []

    def posts_stored(self, source: str, new_posts: int, new_matches: Sequence[str]) -> None:
        self.stored.append((source, new_posts, tuple(new_matches)))


def posts(channel: str, first: int, texts: Sequence[str]) -> list[IncomingPost]:
    return [
        IncomingPost(channel, first + n, START + timedelta(minutes=first + n), text)
        for n, text in enumerate(texts)
    ]


async def test_deliveries_at_once_are_all_stored_each_reported_once(database: Location) -> None:
    store = await prepared(database)
    try:
        await store.topics.put(TopicSpec("visit", ("визит",)))
        listener = Counting()
        ingest = await Ingest.open(store, listener, story_window_hours=24, others=False)
        await asyncio.gather(
            ingest.sink_for("web").handle_posts(posts("chan_a", 10, [BASE]), history=False),
            ingest.sink_for("web").handle_posts(
                posts("chan_b", 20, [BASE + " Подписывайтесь!", UNRELATED[0]]), history=False
            ),
            ingest.sink_for("web").handle_posts(posts("chan_c", 30, UNRELATED), history=False),
            ingest.sink_for("web").handle_posts(
                posts("chan_d", 40, [UNRELATED[1]]), history=False
            ),
        )
        assert sorted(listener.stored) == [
            ("web", 1, ()),
            ("web", 1, ("visit",)),
            ("web", 2, ()),
            ("web", 2, ("visit",)),
        ]
        assert await story_of(store, "chan_b", 20) == await row_id(store, "chan_a", 10)
        assert [await store.channels.last_post_id(h) for h in ("chan_a", "chan_b")] == [10, 21]
        assert [await store.channels.last_post_id(h) for h in ("chan_c", "chan_d")] == [31, 40]
    finally:
        await store.close()


async def test_a_delivery_that_cannot_be_stored_fails_alone(database: Location) -> None:
    store = await prepared(database)
    try:
        ingest = await Ingest.open(store, SilentListener())
        naive = datetime(2026, 1, 1, 12, 0)  # storage refuses a moment without a time zone
        outcomes = await asyncio.gather(
            ingest.handle_posts(posts("chan_a", 10, [BASE]), history=False),
            ingest.handle_posts(posts("chan_b", 20, [UNRELATED[0]]), history=False),
            ingest.handle_posts([IncomingPost("chan_c", 30, naive, "без даты")], history=False),
            ingest.handle_posts(posts("chan_d", 40, [UNRELATED[1]]), history=False),
            return_exceptions=True,
        )
        assert outcomes[:2] == [None, None] and outcomes[3] is None
        assert isinstance(outcomes[2], ValueError)
        assert [await store.channels.last_post_id(h) for h in ("chan_a", "chan_b")] == [10, 20]
        assert await store.channels.last_post_id("chan_d") == 40
        assert await store.channels.last_post_id("chan_c") == 0
        with pytest.raises(AssertionError):
            await row_id(store, "chan_c", 30)
    finally:
        await store.close()


async def test_with_stories_a_delivery_that_cannot_be_filed_fails_alone(
    database: Location,
) -> None:
    """The turn's retry of each delivery alone stores the others with the stories their
    first try decided: a copy in one of them still joins the story of a post in another."""
    store = await prepared(database)
    try:
        ingest = await Ingest.open(store, SilentListener(), story_window_hours=24, others=False)
        naive = datetime(2026, 1, 1, 12, 0)  # the detector cannot place it among aware dates
        outcomes = await asyncio.gather(
            ingest.handle_posts(posts("chan_a", 10, [BASE]), history=False),
            ingest.handle_posts(posts("chan_b", 20, [BASE + " Подписывайтесь!"]), history=False),
            ingest.handle_posts([IncomingPost("chan_c", 30, naive, "без даты")], history=False),
            ingest.handle_posts(posts("chan_d", 40, [UNRELATED[1]]), history=False),
            return_exceptions=True,
        )
        assert outcomes[:2] == [None, None] and outcomes[3] is None
        assert isinstance(outcomes[2], TypeError)
        assert await story_of(store, "chan_b", 20) == await row_id(store, "chan_a", 10)
        assert await story_of(store, "chan_d", 40) is None
        assert await store.channels.last_post_id("chan_c") == 0
        # The detector goes on: a later copy joins the story too.
        await ingest.handle_posts(posts("chan_d", 41, [BASE + " Подробности."]), history=False)
        assert await story_of(store, "chan_d", 41) == await row_id(store, "chan_a", 10)
    finally:
        await store.close()
