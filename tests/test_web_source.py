"""The web preview poller for real, over HTTP, against the local fake t.me server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
import pytest

from monitor.sources.base import IncomingPost
from monitor.sources.web import WebSource
from tests.fakes.tme_server import TmeServer

# Waits below only bound a wait for an event; they are never what a test asserts.
EVENT_TIMEOUT = 10.0


class RecordingSink:
    """An in-memory PostSink that records every call and keeps the newest text per post."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[IncomingPost], bool]] = []
        self.errors: list[tuple[str, str]] = []
        self.oks: list[str] = []
        self.stored: dict[tuple[str, int], IncomingPost] = {}
        self._changed = asyncio.Condition()

    async def handle_posts(self, posts: Sequence[IncomingPost], *, history: bool) -> None:
        self.calls.append((list(posts), history))
        for post in posts:
            self.stored[(post.channel, post.post_id)] = post
        await self._notify()

    async def source_error(self, channel: str, message: str) -> None:
        self.errors.append((channel, message))
        await self._notify()

    async def source_ok(self, channel: str) -> None:
        self.oks.append(channel)
        await self._notify()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), EVENT_TIMEOUT)

    def errors_for(self, channel: str) -> list[str]:
        return [message for name, message in self.errors if name == channel]

    def posts_for(self, channel: str) -> list[IncomingPost]:
        return [post for posts, _ in self.calls for post in posts if post.channel == channel]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class StoredCursor:
    """Where each channel stands, read from what the sink stored (as the real cursor does)."""

    def __init__(self, sink: RecordingSink) -> None:
        self._sink = sink

    async def last_post_id(self, channel: str) -> int | None:
        ids = [post_id for name, post_id in self._sink.stored if name == channel]
        return max(ids, default=None)

    async def known_post_ids(self, channel: str, post_ids: Sequence[int]) -> set[int]:
        return {post_id for post_id in post_ids if (channel, post_id) in self._sink.stored}


class MutableWatchList:
    def __init__(self, *handles: str) -> None:
        self.handles = list(handles)

    async def channels(self, source: str) -> list[str]:
        assert source == "web"
        return list(self.handles)


@pytest.fixture
async def tme() -> AsyncIterator[TmeServer]:
    async with TmeServer() as server:
        yield server


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def make_source(
    server: TmeServer, sink: RecordingSink, watch: MutableWatchList, **overrides: Any
) -> WebSource:
    options: dict[str, Any] = {
        "poll_seconds": 0.05,
        "timeout_seconds": 2.0,
        "backoff_initial_seconds": 0.01,
        "backoff_max_seconds": 0.05,
    }
    options.update(overrides)
    return WebSource(
        base_url=server.base_url,
        sink=sink,
        cursor=StoredCursor(sink),
        watchlist=watch,
        **options,
    )


@contextlib.asynccontextmanager
async def running(source: WebSource) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_first_sight_hands_the_first_page_as_history(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_channel("pul_1", "Пул N1")
    tme.add_posts("pul_1", 25)
    async with make_source(tme, sink, MutableWatchList()) as source:
        await source.poll_channel("pul_1")

    ((posts, history),) = sink.calls
    assert history is True
    assert [post.post_id for post in posts] == list(range(6, 26))
    assert posts[0].text == "post 6"
    assert posts[0].channel_title == "Пул N1"
    assert sink.oks == ["pul_1"]
    assert tme.requests_for("pul_1")[0].query == {}


async def test_new_post_is_live_and_seen_posts_are_handed_again(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("pul_1", 3)
    async with make_source(tme, sink, MutableWatchList()) as source:
        await source.poll_channel("pul_1")
        new_id = tme.add_post("pul_1", "Ким Чен Ын прибыл с визитом")
        await source.poll_channel("pul_1")

    posts, history = sink.calls[-1]
    assert history is False
    assert [post.post_id for post in posts] == [1, 2, 3, new_id]
    assert posts[-1].text == "Ким Чен Ын прибыл с визитом"


async def test_edited_post_is_handed_with_new_text_and_edit_mark(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("pul_1", 3)
    async with make_source(tme, sink, MutableWatchList()) as source:
        await source.poll_channel("pul_1")
        tme.edit_post("pul_1", 2, "post 2, corrected")
        await source.poll_channel("pul_1")

    posts, history = sink.calls[-1]
    assert history is False
    edited = {post.post_id: post for post in posts}[2]
    assert edited.text == "post 2, corrected"
    assert edited.is_edit
    assert not {post.post_id: post for post in posts}[1].is_edit


async def test_reply_album_and_html_text_through_http(tme: TmeServer, sink: RecordingSink) -> None:
    quoted = tme.add_post("pul_1", "the quoted post")
    album = tme.add_post("pul_1", "album caption", album_size=4)
    reply = tme.add_post(
        "pul_1", reply_to=quoted, text_html='see <a href="https://x.org">x.org</a> &amp; more'
    )
    async with make_source(tme, sink, MutableWatchList()) as source:
        await source.poll_channel("pul_1")

    posts = {post.post_id: post for post in sink.posts_for("pul_1")}
    assert sorted(posts) == [quoted, album, reply]
    assert posts[album].grouped_id == album
    assert posts[reply].text == "see x.org & more"


async def test_gap_pages_back_with_before_until_last_seen(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("pul_1", 5)
    async with make_source(tme, sink, MutableWatchList()) as source:
        await source.poll_channel("pul_1")
        tme.skip_ids("pul_1", 3)  # deleted before anyone saw them
        new_ids = tme.add_posts("pul_1", 45)
        await source.poll_channel("pul_1")

    posts, history = sink.calls[-1]
    assert history is False
    assert [post.post_id for post in posts] == [1, 2, 3, 4, 5, *new_ids]
    befores = [request.before for request in tme.requests_for("pul_1")]
    # first sight, then the newest page, then back past last seen (5) in two more pages
    assert befores == [None, None, new_ids[-20], new_ids[-40]]


async def test_gap_paging_is_capped_with_a_warning(
    tme: TmeServer, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    tme.add_posts("pul_1", 1)
    async with make_source(tme, sink, MutableWatchList(), max_pages_per_poll=2) as source:
        await source.poll_channel("pul_1")
        new_ids = tme.add_posts("pul_1", 60)
        with caplog.at_level(logging.WARNING, logger="monitor.sources.web"):
            await source.poll_channel("pul_1")

    posts, _ = sink.calls[-1]
    assert [post.post_id for post in posts] == new_ids[-40:]
    assert len(tme.requests_for("pul_1")) == 3
    assert any("pul_1" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("break_channel", "expected"),
    [
        (lambda server: server.fail("pul_1", status=404), "channel not found"),
        (lambda server: server.remove_channel("pul_1"), "channel not found"),
        (lambda server: server.serve_garbage("pul_1"), "did not return a channel preview"),
        (lambda server: server.fail("pul_1", status=502), "HTTP 502"),
    ],
)
async def test_broken_channel_reports_a_clear_error(
    tme: TmeServer,
    sink: RecordingSink,
    break_channel: Callable[[TmeServer], None],
    expected: str,
) -> None:
    tme.add_posts("pul_1", 2)
    break_channel(tme)
    async with make_source(tme, sink, MutableWatchList()) as source:
        await source.poll_channel("pul_1")

    (message,) = sink.errors_for("pul_1")
    assert message.startswith("channel pul_1: ")
    assert expected in message
    assert sink.calls == []
    assert sink.oks == []


async def test_timeout_is_reported(tme: TmeServer, sink: RecordingSink) -> None:
    tme.add_posts("pul_1", 2)
    tme.stall("pul_1", 30)
    async with make_source(tme, sink, MutableWatchList(), timeout_seconds=0.2) as source:
        await source.poll_channel("pul_1")

    (message,) = sink.errors_for("pul_1")
    assert "did not answer within 0.2 s" in message


async def test_numeric_handle_is_refused_without_a_request(
    tme: TmeServer, sink: RecordingSink
) -> None:
    async with make_source(tme, sink, MutableWatchList()) as source:
        await source.poll_channel("1001234567")

    (message,) = sink.errors_for("1001234567")
    assert "public username" in message
    assert tme.requests == []


async def test_broken_channel_does_not_stop_the_others(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("broken_one", 2)
    tme.serve_garbage("broken_one", times=None)
    tme.add_posts("healthy_one", 2)
    source = make_source(tme, sink, MutableWatchList("broken_one", "healthy_one"))
    async with running(source):
        await sink.wait_until(lambda: sink.oks.count("healthy_one") >= 3)

    assert [post.post_id for post in sink.posts_for("healthy_one")][:2] == [1, 2]
    assert sink.errors_for("broken_one")
    assert all("broken_one" in message for message in sink.errors_for("broken_one"))
    assert sink.posts_for("broken_one") == []
    assert sink.errors_for("healthy_one") == []


async def test_retry_after_is_honoured_for_that_channel(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("limited", 1)
    tme.add_posts("other_one", 1)
    tme.fail("limited", status=429, times=None, retry_after=30)
    # Backoff alone would retry "limited" many times while "other_one" is polled 6 times.
    source = make_source(tme, sink, MutableWatchList("limited", "other_one"))
    async with running(source):
        await sink.wait_until(lambda: sink.oks.count("other_one") >= 6)

    assert len(tme.requests_for("limited")) == 1
    (message,) = sink.errors_for("limited")
    assert "HTTP 429" in message
    assert "Retry-After 30 s" in message


async def test_rate_limited_channel_recovers_after_retry_after(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("limited", 2)
    tme.fail("limited", status=429, times=1, retry_after=0.1)
    # A backoff this long would never retry within the test: Retry-After drives the retry.
    source = make_source(
        tme,
        sink,
        MutableWatchList("limited"),
        backoff_initial_seconds=600,
        backoff_max_seconds=600,
    )
    async with running(source):
        await sink.wait_until(lambda: "limited" in sink.oks)

    assert [post.post_id for post in sink.posts_for("limited")] == [1, 2]
    assert len(sink.errors_for("limited")) == 1


async def test_server_errors_back_off_exponentially_then_recover(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("flaky_one", 2)
    tme.fail("flaky_one", status=503, times=4)
    source = make_source(
        tme,
        sink,
        MutableWatchList("flaky_one"),
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.04,
    )
    async with running(source):
        await sink.wait_until(lambda: "flaky_one" in sink.oks)

    messages = sink.errors_for("flaky_one")
    assert all("HTTP 503" in message for message in messages)
    delays = [message.rsplit("next try in ", 1)[1] for message in messages]
    assert delays == ["0.01 s", "0.02 s", "0.04 s", "0.04 s"]
    assert [post.post_id for post in sink.posts_for("flaky_one")] == [1, 2]
    assert len(tme.requests_for("flaky_one")) == 5


async def test_watch_list_changes_are_picked_up_while_running(
    tme: TmeServer, sink: RecordingSink
) -> None:
    tme.add_posts("first_one", 1)
    tme.add_posts("added_later", 3)
    watch = MutableWatchList("first_one")
    source = make_source(tme, sink, watch)
    async with running(source):
        await sink.wait_until(lambda: "first_one" in sink.oks)
        watch.handles.append("added_later")
        await sink.wait_until(lambda: "added_later" in sink.oks)
        watch.handles.remove("first_one")
        # Once a poll of "added_later" started after the removal, "first_one" is gone.
        seen = sink.oks.count("added_later")
        await sink.wait_until(lambda: sink.oks.count("added_later") >= seen + 2)
        requests_after_removal = len(tme.requests_for("first_one"))
        await sink.wait_until(lambda: sink.oks.count("added_later") >= seen + 6)

    assert [post.post_id for post in sink.posts_for("added_later")][:3] == [1, 2, 3]
    assert len(tme.requests_for("first_one")) == requests_after_removal


async def test_cancelling_run_closes_the_session(tme: TmeServer, sink: RecordingSink) -> None:
    tme.add_posts("pul_1", 1)
    sessions: list[aiohttp.ClientSession] = []

    def session_factory() -> aiohttp.ClientSession:
        sessions.append(aiohttp.ClientSession())
        return sessions[-1]

    source = make_source(tme, sink, MutableWatchList("pul_1"), session_factory=session_factory)
    async with running(source) as task:
        await sink.wait_until(lambda: "pul_1" in sink.oks)

    assert task.cancelled()
    assert len(sessions) == 1
    assert sessions[0].closed


async def test_a_source_woken_as_it_is_stopped_stops(tme: TmeServer, sink: RecordingSink) -> None:
    # A wake-up and the stop in one turn of the event loop (an operator's command as the
    # process shuts down): the stop must win, or the process never exits.
    tme.add_posts("pul_1", 1)
    source = make_source(tme, sink, MutableWatchList("pul_1"), poll_seconds=30)
    task = asyncio.create_task(source.run())
    await sink.wait_until(lambda: "pul_1" in sink.oks)
    await asyncio.sleep(0.2)  # past the poll, waiting for the next
    source.wake()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()


async def test_fetch_history_pages_back_to_the_limit(tme: TmeServer, sink: RecordingSink) -> None:
    ids = tme.add_posts("pul_1", 50)
    async with make_source(tme, sink, MutableWatchList()) as source:
        posts = await source.fetch_history("pul_1", 30)

    assert [post.post_id for post in posts] == ids[-30:]
    assert sink.calls == []
