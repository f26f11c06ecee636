"""Elections and LISTEN on PostgreSQL, each on a connection of its own (not the pool's).

Why own connections: a session-level advisory lock and a LISTEN belong to one server
session, and must outlive every query the pool runs; and a pooled connection is reset when
given back. Each bot-capable process so keeps two more connections than its pool.

Timing, chosen so that a standby takes over within seconds and two leaders never overlap:

* a standby asks for the lock every CAMPAIGN_PAUSE seconds (`pg_try_advisory_lock`, a cheap
  query), so it takes over at most that long after the server freed the lock;
* the server frees the lock when the leader's connection ends: at once when the leader's
  process dies on its machine (even `kill -9`: the kernel closes its socket), and, when the
  leader's machine or network vanishes, once TCP keepalives (server side, set per
  connection below) find the peer gone: after KEEPALIVE_IDLE + KEEPALIVE_COUNT ×
  KEEPALIVE_INTERVAL = 11 s without an answer;
* the leader checks its own connection every CHECK_SECONDS, each check allowed
  CHECK_TIMEOUT: cut off from the server, it steps down within 2 + 4 = 6 s, before the
  server gives the lock to anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

from storage.coordination import Election, Heard, Term, call_listener, cancel_and_wait
from storage.errors import StorageError

logger = logging.getLogger(__name__)

CAMPAIGN_PAUSE: Final = 1.0
CHECK_SECONDS: Final = 2.0
CHECK_TIMEOUT: Final = 4.0
RECONNECT_PAUSE: Final = (1.0, 30.0)
"""First and longest pause before connecting again after a failure."""
KEEPALIVE_IDLE: Final = 5
KEEPALIVE_INTERVAL: Final = 2
KEEPALIVE_COUNT: Final = 3
CONNECT_TIMEOUT: Final = 10.0

_FAILURES: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def _connect(url: str, purpose: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        url,
        timeout=CONNECT_TIMEOUT,
        server_settings={
            # Shown in pg_stat_activity: an operator sees which session leads.
            "application_name": f"chanwatch {purpose}",
            "tcp_keepalives_idle": str(KEEPALIVE_IDLE),
            "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL),
            "tcp_keepalives_count": str(KEEPALIVE_COUNT),
        },
    )


async def _close(conn: asyncpg.Connection | None) -> None:
    if conn is None or conn.is_closed():
        return
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await conn.close()
    except (*_FAILURES, asyncio.CancelledError):
        conn.terminate()
        raise


class _Pause:
    """Pauses between attempts, doubling up to a ceiling; reset after a success."""

    def __init__(self) -> None:
        self.seconds = RECONNECT_PAUSE[0]

    async def sleep(self) -> None:
        await asyncio.sleep(self.seconds)
        self.seconds = min(self.seconds * 2, RECONNECT_PAUSE[1])

    def reset(self) -> None:
        self.seconds = RECONNECT_PAUSE[0]


class PostgresTerm(Term):
    """Held for as long as the connection holding the lock answers."""

    def __init__(self, conn: asyncpg.Connection, office: str, check: float) -> None:
        self._conn = conn
        self._office = office
        self._check = check
        self._ended = asyncio.Event()
        self._reason = ""
        # Told at once when the socket closes (the server restarted, the session was
        # terminated); the periodic check finds a connection that hangs instead.
        conn.add_termination_listener(self._terminated)
        self._watch = asyncio.create_task(self._watchdog(), name=f"{office} term check")

    def _terminated(self, conn: object) -> None:
        self._end("the connection holding it closed")

    def _end(self, reason: str) -> None:
        if not self._ended.is_set():
            self._reason = reason
            self._ended.set()

    async def _watchdog(self) -> None:
        while not self._ended.is_set():
            await asyncio.sleep(self._check)
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    await self._conn.fetchval("SELECT 1")
            except _FAILURES as error:
                self._end(f"the connection holding it failed ({type(error).__name__}: {error})")

    async def lost(self) -> str:
        await self._ended.wait()
        return self._reason

    async def leave(self) -> None:
        self._end("left")
        await cancel_and_wait(self._watch)
        self._conn.remove_termination_listener(self._terminated)
        # Closing the session releases its lock; a dead connection has released it already.
        with contextlib.suppress(*_FAILURES):
            await _close(self._conn)


class PostgresElection(Election):
    def __init__(
        self,
        url: str,
        where: str,
        office: str,
        key: int,
        *,
        pause: float = CAMPAIGN_PAUSE,
        check: float = CHECK_SECONDS,
    ) -> None:
        self._url = url
        self._where = where
        self._office = office
        self._key = key
        self._pause = pause
        self._check = check

    @asynccontextmanager
    async def term(self) -> AsyncIterator[Term]:
        term = PostgresTerm(await self._win(), self._office, self._check)
        try:
            yield term
        finally:
            await term.leave()

    async def _win(self) -> asyncpg.Connection:
        """A connection holding the office's lock, once it is free."""
        waiting = False
        pause = _Pause()
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await _connect(self._url, f"{self._office} candidate")
                while not await self._try(conn):
                    if not waiting:
                        logger.info(
                            "%s: another process holds the office; standing by", self._office
                        )
                        waiting = True
                    pause.reset()
                    await asyncio.sleep(self._pause)
                await conn.execute(f"SET application_name = 'chanwatch {self._office} leader'")
                return conn
            except _FAILURES as error:
                logger.warning(
                    "%s: campaigning on %s failed (%s); trying again in %.0f s",
                    self._office,
                    self._where,
                    _one_line(error),
                    pause.seconds,
                )
                with contextlib.suppress(*_FAILURES):
                    await _close(conn)
                await pause.sleep()
            except BaseException:
                if conn is not None:
                    conn.terminate()
                raise

    async def _try(self, conn: asyncpg.Connection) -> bool:
        # Bounded: a standby whose connection hangs connects again rather than wait forever.
        async with asyncio.timeout(CHECK_TIMEOUT):
            return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key))


class PostgresListening:
    """LISTEN on a connection of its own, connecting again whenever it is lost."""

    def __init__(self, url: str, where: str, channels: Iterable[str], heard: Heard) -> None:
        self._url = url
        self._where = where
        self._channels = tuple(dict.fromkeys(channels))
        self._heard = heard
        self._first = asyncio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._run(), name=f"listen {','.join(self._channels)}")
        try:
            # Notifications sent after this returns are heard (unless the server is away).
            await self._first.wait()
            yield
        finally:
            await cancel_and_wait(task)

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        call_listener(self._heard, channel, str(payload))

    async def _run(self) -> None:
        pause = _Pause()
        missed = False
        while True:
            conn: asyncpg.Connection | None = None
            closed = asyncio.Event()
            try:
                conn = await _connect(self._url, "listener")
                conn.add_termination_listener(lambda _, closed=closed: closed.set())
                for channel in self._channels:
                    await conn.add_listener(channel, self._notified)
                self._first.set()
                if missed:
                    logger.info("listening again on %s", self._where)
                    for channel in self._channels:
                        call_listener(self._heard, channel, None)
                missed = False
                pause.reset()
                await self._watch(conn, closed)
            except (*_FAILURES, StorageError) as error:
                self._first.set()
                if not missed:
                    logger.warning(
                        "listening on %s failed (%s); connecting again",
                        self._where,
                        _one_line(error),
                    )
                missed = True
            finally:
                if conn is not None:
                    with contextlib.suppress(*_FAILURES):
                        await _close(conn)
            await pause.sleep()

    async def _watch(self, conn: asyncpg.Connection, closed: asyncio.Event) -> None:
        """Return when the connection is gone; raise when a check finds it hanging."""
        while not closed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_SECONDS * 5):
                    await closed.wait()
            if not closed.is_set():
                async with asyncio.timeout(CHECK_TIMEOUT):
                    await conn.fetchval("SELECT 1")
        raise StorageError("the connection closed")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
