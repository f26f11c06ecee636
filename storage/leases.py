"""Leases: which monitor process reads which web channel, and runs which Telegram account.

A lease has an owner (a process id from storage/processes.py) and an expiry. The owner
renews its leases every few seconds; a lease that expired is free for any process to take,
so the channels of a monitor that died (even killed with no clean-up) are taken over by the
others within one lease period. Claims skip rows another process is claiming at the same
moment (`Dialect.skip_locked`), so monitors starting together never wait for each other
and never take the same channel.

A telegram channel has no lease of its own: it is read by whichever process holds the
lease of the account it is assigned to (storage/accounts.py), since a Telethon session
must never run in two processes at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from storage.database import Database, Writer, now_utc, to_db

_FREE: Final = "(lease_owner IS NULL OR lease_until < ?)"
"""Nobody holds it, or its holder stopped renewing it."""


class Leases:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold_channels(
        self, owner: int, source: str, *, want: int, seconds: float
    ) -> list[str]:
        """Renew `owner`'s leases on watched `source` channels for `seconds`, give back those
        beyond `want` (the newest), and claim free ones up to `want` (the oldest first).

        Returns the handles `owner` holds now, oldest channel first. A lease of `owner` that
        expired but that nobody took meanwhile is still its own (a process that stalled keeps
        its channels when it wakes up in time)."""
        now = now_utc()
        until = to_db(now + timedelta(seconds=seconds))
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE channels SET lease_until = ? "
                "WHERE lease_owner = ? AND source = ? AND removed_at IS NULL "
                "RETURNING id, handle",
                (until, owner, source),
            )
            held = sorted((row["id"], row["handle"]) for row in rows)
            if len(held) > want:
                extra = [channel_id for channel_id, _ in held[max(want, 0) :]]
                await _release(tx, owner, extra)
                held = held[: max(want, 0)]
            elif len(held) < want:
                claimed = await tx.fetchall(
                    "UPDATE channels SET lease_owner = ?, lease_until = ? WHERE id IN ("
                    " SELECT id FROM channels "
                    f" WHERE source = ? AND removed_at IS NULL AND {_FREE} "
                    f" ORDER BY id LIMIT ? {self._db.dialect.skip_locked()}"
                    ") RETURNING id, handle",
                    (owner, until, source, to_db(now), want - len(held)),
                )
                held = sorted(held + [(row["id"], row["handle"]) for row in claimed])
        return [handle for _, handle in held]

    async def hold_accounts(
        self, owner: int, names: Sequence[str], *, seconds: float
    ) -> list[str]:
        """Renew `owner`'s leases on the accounts `names` and claim those of them that are
        free; returns the names `owner` holds now (accounts not in `names` are given back)."""
        now = now_utc()
        until = to_db(now + timedelta(seconds=seconds))
        wanted = {name.casefold() for name in names}
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT id, name, lease_owner, lease_until FROM accounts "
                f"WHERE lease_owner = ? OR {_FREE} ORDER BY id {self._db.dialect.skip_locked()}",
                (owner, to_db(now)),
            )
            held: list[str] = []
            for row in rows:
                if row["name"].casefold() in wanted:
                    await tx.execute(
                        "UPDATE accounts SET lease_owner = ?, lease_until = ? WHERE id = ?",
                        (owner, until, row["id"]),
                    )
                    held.append(row["name"])
                elif row["lease_owner"] == owner:
                    await tx.execute(
                        "UPDATE accounts SET lease_owner = NULL, lease_until = NULL WHERE id = ?",
                        (row["id"],),
                    )
        return held

    async def channel_count(self, source: str) -> int:
        """How many channels of `source` are watched (all monitors' work together)."""
        return int(
            await self._db.scalar(
                "SELECT count(*) FROM channels WHERE source = ? AND removed_at IS NULL", (source,)
            )
            or 0
        )

    async def unheld(self, source: str) -> int:
        """Watched `source` channels that no live lease covers (no monitor reads them now)."""
        return int(
            await self._db.scalar(
                f"SELECT count(*) FROM channels WHERE source = ? AND removed_at IS NULL "
                f"AND {_FREE}",
                (source, to_db(now_utc())),
            )
            or 0
        )

    async def owners(self, source: str) -> dict[str, int]:
        """Each watched `source` channel under a live lease, with the process holding it."""
        rows = await self._db.fetchall(
            "SELECT handle, lease_owner FROM channels WHERE source = ? AND removed_at IS NULL "
            "AND lease_owner IS NOT NULL AND lease_until >= ? ORDER BY id",
            (source, to_db(now_utc())),
        )
        return {row["handle"]: row["lease_owner"] for row in rows}

    async def account_owners(self) -> dict[str, int]:
        """Each account under a live lease, with the process running it."""
        rows = await self._db.fetchall(
            "SELECT name, lease_owner FROM accounts "
            "WHERE lease_owner IS NOT NULL AND lease_until >= ? ORDER BY id",
            (to_db(now_utc()),),
        )
        return {row["name"]: row["lease_owner"] for row in rows}

    async def release(self, owner: int) -> None:
        """Give back every lease of `owner` (it stops reading; the others take over now)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE channels SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                (owner,),
            )
            await tx.execute(
                "UPDATE accounts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                (owner,),
            )


async def _release(tx: Writer, owner: int, channel_ids: Sequence[int]) -> None:
    for channel_id in channel_ids:
        await tx.execute(
            "UPDATE channels SET lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ?",
            (channel_id, owner),
        )
