"""This monitor's share of the work, held through leases in the database.

Every few seconds the keeper renews the leases it holds and takes or gives back web
channels so that each live monitor holds an even share, none more than its capacity; it
also holds the leases of the Telegram accounts this process may run. The web source reads
the keeper as its watch list, so channels taken over start being polled at once, from the
last stored post id: what a dead monitor missed is caught up, and what it stored is not
stored (or alerted) again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Final

from storage import Store
from storage.database import now_utc
from storage.models import ProcessInfo

logger = logging.getLogger(__name__)

WEB: Final = "web"
MONITOR_ROLES: Final = ("all", "monitor")
"""The roles whose processes read channels."""


def share(total: int, monitors: Sequence[ProcessInfo], me: int) -> int:
    """How many of `total` channels process `me` should hold: the same level for every live
    monitor, none above its capacity, the lowest level at which they hold them all (or
    each its capacity, when together they cannot)."""
    capacities = [process.capacity for process in monitors]
    mine = next((process.capacity for process in monitors if process.id == me), 0)
    low, high = 0, max(capacities, default=0)
    while low < high:  # the smallest level whose capped shares add up to `total`
        level = (low + high) // 2
        if sum(min(capacity, level) for capacity in capacities) >= total:
            high = level
        else:
            low = level + 1
    return min(mine, low)


class LeaseKeeper:
    """Holds this process's web channels and Telegram accounts; a `WatchList` of its web
    channels."""

    def __init__(
        self,
        store: Store,
        owner: int,
        *,
        lease_seconds: float,
        capacity: int,
        accounts: Sequence[str] = (),
        on_change: Callable[[], None] = lambda: None,
        on_round: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self.owner = owner
        self._lease = lease_seconds
        self._capacity = capacity
        self._wanted_accounts = tuple(accounts)
        self._on_change = on_change
        self._on_round = on_round
        self._woken = asyncio.Event()
        self.web: list[str] = []
        self.accounts: list[str] = []
        self.accounts_changed = asyncio.Event()
        self.short = 0
        """Web channels beyond what the live monitors may take together."""

    @property
    def renew_seconds(self) -> float:
        return self._lease / 3

    def wake(self) -> None:
        """Look again now (channels were added or removed), not at the next renewal."""
        self._woken.set()

    async def hold(self) -> None:
        """Renew, then take or give back channels and accounts: one round."""
        live = [
            process
            for process in await self._store.processes.live(self._lease)
            if process.role in MONITOR_ROLES
        ]
        if not any(process.id == self.owner for process in live):
            # Not (yet) seen as live by the others: count this process in anyway.
            live.append(_me(self.owner, self._capacity))
        total = await self._store.leases.channel_count(WEB)
        want = share(total, live, self.owner)
        web = await self._store.leases.hold_channels(
            self.owner, WEB, want=want, seconds=self._lease
        )
        accounts = (
            await self._store.leases.hold_accounts(
                self.owner, self._wanted_accounts, seconds=self._lease
            )
            if self._wanted_accounts
            else []
        )
        changed = web != self.web
        if changed:
            gained = len(set(web) - set(self.web))
            lost = len(set(self.web) - set(web))
            logger.info(
                "web channels held=%d gained=%d gave_back=%d share=%d monitors=%d",
                len(web),
                gained,
                lost,
                want,
                len(live),
            )
        if [a.casefold() for a in accounts] != [a.casefold() for a in self.accounts]:
            logger.info("Telegram accounts held: %s", ", ".join(accounts) or "none")
            self.accounts = accounts
            self.accounts_changed.set()
        self.web = web
        room = sum(process.capacity for process in live)
        short = max(total - room, 0)
        if short and short != self.short:
            logger.warning(
                "%d web channels have no monitor with room (%d monitors take %d): raise "
                "cluster.web_channels or start another monitor",
                short,
                len(live),
                room,
            )
        self.short = short
        if changed:
            self._on_change()
        self._on_round()

    async def run(self) -> None:
        """Hold leases every `renew_seconds` (or when woken) until cancelled."""
        while True:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes as
            # the wait ends (a wake-up and the stop in one turn), and the loop never stops.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.renew_seconds):
                    await self._woken.wait()
            self._woken.clear()
            await self.hold()

    # WatchList (for the web source)

    async def channels(self, source: str) -> list[str]:
        return list(self.web) if source == WEB else []

    def held(self) -> int:
        return len(self.web)


def _me(owner: int, capacity: int) -> ProcessInfo:
    now = now_utc()
    return ProcessInfo(
        id=owner,
        role="monitor",
        host="",
        pid=0,
        started_at=now,
        heartbeat_at=now,
        channels=0,
        capacity=capacity,
    )
