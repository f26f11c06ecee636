"""Several Telegram accounts reading the telegram channels between them.

Each account has its own client and its own TelegramSource, reading only the channels that
storage assigns to it; the sources share nothing, so a process can run any subset of the
accounts. The pool decides nothing about placement itself: storage's `assign()` does, in one
transaction, so the answer survives restarts. The pool notices when an account stops working
and asks storage to hand its channels to accounts with room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from monitor.errors import AccountUnusable
from monitor.sources.base import ChannelCursor, PostSink
from monitor.sources.telegram import SOURCE_NAME, TelegramClientLike, TelegramSource
from storage.errors import ChanwatchError
from storage.models import Assignment

logger = logging.getLogger(__name__)

FAILURES_BEFORE_DOWN: Final = 3
"""Failed starts in a row after which an account counts as down (while another one works)."""
RETRY_SECONDS: Final = (5.0, 300.0)
"""First and longest pause before an account that failed is tried again."""
CONNECT_ATTEMPTS: Final = 8
"""Failed connection attempts (1 s doubling: about two minutes) that count as one failure."""


Opener = Callable[[str], Awaitable[TelegramClientLike]]
"""Opens a logged-in client for the account of that name: AccountUnusable when its session is
not (or no longer) logged in, another ChanwatchError when Telegram cannot be reached."""


class AccountBook(Protocol):
    """Where accounts' health and the channel assignment are kept (storage's Accounts)."""

    async def mark_down(self, name: str, reason: str) -> bool: ...

    async def mark_up(self, name: str) -> bool: ...

    async def assign(self) -> list[Assignment]: ...

    async def handles(self, name: str) -> list[str]: ...


class AccountListener(Protocol):
    """Who tells the operators (the app, through delivery)."""

    async def account_down(
        self, account: str, reason: str, moves: Sequence[Assignment], *, final: bool
    ) -> None:
        """`account` stopped working; `moves` are the channels it held and where they went.

        `final`: Telegram refused the account (a new login is needed); else it kept failing
        and is still tried."""

    async def account_recovered(self, account: str, moves: Sequence[Assignment]) -> None:
        """`account` works again; `moves` are channels without an account that it now reads."""


class _AccountWatchList:
    """The channels storage assigns to one account: that account's source reads only these."""

    def __init__(self, book: AccountBook, name: str) -> None:
        self._book = book
        self._name = name

    async def channels(self, source: str) -> list[str]:
        return await self._book.handles(self._name) if source == SOURCE_NAME else []


@dataclass(eq=False)
class _Account:
    name: str
    client: Any = None
    source: TelegramSource | None = None
    failures: int = 0
    """Failed starts since the last completed reconciliation pass."""
    working: bool = False
    """Completed a reconciliation pass since its last start, and not failed since."""
    down: bool = False
    """Given up: the account is not usable until chanwatch starts again."""
    failing: bool = False
    """Marked down for failing repeatedly; it is still tried, and comes back when it works."""
    opening_error: ChanwatchError | None = field(default=None, repr=False)


class AccountPool:
    """Runs one TelegramSource per usable account and moves channels off accounts that die.

    `start()` opens every account (raising when none can be opened), `run()` reads until
    cancelled, `channels_changed()` places added channels and frees removed ones, `close()`
    disconnects.
    """

    def __init__(
        self,
        accounts: Sequence[str],
        *,
        opener: Opener,
        book: AccountBook,
        sink: PostSink,
        cursor: ChannelCursor,
        listener: AccountListener,
        reconcile_seconds: float,
        join_pause_seconds: float,
        failures_before_down: int = FAILURES_BEFORE_DOWN,
        retry_seconds: tuple[float, float] = RETRY_SECONDS,
        connect_attempts: int = CONNECT_ATTEMPTS,
        source_options: dict[str, Any] | None = None,
    ) -> None:
        self._accounts = [_Account(name) for name in accounts]
        self._opener = opener
        self._book = book
        self._sink = sink
        self._cursor = cursor
        self._listener = listener
        self._reconcile_seconds = reconcile_seconds
        self._join_pause_seconds = join_pause_seconds
        self._failures_before_down = failures_before_down
        self._retry = retry_seconds
        self._connect_attempts = connect_attempts
        self._source_options = dict(source_options or {})
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Open every account, record which work, and place channels on those.

        Raises the opening error when no account can be opened at all: then there is nothing
        to move channels to, and the user must fix the sessions or the network first.
        """
        results = await asyncio.gather(
            *(self._opener(account.name) for account in self._accounts), return_exceptions=True
        )
        crash: BaseException | None = None
        for account, result in zip(self._accounts, results, strict=True):
            if isinstance(result, ChanwatchError):
                account.opening_error = result
            elif isinstance(result, BaseException):
                crash = crash or result
            else:
                account.client = result
        if crash is not None:
            raise crash  # the clients that did open are disconnected by close()
        if all(account.client is None for account in self._accounts):
            errors = [a for a in self._accounts if a.opening_error is not None]
            if len(errors) == 1:
                raise errors[0].opening_error  # type: ignore[misc]
            raise AccountUnusable(
                "no Telegram account could be opened: "
                + "; ".join(f"{a.name}: {a.opening_error}" for a in errors)
            )
        async with self._lock:
            came_back = [a.name for a in self._accounts if a.client is not None]
            came_back = [name for name in came_back if await self._book.mark_up(name)]
            lost: list[tuple[str, str]] = []
            for account in self._accounts:
                if isinstance(account.opening_error, AccountUnusable):
                    account.down = True
                    reason = str(account.opening_error)
                    if await self._book.mark_down(account.name, reason):
                        lost.append((account.name, reason))
            moves = await self._assign()
            for name, reason in lost:
                await self._listener.account_down(
                    name, reason, _moved_from(moves, name), final=True
                )
            for name in came_back:
                logger.info("Telegram account %s works again", name)
                await self._listener.account_recovered(name, _moved_to(moves, name))

    async def run(self) -> None:
        """Read through every usable account until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for account in self._accounts:
                if not account.down:
                    tasks.create_task(self._run_account(account), name=f"telegram {account.name}")

    async def channels_changed(self) -> None:
        """Operators added or removed channels: place them now and let the sources look."""
        async with self._lock:
            await self._assign()
        self._wake_all()

    async def close(self) -> None:
        for account in self._accounts:
            await _disconnect(account)

    # -- one account ---------------------------------------------------------------------------

    async def _run_account(self, account: _Account) -> None:
        while True:
            try:
                if account.client is None:
                    account.client = await self._opener(account.name)
                account.source = self._source(account)
                await account.source.run()
            except AccountUnusable as exc:
                await self._lost(account, str(exc))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._failed(account, exc)
            finally:
                account.source = None
                account.working = False
            # Back off while it keeps failing; a completed pass resets `failures`.
            first, longest = self._retry
            await asyncio.sleep(min(first * 2 ** max(account.failures - 1, 0), longest))

    def _source(self, account: _Account) -> TelegramSource:
        async def passed() -> None:
            await self._passed(account)

        return TelegramSource(
            account.client,
            sink=self._sink,
            cursor=self._cursor,
            watchlist=_AccountWatchList(self._book, account.name),
            reconcile_seconds=self._reconcile_seconds,
            join_pause_seconds=self._join_pause_seconds,
            account=account.name,
            on_pass=passed,
            max_connect_attempts=self._connect_attempts,
            **self._source_options,
        )

    async def _passed(self, account: _Account) -> None:
        account.failures = 0
        account.working = True
        if not account.failing:
            return
        account.failing = False
        async with self._lock:
            if await self._book.mark_up(account.name):
                logger.info("Telegram account %s works again", account.name)
                moves = await self._assign()
                await self._listener.account_recovered(
                    account.name, _moved_to(moves, account.name)
                )
        self._wake_all()

    async def _failed(self, account: _Account, exc: Exception) -> None:
        account.failures += 1
        if isinstance(exc, ChanwatchError):
            logger.warning(
                "Telegram account %s failed (%d in a row): %s", account.name, account.failures, exc
            )
        else:
            logger.error(
                "Telegram account %s crashed (%d in a row)",
                account.name,
                account.failures,
                exc_info=exc,
            )
        if account.failing or account.failures < self._failures_before_down:
            return
        if not any(other.working for other in self._accounts if other is not account):
            # Every account failing at once is the network or Telegram, not this account:
            # moving channels between broken accounts would only make them join again.
            return
        account.failing = True
        reason = f"failed {account.failures} times in a row, last: {exc}"
        await self._take_out(account, reason, final=False)

    async def _lost(self, account: _Account, reason: str) -> None:
        account.down = True
        logger.error("Telegram account %s stopped working: %s", account.name, reason)
        await self._take_out(account, reason, final=True)
        await _disconnect(account)

    async def _take_out(self, account: _Account, reason: str, *, final: bool) -> None:
        """Mark the account down, hand its channels over, and tell the operators once."""
        async with self._lock:
            if await self._book.mark_down(account.name, reason):
                moves = await self._assign()
                await self._listener.account_down(
                    account.name, reason, _moved_from(moves, account.name), final=final
                )
        self._wake_all()

    # -- placement ----------------------------------------------------------------------------

    async def _assign(self) -> list[Assignment]:
        moves = await self._book.assign()
        for move in moves:
            if move.after is None:
                logger.warning(
                    "Telegram channel %s has no account (%s); it was read by %s",
                    move.handle,
                    move.unassigned,
                    move.before or "none",
                )
            elif move.before is None:
                logger.info("Telegram channel %s is read by account %s", move.handle, move.after)
            else:
                logger.info(
                    "Telegram channel %s moves from account %s to %s",
                    move.handle,
                    move.before,
                    move.after,
                )
        return moves

    def _wake_all(self) -> None:
        for account in self._accounts:
            if account.source is not None:
                account.source.wake()


def _moved_from(moves: Sequence[Assignment], name: str) -> list[Assignment]:
    return [move for move in moves if move.before is not None and _same(move.before, name)]


def _moved_to(moves: Sequence[Assignment], name: str) -> list[Assignment]:
    return [move for move in moves if move.after is not None and _same(move.after, name)]


def _same(left: str, right: str) -> bool:
    return left.casefold() == right.casefold()


async def _disconnect(account: _Account) -> None:
    client, account.client = account.client, None
    if client is not None:
        with contextlib.suppress(Exception):
            await client.disconnect()
