"""The running `chanwatch run` processes, each renewing its row with a heartbeat.

A process registers when it starts and deletes its row when it stops cleanly; one that was
killed leaves its row behind, and its heartbeat going stale is what tells the others (and
the operators in /stats) that it is gone. Leases (storage/leases.py) name their owner by
the id registered here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from storage.database import Database, from_db, now_utc, to_db
from storage.leases import release_all
from storage.models import ProcessInfo

FORGET_AFTER: Final = timedelta(days=1)
"""A row whose heartbeat is older than this is deleted when another process registers: its
process is long gone (killed, or its machine lost), and /stats no longer needs it."""


class Processes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, role: str, host: str, pid: int, *, capacity: int = 0) -> int:
        """A new row for this process; returns its id (the owner of its leases).

        `capacity`: how many web channels it may take (monitors; 0 for a bot)."""
        now = now_utc()
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM processes WHERE heartbeat_at < ?", (to_db(now - FORGET_AFTER),)
            )
            return await tx.insert(
                "INSERT INTO processes (role, host, pid, started_at, heartbeat_at, capacity) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (role, host, pid, to_db(now), to_db(now), capacity),
            )

    async def heartbeat(self, process_id: int, *, channels: int = 0) -> bool:
        """Record that the process is alive, reading `channels` channels; False when its row
        is gone (forgotten after a stall longer than FORGET_AFTER)."""
        changed = await self._db.execute(
            "UPDATE processes SET heartbeat_at = ?, channels = ? WHERE id = ?",
            (to_db(now_utc()), channels, process_id),
        )
        return changed > 0

    async def live(self, within_seconds: float) -> list[ProcessInfo]:
        """Processes whose heartbeat is at most `within_seconds` old, by role, then oldest
        first."""
        since = now_utc() - timedelta(seconds=within_seconds)
        rows = await self._db.fetchall(
            "SELECT id, role, host, pid, started_at, heartbeat_at, channels, capacity, office "
            "FROM processes "
            "WHERE heartbeat_at >= ? ORDER BY role, id",
            (to_db(since),),
        )
        return [
            ProcessInfo(
                id=row["id"],
                role=row["role"],
                host=row["host"],
                pid=row["pid"],
                started_at=from_db(row["started_at"]),
                heartbeat_at=from_db(row["heartbeat_at"]),
                channels=row["channels"],
                capacity=row["capacity"],
                office=row["office"],
            )
            for row in rows
        ]

    async def set_office(self, process_id: int, office: str | None) -> None:
        """Record what the process was elected to ("bot": the one that polls and sends), or
        None when it stands by.

        One process holds an office at a time (the election sees to it), so recording it
        takes it from any other row: a predecessor cut off from the database could not say
        that it lost it."""
        async with self._db.transaction() as tx:
            if office is not None:
                await tx.execute(
                    "UPDATE processes SET office = NULL WHERE office = ? AND id <> ?",
                    (office, process_id),
                )
            await tx.execute("UPDATE processes SET office = ? WHERE id = ?", (office, process_id))

    async def retire(self, process_id: int) -> None:
        """The process stops: its row goes and its leases are free for the others at once."""
        async with self._db.transaction() as tx:
            await release_all(tx, process_id)
            await tx.execute("DELETE FROM processes WHERE id = ?", (process_id,))
