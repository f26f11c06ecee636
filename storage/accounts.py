"""Telegram accounts and which one reads each telegram channel.

The assignment lives here, not in a running source, so that it survives restarts (a channel is
joined by one account once, not again at every start) and so that every process that reads
channels sees the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from storage.database import Database, Row, from_db, now_utc, to_db
from storage.models import UNASSIGNED_FULL, UNASSIGNED_NO_ACCOUNT, Account, Assignment

_READ: Final = "c.source = 'telegram' AND c.removed_at IS NULL"
"""The channels an account can hold: watched and read through Telegram."""
ACCOUNTS_KEY: Final = "accounts"
"""The `Writer.lock` key of the accounts and of which channel each one reads."""


class Accounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync_config(self, names: Sequence[str], capacity: int) -> None:
        """Make `names` the configured accounts, each holding at most `capacity` channels.

        An account that left the config keeps its row (configured = 0) until `assign()` has
        moved its channels; a new one starts as working.
        """
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.lock(ACCOUNTS_KEY)
            for name in names:
                await tx.execute(
                    "INSERT INTO accounts (name, capacity, added_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO NOTHING",
                    (name, capacity, now),
                )
            rows = await tx.fetchall("SELECT id, name FROM accounts")
            wanted = {name.casefold() for name in names}
            for row in rows:
                listed = row["name"].casefold() in wanted
                await tx.execute(
                    "UPDATE accounts SET configured = ?, capacity = ? WHERE id = ?",
                    (int(listed), capacity, row["id"]),
                )

    async def mark_down(self, name: str, reason: str) -> bool:
        """Record that an account stopped working; True when it was working until now.

        The first reason is kept: an account banned yesterday that fails to open today is
        still best described as banned."""
        changed = await self._db.execute(
            "UPDATE accounts SET down_reason = ?, down_at = ? "
            "WHERE name = ? AND down_reason IS NULL",
            (reason, to_db(now_utc()), name),
        )
        return changed > 0

    async def mark_up(self, name: str) -> bool:
        """Record that an account works; True when it was down until now."""
        changed = await self._db.execute(
            "UPDATE accounts SET down_reason = NULL, down_at = NULL "
            "WHERE name = ? AND down_reason IS NOT NULL",
            (name,),
        )
        return changed > 0

    async def assign(self) -> list[Assignment]:
        """Give every telegram channel a working account with room; returns what changed.

        A channel stays with its account while that account is configured, working and within
        its capacity (the oldest channels keep their place when it shrank). The others go,
        oldest first, to the working account with the fewest channels, so accounts added later
        fill up with new channels instead of taking channels that are already read. A channel
        with no room anywhere is left unassigned with the reason.
        """
        async with self._db.transaction() as tx:
            await tx.lock(ACCOUNTS_KEY)  # placements decided from one reading, one at a time
            accounts = await tx.fetchall(
                "SELECT id, name, capacity, configured, down_reason FROM accounts ORDER BY id"
            )
            names = {row["id"]: row["name"] for row in accounts}
            capacity = {
                row["id"]: row["capacity"]
                for row in accounts
                if row["configured"] and row["down_reason"] is None
            }
            # Removed channels and web channels free their place.
            await tx.execute(
                "UPDATE channels SET account_id = NULL, unassigned_reason = NULL "
                "WHERE (removed_at IS NOT NULL OR source <> 'telegram') "
                "AND (account_id IS NOT NULL OR unassigned_reason IS NOT NULL)"
            )
            rows = await tx.fetchall(
                "SELECT c.id, c.handle, c.account_id, c.unassigned_reason FROM channels c "
                f"WHERE {_READ} ORDER BY c.id"
            )
            load = dict.fromkeys(capacity, 0)
            homeless: list[Row] = []
            for row in rows:
                held = row["account_id"]
                if held in capacity and load[held] < capacity[held]:
                    load[held] += 1
                else:
                    homeless.append(row)
            changes: list[Assignment] = []
            for row in homeless:
                room = [account for account in capacity if load[account] < capacity[account]]
                target: int | None = None
                reason: str | None = UNASSIGNED_FULL if capacity else UNASSIGNED_NO_ACCOUNT
                if room:
                    target = min(room, key=lambda account: (load[account], account))
                    load[target] += 1
                    reason = None
                if (target, reason) != (row["account_id"], row["unassigned_reason"]):
                    await tx.execute(
                        "UPDATE channels SET account_id = ?, unassigned_reason = ? WHERE id = ?",
                        (target, reason, row["id"]),
                    )
                if target != row["account_id"]:
                    changes.append(
                        Assignment(
                            handle=row["handle"],
                            before=names.get(row["account_id"]),
                            after=names.get(target) if target is not None else None,
                            unassigned=reason,
                        )
                    )
            return changes

    async def handles(self, name: str) -> list[str]:
        """The channels `name` reads, in the order they were added."""
        rows = await self._db.fetchall(
            "SELECT c.handle FROM channels c JOIN accounts a ON a.id = c.account_id "
            f"WHERE a.name = ? AND {_READ} ORDER BY c.id",
            (name,),
        )
        return [row["handle"] for row in rows]

    async def configured(self) -> list[Account]:
        """The configured accounts with their load, in the order they were first seen."""
        rows = await self._db.fetchall(
            "SELECT a.name, a.capacity, a.down_reason, a.down_at, "
            f" (SELECT count(*) FROM channels c WHERE c.account_id = a.id AND {_READ}) AS n "
            "FROM accounts a WHERE a.configured = 1 ORDER BY a.id"
        )
        return [
            Account(
                name=row["name"],
                capacity=row["capacity"],
                channels=row["n"],
                down_reason=row["down_reason"],
                down_at=from_db(row["down_at"]) if row["down_at"] else None,
            )
            for row in rows
        ]
