"""The Telethon source, driven through run() against an in-memory Telegram.

Live updates are real Telethon Update objects turned into events by Telethon's own event
builders (see tests/fakes/telethon_client.py), so the handlers see what they would in life.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from telethon import errors
from telethon.tl import types

from monitor.errors import AccountUnusable, SourceError
from monitor.sources.telegram import TelegramSource
from monitor.sources.telegram_login import login, open_client, session_file
from monitor.sources.telegram_posts import to_post, to_posts
from tests.fakes.telethon_client import (
    BASE_DATE,
    SAFETY_NET_SECONDS,
    FakeTelegramClient,
    MutableWatchList,
    RecordingSink,
    flood_wait,
)

NEWS = "pul_news"
NEWS_ID = 1_111_111


def make_source(
    client: FakeTelegramClient,
    sink: RecordingSink,
    handles: list[str] | MutableWatchList,
    **options: Any,
) -> TelegramSource:
    watchlist = handles if isinstance(handles, MutableWatchList) else MutableWatchList(handles)
    settings: dict[str, Any] = {
        "reconcile_seconds": 3600.0,
        "join_pause_seconds": 0.0,
        "reconnect_base_seconds": 0.0,
    }
    settings.update(options)
    return TelegramSource(client, sink=sink, cursor=sink, watchlist=watchlist, **settings)


@asynccontextmanager
async def running(source: TelegramSource) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def client() -> FakeTelegramClient:
    return FakeTelegramClient()


@pytest.fixture
def news(client: FakeTelegramClient) -> types.Channel:
    return client.add_channel(NEWS, NEWS_ID, "Pul News")


async def test_live_post_reaches_the_sink(client: FakeTelegramClient, news: types.Channel) -> None:
    client.post(news, "old")
    sink = RecordingSink({NEWS: 1})
    async with running(make_source(client, sink, [NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        message = client.post(news, "Ким Чен Ын прибыл с визитом", views=10)
        await client.dispatch_new(message)
        await sink.wait_until(lambda: len(sink.posts) == 1)
    [(posts, history)] = sink.calls
    post = posts[0]
    assert history is False
    assert (post.channel, post.post_id, post.text) == (NEWS, 2, "Ким Чен Ын прибыл с визитом")
    assert post.channel_title == "Pul News"
    assert post.views == 10
    assert post.date == message.date and post.date.tzinfo is not None
    assert client.joined == [NEWS]  # live updates need membership


async def test_album_of_three_is_one_post(client: FakeTelegramClient, news: types.Channel) -> None:
    sink = RecordingSink({NEWS: 0})
    async with running(make_source(client, sink, [NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        items = client.album(news, "Три фото с места событий")
        await client.dispatch_album(items)
        await sink.wait_until(lambda: len(sink.posts) >= 1)
    [post] = sink.posts
    assert post.text == "Три фото с места событий"
    assert post.grouped_id == items[0].grouped_id
    assert post.post_id == items[-1].id  # the cursor then lies past the whole album


async def test_edit_is_handed_as_edit_once(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    client.post(news, "Визит отменён")
    sink = RecordingSink({NEWS: 1})
    async with running(make_source(client, sink, [NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        edited = client.edit(news, 1, "Визит состоится")
        await client.dispatch_edit(edited)
        await client.dispatch_edit(edited)  # Telegram repeats edits (reactions, views)
        await sink.wait_until(lambda: len(sink.posts) >= 1)
    [post] = sink.posts
    assert post.is_edit is True
    assert (post.post_id, post.text, post.edit_date) == (1, "Визит состоится", edited.edit_date)


async def test_edited_album_caption_maps_to_the_album_post(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    items = client.album(news, "Подпись")
    sink = RecordingSink({NEWS: items[-1].id})
    async with running(make_source(client, sink, [NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        await client.dispatch_edit(client.edit(news, items[0].id, "Новая подпись"))
        await sink.wait_until(lambda: len(sink.posts) >= 1)
    [post] = sink.posts
    assert (post.post_id, post.text, post.is_edit) == (items[-1].id, "Новая подпись", True)


async def test_catch_up_hands_exactly_the_missed_posts_despite_live_duplicates(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    messages = [client.post(news, f"post {i}") for i in range(1, 11)]
    sink = RecordingSink({NEWS: 4})
    live: list[asyncio.Task[None]] = []

    async def live_updates_during_catch_up() -> None:
        # The same posts also arrive live while the history is being read.
        if not live:
            live.extend(asyncio.create_task(client.dispatch_new(m)) for m in messages[4:])

    client.on_iter_messages = live_updates_during_catch_up
    async with running(make_source(client, sink, [NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        assert live, "the catch-up did not read the history"
        await asyncio.gather(*live)
    assert sink.ids(NEWS) == [5, 6, 7, 8, 9, 10]
    assert all(history is False for _, history in sink.calls)


async def test_reconciliation_fetches_a_post_whose_live_event_was_dropped(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    sink = RecordingSink({NEWS: 0})
    async with running(make_source(client, sink, [NEWS], reconcile_seconds=0.01)):
        await sink.wait_until(lambda: NEWS in sink.oks)
        client.post(news, "never announced live")
        await sink.wait_until(lambda: len(sink.posts) == 1)
    assert sink.posts[0].text == "never announced live"
    assert sink.calls[0][1] is False


async def test_a_live_post_after_a_dropped_one_keeps_the_order(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    sink = RecordingSink({NEWS: 0})
    async with running(make_source(client, sink, [NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        client.post(news, "dropped")
        client.service(news)  # a pin takes an id too
        await client.dispatch_new(client.post(news, "announced"))
        await sink.wait_until(lambda: len(sink.posts) == 2)
    assert [p.text for p in sink.posts] == ["dropped", "announced"]


async def test_first_sight_is_history_then_live_posts_alert(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    for i in range(1, 61):
        client.post(news, f"post {i}")
    sink = RecordingSink()
    async with running(make_source(client, sink, [NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        await client.dispatch_new(client.post(news, "fresh"))
        await sink.wait_until(lambda: len(sink.posts) == 51)
    first, second = sink.calls
    assert first[1] is True and [p.post_id for p in first[0]] == list(range(11, 61))
    assert second[1] is False and [p.text for p in second[0]] == ["fresh"]


async def test_live_update_before_the_first_read_leaves_first_sight_history(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    client.add_channel("other_chan", 4_444_444)
    for i in range(1, 4):
        client.post(news, f"post {i}")
    live: list[asyncio.Task[None]] = []

    async def announce(channel: types.Channel) -> None:
        if channel.id == NEWS_ID:  # runs while the source is still joining other_chan
            live.append(asyncio.create_task(client.dispatch_new(client.post(news, "live"))))

    client.on_join = announce
    sink = RecordingSink()
    async with running(make_source(client, sink, [NEWS, "other_chan"])):
        await sink.wait_until(lambda: NEWS in sink.oks and "other_chan" in sink.oks)
        await asyncio.gather(*live)
    assert "other_chan" in client.joined and live
    assert [(p.post_id, history) for batch, history in sink.calls for p in batch] == [
        (1, True),
        (2, True),
        (3, True),
        (4, True),
    ]


async def test_bad_channels_are_reported_by_name_and_the_others_continue(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    hidden = client.add_channel("hidden_one", 2_222_222)
    client.refuse_join(hidden, errors.ChannelPrivateError(request=None))
    client.add_channel("mirror_bot", 3_333_333)
    sink = RecordingSink({NEWS: 0})
    async with running(make_source(client, sink, ["no_such_chan", "hidden_one", NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
        await client.dispatch_new(client.post(news, "still here"))
        await sink.wait_until(lambda: len(sink.posts) == 1)
    errors_by_channel = dict(sink.errors)
    assert set(errors_by_channel) == {"no_such_chan", "hidden_one"}
    assert "@no_such_chan does not exist" in errors_by_channel["no_such_chan"]
    assert "@hidden_one is private" in errors_by_channel["hidden_one"]
    assert sink.oks == [NEWS]


async def test_a_user_is_not_a_channel(client: FakeTelegramClient) -> None:
    sink = RecordingSink()
    client.get_entity = _returns(types.User(id=5, username="some_person"))  # type: ignore[method-assign]
    async with running(make_source(client, sink, ["some_person"])):
        await sink.wait_until(lambda: bool(sink.errors))
    assert sink.errors == [
        ("some_person", "@some_person is a user or bot, not a Telegram channel")
    ]


def _returns(value: Any) -> Any:
    async def get_entity(entity: Any) -> Any:
        return value

    return get_entity


async def test_too_many_channels_reports_but_still_reads_by_polling(
    client: FakeTelegramClient, news: types.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    client.other_channel_dialogs = 470
    client.refuse_join(news, errors.ChannelsTooMuchError(request=None))
    sink = RecordingSink({NEWS: 0})
    with caplog.at_level(logging.WARNING):
        async with running(make_source(client, sink, [NEWS], reconcile_seconds=0.01)):
            await sink.wait_until(lambda: bool(sink.errors))
            client.post(news, "read without membership")
            await sink.wait_until(lambda: len(sink.posts) == 1)
    [(channel, message)] = sink.errors
    assert channel == NEWS and "too many channels" in message and "500" in message
    assert sink.oks == []  # the error stays visible while the channel is polled
    assert "in 470 channels" in caplog.text


async def test_joining_is_tried_again_later(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    client.refuse_join(news, errors.ChannelsTooMuchError(request=None))
    sink = RecordingSink({NEWS: 0})
    source = make_source(client, sink, [NEWS], reconcile_seconds=0.01, retry_failed_seconds=0)
    async with running(source):
        await sink.wait_until(lambda: bool(sink.errors))
        client.refuse_join(news, None)  # the operator left some channels
        await sink.wait_until(lambda: NEWS in sink.oks)
    assert client.joined == [NEWS]


async def test_flood_wait_is_waited_out_then_the_call_succeeds(
    client: FakeTelegramClient, news: types.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(1, 8):
        client.post(news, f"post {i}")
    client.fail("peer_dialogs", flood_wait(0))
    client.fail("iter_messages", flood_wait(0), after=3)  # in the middle of the catch-up
    sink = RecordingSink({NEWS: 1})
    with caplog.at_level(logging.WARNING):
        async with running(make_source(client, sink, [NEWS])):
            await sink.wait_until(lambda: NEWS in sink.oks)
    assert sink.ids(NEWS) == [2, 3, 4, 5, 6, 7]
    assert caplog.text.count("Telegram asks to wait 0 s") == 2
    assert sink.errors == []


async def test_a_long_flood_wait_on_a_lookup_defers_that_channel_only(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    client.add_channel("later_chan", 5_555_555)
    client.fail("get_entity", flood_wait(7200))  # more than a reconciliation interval
    sink = RecordingSink({NEWS: 0})
    async with running(make_source(client, sink, ["later_chan", NEWS])):
        await sink.wait_until(lambda: NEWS in sink.oks)
    assert sink.errors == [
        (
            "later_chan",
            "Telegram limits how often this account may look up channels: "
            "@later_chan is tried again in 120 min",
        )
    ]


async def test_one_request_checks_all_joined_channels(client: FakeTelegramClient) -> None:
    handles = [f"chan_{n}" for n in range(3)]
    for n, handle in enumerate(handles):
        client.post(client.add_channel(handle, 6_000_000 + n), "hello")
    sink = RecordingSink({handle: 1 for handle in handles})
    async with running(make_source(client, sink, handles)):
        await sink.wait_until(lambda: len(sink.oks) == 3)
    assert "peer_dialogs 3" in client.calls
    assert not [call for call in client.calls if call.startswith("get_messages")]


async def test_restart_in_the_middle_of_a_catch_up_loses_and_repeats_nothing(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    for i in range(1, 31):
        client.post(news, f"post {i}")
    sink = RecordingSink({NEWS: 5})
    sink.block_after = 8  # the third batch of four never commits
    async with running(make_source(client, sink, [NEWS], batch_size=4)):
        await asyncio.wait_for(sink.blocked.wait(), 5)
    assert sink.ids(NEWS) == list(range(6, 14))
    sink.block_after = None
    async with running(make_source(client, sink, [NEWS], batch_size=4)):
        await sink.wait_until(lambda: NEWS in sink.oks)
    assert sink.ids(NEWS) == list(range(6, 31))


async def test_lost_connection_is_restored_and_the_gap_read(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    sink = RecordingSink({NEWS: 0})
    async with running(make_source(client, sink, [NEWS], reconcile_seconds=0.01)):
        await sink.wait_until(lambda: NEWS in sink.oks)
        client.drop_connection()
        client.fail("connect", ConnectionError("network is unreachable"))
        client.post(news, "while offline")
        await sink.wait_until(lambda: len(sink.posts) == 1)
    assert client.calls.count("connect") >= 2
    assert sink.posts[0].text == "while offline"


async def test_watchlist_changes_are_picked_up_by_the_next_pass(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    other = client.add_channel("other_chan", 4_444_444)
    client.post(other, "older post of the new channel")
    watchlist = MutableWatchList([NEWS])
    sink = RecordingSink({NEWS: 0})
    async with running(make_source(client, sink, watchlist, reconcile_seconds=0.01)):
        await sink.wait_until(lambda: NEWS in sink.oks)
        watchlist.telegram = ["other_chan"]
        await sink.wait_until(lambda: "other_chan" in sink.oks)
        await client.dispatch_new(client.post(news, "no longer watched"))
        await client.dispatch_new(client.post(other, "new post"))
        await sink.wait_until(lambda: len(sink.posts) == 2)
    assert [(p.channel, p.text) for p in sink.posts] == [
        ("other_chan", "older post of the new channel"),
        ("other_chan", "new post"),
    ]
    assert [history for _, history in sink.calls] == [True, False]


async def test_a_logged_out_account_ends_the_source_and_blames_no_channel(
    client: FakeTelegramClient, news: types.Channel
) -> None:
    client.add_channel("later_chan", 5_555_555)
    watchlist = MutableWatchList([NEWS])
    sink = RecordingSink({NEWS: 0})
    source = make_source(client, sink, watchlist)
    task = asyncio.create_task(source.run())
    await sink.wait_until(lambda: NEWS in sink.oks)
    # Telethon has not noticed yet: the next request (resolving the new channel) is the first
    # to be refused, inside the per-channel error handling.
    client.world.revoke("main", noticed=False)
    watchlist.telegram.append("later_chan")
    source.wake()
    with pytest.raises(AccountUnusable, match=r"logged out \(AUTH_KEY_UNREGISTERED\)"):
        await asyncio.wait_for(task, SAFETY_NET_SECONDS)
    assert sink.errors == []


async def test_numeric_channel_id_is_resolved(client: FakeTelegramClient) -> None:
    channel = client.add_channel(None, 1_234_567_890, "No username", member=True)
    client.post(channel, "by id")
    sink = RecordingSink()
    async with running(make_source(client, sink, ["-1001234567890"])):
        await sink.wait_until(lambda: "-1001234567890" in sink.oks)
    assert [p.text for p in sink.posts] == ["by id"]
    assert client.joined == []  # already a member


def test_conversion_uses_plain_text_captions_polls_and_forwards() -> None:
    peer = types.PeerChannel(NEWS_ID)
    poll = types.MessageMediaPoll(
        poll=types.Poll(
            id=1,
            hash=0,
            question=types.TextWithEntities("Куда поехать?", []),
            answers=[types.PollAnswer(types.TextWithEntities("Сочи", []), b"1")],
        ),
        results=types.PollResults(),
    )
    forwarded = types.Message(
        id=7,
        peer_id=peer,
        date=BASE_DATE,
        message="**not bold** in raw text",
        entities=[types.MessageEntityBold(0, 4)],
        fwd_from=types.MessageFwdHeader(date=BASE_DATE, from_name="Somebody"),
    )
    polled = types.Message(id=8, peer_id=peer, date=BASE_DATE, message="", media=poll)
    posts = to_posts([polled, forwarded], channel=NEWS)
    assert [p.post_id for p in posts] == [7, 8]
    assert posts[0].text == "**not bold** in raw text"
    assert posts[0].forwarded_from == "Somebody"
    assert posts[1].text == "Куда поехать?\nСочи"
    with pytest.raises(ValueError):
        to_post([], channel=NEWS)


# -- login and the session file -------------------------------------------------------------


class FakeLoginClient:
    """Stands in for TelegramClient in login/open_client: no network, a real session file."""

    def __init__(self, session: str, api_id: int, api_hash: str, *, authorized: bool) -> None:
        self.session = Path(session)
        self.session.write_bytes(b"SQLite format 3\x00")
        self.authorized = authorized
        self.prompts: list[str] = []
        self.disconnected = False

    async def start(self, *, phone: Any, code_callback: Any, password: Any, **_: Any) -> None:
        self.prompts = [phone(), code_callback(), password()]
        self.authorized = True

    async def get_me(self) -> types.User:
        return types.User(id=42, first_name="Ada", last_name="L", username="ada")

    async def connect(self) -> None:
        pass

    async def is_user_authorized(self) -> bool:
        return self.authorized

    async def disconnect(self) -> None:
        self.disconnected = True


async def test_login_asks_code_and_password_and_protects_the_session(tmp_path: Path) -> None:
    clients: list[FakeLoginClient] = []

    def factory(session: str, api_id: int, api_hash: str) -> FakeLoginClient:
        clients.append(FakeLoginClient(session, api_id, api_hash, authorized=False))
        return clients[-1]

    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return "+447700900123" if "Phone" in prompt else "12345"

    line = await login(
        api_id=1,
        api_hash="0123456789abcdef",
        session_path=tmp_path / "state" / "chanwatch",
        phone=None,
        input_func=answer,
        password_func=lambda prompt: "secret",
        client_factory=factory,
    )
    assert line == "Logged in as Ada L (42)"
    [client] = clients
    assert client.prompts == ["+447700900123", "12345", "secret"]
    assert client.session == tmp_path / "state" / "chanwatch.session"
    assert client.session.stat().st_mode & 0o777 == 0o600
    assert client.disconnected


async def test_login_refuses_a_malformed_phone_before_asking_anything(tmp_path: Path) -> None:
    def factory(session: str, api_id: int, api_hash: str) -> FakeLoginClient:
        raise AssertionError("no client should be created")

    with pytest.raises(SourceError, match="'call me' is not a phone number"):
        await login(
            api_id=1,
            api_hash="hash",
            session_path=tmp_path / "chanwatch",
            phone="call me",
            input_func=lambda prompt: "",
            password_func=lambda prompt: "",
            client_factory=factory,
        )


async def test_open_client_without_a_session_file_says_to_log_in(tmp_path: Path) -> None:
    with pytest.raises(AccountUnusable, match="run `chanwatch login` first") as caught:
        await open_client(1, "hash", tmp_path / "missing.session")
    assert "missing.session" in str(caught.value)


async def test_open_client_with_a_logged_out_session_says_to_log_in(tmp_path: Path) -> None:
    path = tmp_path / "chanwatch.session"
    path.write_bytes(b"")
    clients: list[FakeLoginClient] = []

    def factory(session: str, api_id: int, api_hash: str) -> FakeLoginClient:
        clients.append(FakeLoginClient(session, api_id, api_hash, authorized=False))
        return clients[-1]

    with pytest.raises(AccountUnusable, match="run `chanwatch login` first"):
        await open_client(1, "hash", path, client_factory=factory)
    assert clients[0].disconnected


async def test_open_client_with_a_session_in_use_names_it(tmp_path: Path) -> None:
    path = session_file(tmp_path / "second")
    path.write_bytes(b"")

    def factory(session: str, api_id: int, api_hash: str) -> FakeLoginClient:
        raise sqlite3.OperationalError("database is locked")  # as Telethon's SQLiteSession

    with pytest.raises(AccountUnusable, match=r"database is locked.*another chanwatch") as caught:
        await open_client(
            1, "hash", path, client_factory=factory, login_command="chanwatch login --account b"
        )
    assert str(path) in str(caught.value) and "--account b" in str(caught.value)


async def test_open_client_returns_the_connected_client(tmp_path: Path) -> None:
    path = session_file(tmp_path / "chanwatch")
    path.write_bytes(b"")
    path.chmod(0o644)

    def factory(session: str, api_id: int, api_hash: str) -> FakeLoginClient:
        return FakeLoginClient(session, api_id, api_hash, authorized=True)

    client = await open_client(1, "hash", tmp_path / "chanwatch", client_factory=factory)
    assert isinstance(client, FakeLoginClient) and not client.disconnected
    assert path.stat().st_mode & 0o777 == 0o600
