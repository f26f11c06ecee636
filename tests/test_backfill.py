"""`chanwatch backfill` through the Telethon account, against an in-memory Telegram."""

from __future__ import annotations

from datetime import datetime

import pytest
from telethon.tl import types

from monitor.errors import SourceError
from monitor.sources.backfill import backfill
from tests.fakes.telethon_client import FakeTelegramClient, RecordingSink, flood_wait

NEWS = "pul_news"


@pytest.fixture
def client() -> FakeTelegramClient:
    return FakeTelegramClient()


@pytest.fixture
def news(client: FakeTelegramClient) -> types.Channel:
    """Posts 1-20, a pin (21), an album (22-24), posts 25-30: 27 posts in all."""
    channel = client.add_channel(NEWS, 1_111_111, "Pul News")
    for i in range(1, 21):
        client.post(channel, f"post {i}")
    client.service(channel)
    client.album(channel, "album caption")
    for i in range(25, 31):
        client.post(channel, f"post {i}")
    return channel


def handed(sink: RecordingSink) -> list[int]:
    assert all(history for _, history in sink.calls), "backfill must never alert"
    return sink.ids(NEWS)


async def test_everything_oldest_first_in_chunks_albums_once(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    sink = RecordingSink()
    count = await backfill(
        client, NEWS, sink=sink, limit=None, since=None, progress=False, batch_size=4
    )
    assert count == 27
    assert handed(sink) == [*range(1, 21), 24, *range(25, 31)]
    assert len(sink.calls) > 1
    [album] = [p for p in sink.posts if p.grouped_id is not None]
    assert album.text == "album caption"


async def test_limit_takes_the_newest_posts(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    sink = RecordingSink()
    count = await backfill(client, NEWS, sink=sink, limit=8, since=None, progress=False)
    assert count == 8
    assert handed(sink) == [20, 24, 25, 26, 27, 28, 29, 30]


async def test_since_takes_posts_from_that_moment(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    since = news_date(client, news, 25)
    sink = RecordingSink()
    count = await backfill(client, NEWS, sink=sink, limit=None, since=since, progress=False)
    assert count == 6
    assert handed(sink) == list(range(25, 31))


async def test_since_and_limit_together(client: FakeTelegramClient, news: types.Channel) -> None:
    sink = RecordingSink()
    since = news_date(client, news, 10)
    assert await backfill(client, NEWS, sink=sink, limit=3, since=since, progress=False) == 3
    assert handed(sink) == [28, 29, 30]
    sink = RecordingSink()
    since = news_date(client, news, 28)
    assert await backfill(client, NEWS, sink=sink, limit=50, since=since, progress=False) == 3
    assert handed(sink) == [28, 29, 30]


async def test_naive_since_is_utc(client: FakeTelegramClient, news: types.Channel) -> None:
    sink = RecordingSink()
    since = news_date(client, news, 29).replace(tzinfo=None)
    assert await backfill(client, NEWS, sink=sink, limit=None, since=since, progress=False) == 2


async def test_flood_waits_are_waited_out_without_repeating_posts(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    client.fail("iter_messages", flood_wait(0), after=5)
    sink = RecordingSink()
    assert await backfill(client, NEWS, sink=sink, limit=None, since=None, progress=False) == 27
    client.fail("iter_messages", flood_wait(0), after=5)
    sink = RecordingSink()
    assert await backfill(client, NEWS, sink=sink, limit=12, since=None, progress=False) == 12
    assert handed(sink) == [16, 17, 18, 19, 20, 24, 25, 26, 27, 28, 29, 30]


async def test_progress_bar_goes_to_stderr(
    client: FakeTelegramClient, news: types.Channel, capsys: pytest.CaptureFixture[str]
) -> None:
    await backfill(client, NEWS, sink=RecordingSink(), limit=None, since=None, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "@pul_news" in captured.err and "27" in captured.err


async def test_nothing_to_do_for_a_zero_limit(client: FakeTelegramClient) -> None:
    sink = RecordingSink()
    assert await backfill(client, NEWS, sink=sink, limit=0, since=None, progress=False) == 0
    assert sink.calls == []


async def test_unknown_channel_is_a_source_error(client: FakeTelegramClient) -> None:
    with pytest.raises(SourceError, match="@nobody_here does not exist"):
        await backfill(
            client, "nobody_here", sink=RecordingSink(), limit=10, since=None, progress=False
        )


def news_date(client: FakeTelegramClient, channel: types.Channel, post_id: int) -> datetime:
    date: datetime = client.message(channel, post_id).date
    return date
