"""Leases: which monitor process reads which web channel, and runs which Telegram account.

A lease is an owner (a process id from storage/processes.py) on the channel's or the
account's row, valid while that owner's heartbeat is fresh: renewing every lease of a
process is one write of its heartbeat, however many channels it holds. A lease whose owner's
heartbeat is older than the lease period (or whose owner's row is gone) is free for any
process to take, so the channels of a monitor that died (even killed with no clean-up) are
taken over by the others within one lease period. Claims skip rows another process is
claiming at the same moment (`Dialect.skip_locked`), so monitors starting together never
wait for each other and never take the same channel.

Every process passes the same lease period (`cluster.lease_seconds`): it is how old a
heartbeat may be before the owner counts as gone.

A telegram channel has no lease of its own: it is read by whichever process holds the
lease of the account it is assigned to (storage/accounts.py), since a Telethon session
must never run in two processes at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from storage.database import Database, Writer, now_utc, to_db

_FREE: Final = (
    "(t.lease_owner IS NULL OR NOT EXISTS (SELECT 1 FROM processes p "
    "WHERE p.id = t.lease_owner AND p.heartbeat_at >= ?))"
)
"""Nobody holds the row (aliased `t`), or its holder's heartbeat is older than the `?` (the
oldest heartbeat still alive) or gone."""


class Leases:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold_channels(
        self, owner: int, source: str, *, want: int, seconds: float
    ) -> list[str]:
        """Renew `owner`'s leases (its heartbeat) for `seconds`, give back the watched
        `source` channels it holds beyond `want` (the newest), and claim free ones up to
        `want` (the oldest first).

        Returns the handles `owner` holds now, oldest channel first (none when its process row
        is gone). A process that stalled past its lease keeps, when it wakes up, the channels
        nobody took meanwhile."""
        now = now_utc()
        alive = to_db(now - timedelta(seconds=seconds))
        async with self._db.transaction() as tx:
            if not await _beat(tx, owner, now):
                return []
            rows = await tx.fetchall(
                "SELECT id, handle FROM channels "
                "WHERE lease_owner = ? AND source = ? AND removed_at IS NULL ORDER BY id",
                (owner, source),
            )
            held = [(row["id"], row["handle"]) for row in rows]
            if len(held) > want:
                await _release(tx, "channels", owner, [i for i, _ in held[max(want, 0) :]])
                held = held[: max(want, 0)]
            elif len(held) < want:
                claimed = await tx.fetchall(
                    "UPDATE channels SET lease_owner = ? WHERE id IN ("
                    " SELECT t.id FROM channels t "
                    f" WHERE t.source = ? AND t.removed_at IS NULL AND {_FREE} "
                    f" ORDER BY t.id LIMIT ? {self._db.dialect.skip_locked()}"
                    ") RETURNING id, handle",
                    (owner, source, alive, want - len(held)),
                )
                held = sorted(held + [(row["id"], row["handle"]) for row in claimed])
        return [handle for _, handle in held]

    async def hold_accounts(
        self, owner: int, names: Sequence[str], *, seconds: float
    ) -> list[str]:
        """Renew `owner`'s leases (its heartbeat) and claim those of the accounts `names`
        that are free; returns the names `owner` holds now (accounts not in `names` are
        given back)."""
        now = now_utc()
        alive = to_db(now - timedelta(seconds=seconds))
        wanted = {name.casefold() for name in names}
        async with self._db.transaction() as tx:
            if not await _beat(tx, owner, now):
                return []
            # Its own rows are read without SKIP LOCKED: another transaction of this very
            # process (an account marked down) may hold them, and they are still its own.
            mine = await tx.fetchall(
                "SELECT id, name FROM accounts WHERE lease_owner = ? ORDER BY id", (owner,)
            )
            held: list[tuple[int, str]] = []
            for row in mine:
                if row["name"].casefold() in wanted:
                    held.append((row["id"], row["name"]))
                else:
                    await _release(tx, "accounts", owner, [row["id"]])
            free = await tx.fetchall(
                f"SELECT t.id, t.name FROM accounts t WHERE {_FREE} "
                f"ORDER BY t.id {self._db.dialect.skip_locked()}",
                (alive,),
            )
            for row in free:
                if row["name"].casefold() in wanted:
                    await tx.execute(
                        "UPDATE accounts SET lease_owner = ? WHERE id = ?", (owner, row["id"])
                    )
                    held.append((row["id"], row["name"]))
        return [name for _, name in sorted(held)]

    async def channel_count(self, source: str) -> int:
        """How many channels of `source` are watched (all monitors' work together)."""
        return int(
            await self._db.scalar(
                "SELECT count(*) FROM channels WHERE source = ? AND removed_at IS NULL", (source,)
            )
            or 0
        )

    async def unheld(self, source: str, *, seconds: float) -> int:
        """Watched `source` channels that no live process holds (nobody reads them now)."""
        alive = to_db(now_utc() - timedelta(seconds=seconds))
        return int(
            await self._db.scalar(
                "SELECT count(*) FROM channels t WHERE t.source = ? AND t.removed_at IS NULL "
                f"AND {_FREE}",
                (source, alive),
            )
            or 0
        )

    async def owners(self, source: str, *, seconds: float) -> dict[str, int]:
        """Each watched `source` channel that a live process holds, with that process."""
        alive = to_db(now_utc() - timedelta(seconds=seconds))
        rows = await self._db.fetchall(
            "SELECT t.handle, t.lease_owner FROM channels t "
            "JOIN processes p ON p.id = t.lease_owner "
            "WHERE t.source = ? AND t.removed_at IS NULL AND p.heartbeat_at >= ? ORDER BY t.id",
            (source, alive),
        )
        return {row["handle"]: row["lease_owner"] for row in rows}

    async def account_owners(self, *, seconds: float) -> dict[str, int]:
        """Each account that a live process holds, with that process."""
        alive = to_db(now_utc() - timedelta(seconds=seconds))
        rows = await self._db.fetchall(
            "SELECT t.name, t.lease_owner FROM accounts t "
            "JOIN processes p ON p.id = t.lease_owner "
            "WHERE p.heartbeat_at >= ? ORDER BY t.id",
            (alive,),
        )
        return {row["name"]: row["lease_owner"] for row in rows}


async def release_all(tx: Writer, owner: int) -> None:
    """Give back every lease of `owner` (it stops; the others take over now)."""
    for table in ("channels", "accounts"):
        await tx.execute(f"UPDATE {table} SET lease_owner = NULL WHERE lease_owner = ?", (owner,))


async def _beat(tx: Writer, owner: int, now: datetime) -> bool:
    """The owner's heartbeat, which renews all its leases; False when its row is gone."""
    changed = await tx.execute(
        "UPDATE processes SET heartbeat_at = ? WHERE id = ?", (to_db(now), owner)
    )
    return changed > 0


async def _release(tx: Writer, table: str, owner: int, ids: Sequence[int]) -> None:
    for row_id in ids:
        await tx.execute(
            f"UPDATE {table} SET lease_owner = NULL WHERE id = ? AND lease_owner = ?",
            (row_id, owner),
        )
