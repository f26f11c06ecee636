"""Run `chanwatch run` as a real subprocess against the local fakes, for end-to-end tests.

The process is driven only from outside, as Telegram would drive it: users talk to it
through the fake Bot API, posts appear on the fake t.me server. Its stderr goes to a log
file the test can read after (or during) the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tme_server import TmeServer

TOKEN: Final = "42:E2ETOKENSECRETVALUE0123456789abcdef"
OPERATOR: Final = 1
"""The chat id listed in `bot.admins` of every generated config."""
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 15.0


def command() -> str:
    """The installed `chanwatch` console script of the interpreter running the tests."""
    return shutil.which("chanwatch", path=str(Path(sys.executable).parent)) or "chanwatch"


def write_config(
    folder: Path,
    api: FakeBotAPI,
    tme: TmeServer,
    *,
    channels: Iterable[str] = ("pul_1",),
    topics: str = '[[topics]]\nname = "visit"\nterms = ["визит", "посетить"]\n',
    poll_seconds: float = 0.3,
    timeout_seconds: float = 5.0,
    extra: str = "",
    database_url: str | None = None,
) -> Path:
    """A config for web channels on `tme`, the bot on `api`, a database in `folder` (or at
    `database_url`)."""
    channel_tables = "".join(
        f'[[channels]]\nhandle = "{handle}"\nsource = "web"\n' for handle in channels
    )
    config = folder / "chanwatch.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\napi_base = "{api.base_url}"\nadmins = [{OPERATOR}]\n'
        '[storage]\npath = "db.sqlite"\n'
        + (f'url = "{database_url}"\n' if database_url else "")
        + f'[web]\nbase_url = "{tme.base_url}"\npoll_seconds = {poll_seconds}\n'
        f"timeout_seconds = {timeout_seconds}\n"
        f"{extra}\n{channel_tables}{topics}",
        encoding="utf-8",
    )
    return config


@dataclass
class Chanwatch:
    """One `chanwatch run` process (restartable) on a config file."""

    config: Path
    api: FakeBotAPI
    log: Path
    process: asyncio.subprocess.Process | None = None
    exit_codes: list[int] = field(default_factory=list)
    role: str = "all"
    """Passed as `--role`."""
    env: dict[str, str] = field(default_factory=dict)
    """Set in the process's environment, beside this one's."""

    async def start(self, *, polling: bool = True, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        """Start the process and wait until it is polling the Bot API for updates, or (with
        `polling` False: a monitor, a standby bot) until it logged that it started."""
        menus = len(self.api.calls_of("setMyCommands"))
        started = self.log_text().count("started role=") if self.log.exists() else 0
        with self.log.open("a") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                command(),
                *("run", "--role", self.role, "--config", str(self.config)),
                stderr=stderr,
                env={**os.environ, **self.env},
            )
        # The command menu is set right before polling starts; a long poll then waits.
        ready = asyncio.ensure_future(
            self.api.wait_until(
                lambda: len(self.api.calls_of("setMyCommands")) > menus and self.api.long_polling,
                "started polling",
                timeout=timeout,
            )
            if polling
            else _wait_for_line(self.log, "started role=", started + 1, timeout)
        )
        exited = asyncio.ensure_future(self.process.wait())
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise AssertionError(f"chanwatch run exited at start:\n{self.log_text()}")
        exited.cancel()
        ready.result()

    async def stop(self, sig: int = signal.SIGTERM, *, timeout: float = STOP_TIMEOUT) -> int:  # noqa: ASYNC109
        """Signal the process and wait for it to exit; returns (and records) its exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        self.exit_codes.append(code)
        self.process = None
        return code

    async def kill(self) -> None:
        """SIGKILL: no clean-up at all, like a power cut."""
        await self.stop(signal.SIGKILL)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def wait_for_log(
        self,
        text: str,
        *,
        count: int = 1,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until `text` is in the log `count` times."""
        async with asyncio.timeout(timeout):
            while self.log_text().count(text) < count:  # noqa: ASYNC110 (a file to read)
                await asyncio.sleep(0.05)


def _read(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


async def _wait_for_line(log: Path, text: str, count: int, timeout: float) -> None:  # noqa: ASYNC109
    """Until `log` holds `text` `count` times (the process wrote it)."""
    # Another process writes the file: there is no event to wait on, only the file to read.
    async with asyncio.timeout(timeout):
        while _read(log).count(text) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running(config: Path, api: FakeBotAPI) -> AsyncIterator[Chanwatch]:
    """A started `chanwatch run` on `config`; stopped with SIGTERM on the way out."""
    app = Chanwatch(config, api, config.parent / "stderr.log")
    await app.start()
    try:
        yield app
    finally:
        if app.process is not None:
            await app.stop()


async def subscribe(api: FakeBotAPI, chat_id: int, args: str = "") -> None:
    """`/subscribe [args]` from a private chat, waiting for the bot's answer."""
    before = len(api.messages_to(chat_id))
    await api.user_sends(chat_id, f"/subscribe {args}".strip())
    await api.wait_for_messages(before + 1, chat_id=chat_id)


async def ask(
    api: FakeBotAPI,
    chat_id: int,
    text: str,
    *,
    timeout: float = 15.0,  # noqa: ASYNC109
) -> str:
    """Send `text` from `chat_id` and return the bot's next message to that chat."""
    before = len(api.messages_to(chat_id))
    await api.user_sends(chat_id, text)
    messages = await api.wait_for_messages(before + 1, chat_id=chat_id, timeout=timeout)
    return messages[before].text


def alerts_to(api: FakeBotAPI, chat_id: int, handle: str) -> list[str]:
    """Texts sent to `chat_id` that link a post of `handle` (alerts)."""
    return [m.text for m in api.messages_to(chat_id) if f"t.me/{handle}/" in m.text]


@asynccontextmanager
async def scratch_database(admin_url: str, name: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database `name` (one left by an interrupted run is dropped
    first), its URL yielded, dropped again at the end even when the body fails."""

    async def admin(*statements: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    drop = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    await admin(drop, f"CREATE DATABASE {name}")
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        await admin(drop)
