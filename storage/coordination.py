"""How chanwatch processes sharing one database coordinate, through the database alone.

* **Notifications.** A transaction says `tx.notify(channel)`; every process listening on that
  channel (`Database.listen`) hears it right after the commit, and never for a transaction
  that rolled back. On PostgreSQL this is LISTEN/NOTIFY; on SQLite, where one process owns
  the file, the listeners are that process's own.
* **Elections.** Of the processes campaigning for one office (`Database.election`), one holds
  it at a time: on PostgreSQL the holder of a session-level advisory lock, taken on a
  connection of its own that is kept for as long as the process campaigns; the server frees
  the lock the moment that connection ends, also when the process is killed. On SQLite the
  one process always holds it.

A notification is a hint, not the only way news travels: one sent while a listener's
connection is down is lost, so the listener is then called with `None` ("look again"), and
the parts that listen keep a slow safety poll.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

logger = logging.getLogger(__name__)

DELIVERY: Final = "chanwatch_delivery"
"""New matches to alert or new outbox rows: the elected bot process queues and sends them."""

TOPICS: Final = "chanwatch_topics"
"""Topics changed (an operator command, a process started with other config topics): every
monitor process recompiles its matcher."""

CHANNELS: Final = "chanwatch_channels"
"""Channels were added or removed: every monitor process looks at its watch list again."""

BOT_OFFICE: Final = "bot"
"""The office of the one process that polls Telegram for updates and sends (Telegram
allows one getUpdates consumer per token, and its rate limits are per bot)."""

Heard = Callable[[str, str | None], None]
"""A listener: called with the channel and the payload, or with None as the payload when
notifications may have been missed (after a lost connection came back)."""


class Term(ABC):
    """A term in office, from election until it is left or lost."""

    @abstractmethod
    async def lost(self) -> str:
        """Wait until the term is lost (the connection holding it failed); the reason."""


class Election(ABC):
    """The campaign of one process for one office."""

    @abstractmethod
    def term(self) -> AbstractAsyncContextManager[Term]:
        """Wait until this process holds the office; leaving the block leaves it.

        While another process holds it, this waits (as a standby) for as long as needed,
        taking over within a few seconds of that process ending, however it ended."""


class Bus:
    """Notifications inside one process: the backend for a database only one process uses."""

    def __init__(self) -> None:
        self._listeners: list[tuple[frozenset[str], Heard]] = []

    def publish(self, notes: Iterable[tuple[str, str]]) -> None:
        for channel, payload in notes:
            for channels, heard in list(self._listeners):
                if channel in channels:
                    call_listener(heard, channel, payload)

    @asynccontextmanager
    async def listen(self, channels: Iterable[str], heard: Heard) -> AsyncIterator[None]:
        entry = (frozenset(channels), heard)
        self._listeners.append(entry)
        try:
            yield
        finally:
            self._listeners.remove(entry)


def call_listener(heard: Heard, channel: str, payload: str | None) -> None:
    """Call a listener, logging (not raising) what it raises: a listener's bug must not undo
    the commit that notified it, nor keep the other listeners from hearing."""
    try:
        heard(channel, payload)
    except Exception:
        logger.exception("a listener of %s failed", channel)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended, whatever it ends with.

    Unlike `suppress(CancelledError)` around the wait, a stop of the caller that comes while
    it waits (the process shutting down as a term ends) still stops the caller: the
    suppress would take it for the task's own cancellation, the caller would go on, and the
    process would never exit. A caller already being stopped (cleaning up in a `finally`)
    goes on with its cleanup, as with the suppress."""
    current = asyncio.current_task()
    stops = current.cancelling() if current is not None else 0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > stops:
            raise


class SoleTerm(Term):
    """The office of a process that is alone on its database: held until it is left."""

    async def lost(self) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class SoleElection(Election):
    """An election with one candidate, won at once (SQLite: one process per database)."""

    @asynccontextmanager
    async def term(self) -> AsyncIterator[Term]:
        yield SoleTerm()
