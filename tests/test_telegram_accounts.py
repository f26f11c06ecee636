"""Several Telegram accounts, end to end: the real `chanwatch run` wiring against an in-memory
Telegram with several accounts (tests/fakes/telethon_client.py) and the fake Bot API.

`chanwatch run` as a subprocess cannot reach an in-process Telethon fake, so these tests call
`chanwatch.app.run` in the test's event loop with the one seam it has for this:
`client_factory`, which stands in for `TelegramClient(session, api_id, api_hash)` (here
`FakeTelegram.client_factory`, which knows each account by its session file). Everything else
is what `chanwatch run` builds: config file, SQLite database, account pool, sources, ingest,
delivery and the bot polling the fake Bot API. `chanwatch login --account` goes through
`chanwatch.cli.main` with the same seam.
"""

from __future__ import annotations

import asyncio
import builtins
import getpass
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import pytest
from telethon.tl import types

from chanwatch.app import run
from chanwatch.cli import main
from chanwatch.config import load_config
from monitor.sources.telegram_accounts import AccountPool
from storage import Location, Store
from storage.models import Assignment
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.telethon_client import FakeTelegram, FakeTelegramClient, RecordingSink

TOKEN: Final = "42:ACCOUNTSTESTTOKEN0123456789abcdef"
OPERATOR: Final = 1
ALICE: Final = 7
WAIT: Final = 15.0
"""A guard against a hung test; every wait ends as soon as its condition holds."""
START: Final = 30.0
"""Until `chanwatch run` polls: it opens the database and every account first (slower on a
machine running other tests)."""


def write_config(
    folder: Path,
    api: FakeBotAPI,
    accounts: list[str],
    handles: list[str],
    database: Location | None = None,
) -> Path:
    """Accounts of capacity 2 with sessions in `folder`; the database at `database` (a
    PostgreSQL URL) or in `folder`."""
    tables = "".join(
        f'[[telegram.accounts]]\nname = "{name}"\nsession = "sessions/{name}"\n'
        for name in accounts
    )
    channels = "".join(f'[[channels]]\nhandle = "{handle}"\n' for handle in handles)
    path = folder / "chanwatch.toml"
    path.write_text(
        f'[bot]\ntoken = "{TOKEN}"\napi_base = "{api.base_url}"\nadmins = [{OPERATOR}]\n'
        '[storage]\npath = "db.sqlite"\n'
        + (f'url = "{database}"\n' if isinstance(database, str) else "")
        + '[telegram]\napi_id = 1\napi_hash = "0123456789abcdef"\nchannels_per_account = 2\n'
        "join_pause_seconds = 0\nreconcile_seconds = 10\n"
        f'{tables}{channels}[[topics]]\nname = "visit"\nterms = ["визит"]\n',
        encoding="utf-8",
    )
    return path


def telegram_with(folder: Path, accounts: list[str], handles: list[str]) -> FakeTelegram:
    world = FakeTelegram()
    for name in accounts:
        world.add_account(name, folder / "sessions" / name)
    for number, handle in enumerate(handles, start=1):
        world.post(world.add_channel(handle, 9_000_000 + number), f"старый пост {handle}")
    return world


@asynccontextmanager
async def running(config: Path, api: FakeBotAPI, world: FakeTelegram) -> AsyncIterator[Store]:
    """`chanwatch run` on `config` with `world` as Telegram; yields a second connection to its
    database to look at, and stops it as SIGTERM would on the way out."""
    stop = asyncio.Event()
    polls = len(api.calls_of("setMyCommands"))
    app = asyncio.create_task(
        run(load_config(config), client_factory=world.client_factory, stop=stop)
    )
    started = asyncio.ensure_future(
        api.wait_until(
            lambda: len(api.calls_of("setMyCommands")) > polls and api.long_polling,
            "started polling",
            timeout=START,
        )
    )
    await asyncio.wait({app, started}, return_when=asyncio.FIRST_COMPLETED)
    if app.done():
        started.cancel()
        app.result()  # the start-up error
        raise AssertionError("chanwatch run returned at start")
    try:
        started.result()
    except BaseException:
        # Stopped, not left running into the next test with its connections open.
        stop.set()
        await asyncio.wait({app}, timeout=WAIT)
        raise
    store = await Store.open(load_config(config).database)
    try:
        yield store
    finally:
        await store.close()
        stop.set()
        assert await asyncio.wait_for(app, WAIT) == 0


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll the database (it has no events to wait on) until `check` holds."""
    try:
        async with asyncio.timeout(WAIT):
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never {what} within {WAIT} s") from None


async def holders(store: Store) -> dict[str, str | None]:
    return {c.handle: c.account for c in await store.channels.watched()}


async def all_read(store: Store) -> bool:
    """Every channel placed, and every placed channel read at least once by its account."""
    return all(
        (c.account and c.last_ok_at) or c.unassigned for c in await store.channels.watched()
    )


async def ask(api: FakeBotAPI, chat_id: int, text: str) -> str:
    before = len(api.messages_to(chat_id))
    await api.user_sends(chat_id, text)
    return (await api.wait_for_messages(before + 1, chat_id=chat_id, timeout=WAIT))[before].text


def notices(api: FakeBotAPI, marker: str) -> list[str]:
    return [m.text for m in api.messages_to(OPERATOR) if marker in m.text]


async def test_five_channels_over_three_accounts_and_a_banned_account_hands_them_over(
    tmp_path: Path, database: Location
) -> None:
    accounts, handles = ["a", "b", "c"], [f"chan_{n}" for n in range(1, 6)]
    world = telegram_with(tmp_path, accounts, handles)
    async with FakeBotAPI() as api:
        config = write_config(tmp_path, api, accounts, handles, database)
        async with running(config, api, world) as store:
            await until(lambda: all_read(store), "all channels read")
            placed = await holders(store)
            load = {name: [h for h, a in placed.items() if a == name] for name in accounts}
            assert sorted(len(held) for held in load.values()) == [1, 2, 2]
            for name in accounts:  # each channel joined once, by the account that reads it
                assert sorted(world.account(name).joins) == sorted(load[name])
            listing = await ask(api, OPERATOR, "/channels")
            assert all(f"read by Telegram account {placed[h]}" in listing for h in handles)
            stats = await ask(api, OPERATOR, "/stats")
            assert "Telegram accounts" in stats and "a: 2/2 channels, working" in stats
            await ask(api, ALICE, "/subscribe")

            # Ban an account that reads two channels; the one with one channel has room for
            # one more, so one channel moves and the other has nowhere to go.
            banned = next(name for name in accounts if len(load[name]) == 2)
            spare = next(name for name in accounts if len(load[name]) == 1)
            world.ban(banned)
            posts = {
                handle: await world.publish(_channel(world, handle), "Объявлен визит")
                for handle in load[banned]
            }  # published while nobody reads them: the new reader catches up
            await api.wait_until(
                lambda: bool(notices(api, "stopped working")), "told operators", timeout=WAIT
            )
            [notice] = notices(api, "stopped working")
            await until(lambda: all_read(store), "moved channels read")
            after = await holders(store)
            moved = [h for h in load[banned] if after[h] == spare]
            stranded = [h for h in load[banned] if after[h] is None]
            assert len(moved) == 1 and len(stranded) == 1

            async def joined() -> bool:  # the placement is stored before the join is done
                return world.account(spare).joins[-1:] == [moved[0]]

            await until(joined, "joined by its new account")
            assert {h: a for h, a in after.items() if h not in load[banned]} == {
                h: a for h, a in placed.items() if h not in load[banned]
            }  # nothing else moved
            assert f"Telegram account <b>{banned}</b> stopped working" in notice
            assert "banned by Telegram" in notice
            assert f"@{moved[0]} → {spare}" in notice
            assert f"@{stranded[0]} is not read now: no Telegram account has room" in notice

            link = f"https://t.me/{moved[0]}/{posts[moved[0]].id}"
            await api.wait_until(
                lambda: any(link in m.text for m in api.messages_to(ALICE)),
                "alerted the post the new account caught up",
                timeout=WAIT,
            )
            listing = await ask(api, OPERATOR, "/channels")
            assert "⚠️ not read: no Telegram account has room" in listing
            stats = await ask(api, OPERATOR, "/stats")
            assert f"{banned}: 0/2 channels, down since" in stats
            assert "1 telegram channel has no account and is not read" in stats
            assert not any(f"t.me/{stranded[0]}/" in m.text for m in api.messages_to(ALICE))
            added = await ask(api, OPERATOR, "/addchannel @chan_new")
            assert "Now watching @chan_new (telegram)" in added
            assert "⚠️ not read: no Telegram account has room" in added
            after["chan_new"] = None

        # Started again, the banned account still fails: nothing moves, nobody is told twice.
        async with running(config, api, world) as store:
            await until(lambda: all_read(store), "all channels read after restart")
            assert await holders(store) == after
        assert len(notices(api, "stopped working")) == 1


async def test_assignment_survives_a_restart_and_a_new_account_takes_new_channels(
    tmp_path: Path,
) -> None:
    handles = ["chan_1", "chan_2", "chan_3", "chan_4"]
    world = telegram_with(tmp_path, ["a", "b", "c"], handles)
    async with FakeBotAPI() as api:
        config = write_config(tmp_path, api, ["a", "b"], handles[:3])
        async with running(config, api, world) as store:
            await until(lambda: all_read(store), "all channels read")
            first = await holders(store)
        joins = {name: list(world.account(name).joins) for name in ("a", "b")}

        config = write_config(tmp_path, api, ["a", "b", "c"], handles)
        async with running(config, api, world) as store:
            await until(lambda: all_read(store), "all channels read after restart")
            second = await holders(store)
    assert {h: second[h] for h in first} == first  # nothing moved, so nothing re-joined
    assert {name: world.account(name).joins for name in ("a", "b")} == joins
    assert second["chan_4"] == "c"  # the least loaded account
    assert world.account("c").joins == ["chan_4"]
    assert notices(api, "stopped working") == []


async def test_login_account_logs_in_that_account_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = FakeTelegram()
    world.add_account("a", tmp_path / "sessions" / "a")
    async with FakeBotAPI() as api:
        config = write_config(tmp_path, api, ["a", "b"], ["chan_1"])
    answers = iter(["12345"])
    monkeypatch.setattr(builtins, "input", lambda prompt: next(answers))
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "")
    login = ["login", "--config", str(config), "--phone", "+447700900123"]

    code = await asyncio.to_thread(main, [*login, "--account", "b"], client_factory=factory(world))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Logged in as B" in out and "(account b, session" in out
    session = tmp_path / "sessions" / "b.session"
    assert session.stat().st_mode & 0o777 == 0o600
    assert world.account("b").logged_in

    assert await asyncio.to_thread(main, login, client_factory=factory(world)) == 2
    assert "2 Telegram accounts are configured (a, b): choose one with --account" in (
        capsys.readouterr().err
    )
    assert await asyncio.to_thread(main, [*login, "--account", "z"]) == 2
    assert "no Telegram account 'z' (configured: a, b)" in capsys.readouterr().err


def factory(world: FakeTelegram) -> Callable[[str, int, str], object]:
    return world.client_factory


def _channel(world: FakeTelegram, handle: str) -> types.Channel:
    return next(s.entity for s in world.channel_states() if s.entity.username == handle)


class RecordingListener:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, list[tuple[str, str | None]]]] = []

    async def account_down(
        self, account: str, reason: str, moves: Sequence[Assignment], *, final: bool
    ) -> None:
        kind = "down" if final else "failing"
        self.events.append((kind, account, [(m.handle, m.after) for m in moves]))

    async def account_recovered(self, account: str, moves: Sequence[Assignment]) -> None:
        self.events.append(("recovered", account, [(m.handle, m.after) for m in moves]))


async def test_an_account_that_keeps_failing_hands_over_and_comes_back_when_it_works(
    tmp_path: Path,
) -> None:
    """The pool alone (monitor/), over a real database: an account that cannot connect again
    and again is taken out while another works, and taken back once it connects."""
    world = telegram_with(tmp_path, ["a", "b"], ["chan_1", "chan_2"])
    clients: dict[str, FakeTelegramClient] = {}

    async def opener(name: str) -> FakeTelegramClient:
        clients[name] = world.client_factory(str(tmp_path / "sessions" / name), 1, "hash")
        return clients[name]

    store = await Store.open(tmp_path / "pool.db")
    sink, listener = RecordingSink(), RecordingListener()
    try:
        await store.accounts.sync_config(["a", "b"], capacity=2)
        for handle in ("chan_1", "chan_2"):
            await store.channels.add(handle, "telegram")
        pool = AccountPool(
            ["a", "b"],
            opener=opener,
            book=store.accounts,
            sink=sink,
            cursor=sink,
            listener=listener,
            reconcile_seconds=0.05,
            join_pause_seconds=0,
            failures_before_down=2,
            retry_seconds=(0.0, 0.0),
            connect_attempts=2,
            source_options={"reconnect_base_seconds": 0.0},
        )
        await pool.start()
        task = asyncio.create_task(pool.run())
        try:
            await sink.wait_until(lambda: {"chan_1", "chan_2"} <= set(sink.oks))
            assert await store.accounts.handles("a") == ["chan_1"]
            clients["a"].drop_connection()
            for _ in range(4):  # two starts of two connection attempts each
                clients["a"].fail("connect", ConnectionError("network is unreachable"))
            await sink.wait_until(lambda: len(listener.events) == 2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await pool.close()
        assert listener.events == [
            ("failing", "a", [("chan_1", "b")]),
            ("recovered", "a", []),  # nothing was waiting for room
        ]
        assert await store.accounts.handles("b") == ["chan_1", "chan_2"]
        assert world.account("b").joins == ["chan_2", "chan_1"]
    finally:
        await store.close()
