"""Watched channels: the config's and the operators', with each one's cursor and health."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.coordination import CHANNELS
from storage.database import Database, Row, from_db, now_utc, to_db
from storage.models import Channel

_COLUMNS = (
    "c.id, c.handle, c.source, c.title, c.last_post_id, c.from_config, c.last_error, "
    "c.last_error_at, c.last_ok_at, a.name AS account, c.unassigned_reason"
)
_FROM = "channels c LEFT JOIN accounts a ON a.id = c.account_id"


def channel_key(handle: str) -> str:
    """The `Writer.lock` key of a channel: its row, cursor and posts change one at a time."""
    return f"channel:{handle.lower()}"


def _channel(row: Row, post_count: int = 0) -> Channel:
    return Channel(
        id=row["id"],
        handle=row["handle"],
        source=row["source"],
        title=row["title"],
        last_post_id=row["last_post_id"],
        from_config=bool(row["from_config"]),
        last_error=row["last_error"],
        last_error_at=from_db(row["last_error_at"]) if row["last_error_at"] else None,
        last_ok_at=from_db(row["last_ok_at"]) if row["last_ok_at"] else None,
        post_count=post_count,
        account=row["account"],
        unassigned=row["unassigned_reason"],
    )


class Channels:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync_config(self, channels: Sequence[tuple[str, str]]) -> None:
        """Make the config's (handle, source) pairs watched.

        A channel an operator removed stays removed; config channels that left the config
        stop being watched; channels operators added are left alone.
        """
        wanted = {handle.lower(): source for handle, source in channels}
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.lock(*(channel_key(handle) for handle in wanted))
            rows = await tx.fetchall(
                "SELECT handle, source, from_config, removed_at FROM channels"
            )
            known = {row["handle"].lower(): row for row in rows}
            for handle, source in channels:
                row = known.get(handle.lower())
                if row is None:
                    await tx.execute(
                        "INSERT INTO channels (handle, source, from_config, added_at) "
                        "VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING",
                        (handle, source, now),
                    )
                elif row["removed_at"] is None and row["source"] != source:
                    await tx.execute(
                        "UPDATE channels SET source = ? WHERE handle = ?", (source, handle)
                    )
            for handle, row in known.items():
                if row["from_config"] and row["removed_at"] is None and handle not in wanted:
                    # Not locked: the conditions are checked again as the row is written.
                    await tx.execute(
                        "UPDATE channels SET removed_at = ? "
                        "WHERE handle = ? AND from_config = 1 AND removed_at IS NULL",
                        (now, handle),
                    )
            await tx.notify(CHANNELS)

    async def add(self, handle: str, source: str) -> tuple[Channel, bool]:
        """Watch a channel; returns it and whether it was not watched before.

        A channel added again after removal starts over as first sight, so the posts it
        published meanwhile are stored as history instead of alerting all at once.
        """
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.lock(channel_key(handle))
            row = await tx.fetchone(
                "SELECT id, removed_at, source FROM channels WHERE handle = ?", (handle,)
            )
            if row is None:
                await tx.execute(
                    "INSERT INTO channels (handle, source, added_at) VALUES (?, ?, ?)",
                    (handle, source, now),
                )
                added = True
            elif row["removed_at"] is not None:
                await tx.execute(
                    "UPDATE channels SET removed_at = NULL, source = ?, last_post_id = NULL, "
                    "first_sight_post_id = NULL, from_config = 0, last_error = NULL, "
                    "last_error_at = NULL WHERE id = ?",
                    (source, row["id"]),
                )
                added = True
            else:
                added = row["source"] != source
                await tx.execute(
                    "UPDATE channels SET source = ? WHERE id = ?", (source, row["id"])
                )
            await tx.notify(CHANNELS)
        channel = await self.get(handle)
        assert channel is not None
        return channel, added

    async def remove(self, handle: str) -> bool:
        """Stop watching; its stored posts and matches stay searchable."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE channels SET removed_at = ? WHERE handle = ? AND removed_at IS NULL",
                (to_db(now_utc()), handle),
            )
            if changed:
                await tx.notify(CHANNELS)
        return changed > 0

    async def get(self, handle: str) -> Channel | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.handle = ? AND c.removed_at IS NULL",
            (handle,),
        )
        return None if row is None else _channel(row)

    async def watched(self) -> list[Channel]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS}, (SELECT count(*) FROM posts p WHERE p.channel_id = c.id) AS n "
            f"FROM {_FROM} WHERE c.removed_at IS NULL ORDER BY c.handle"
        )
        return [_channel(row, row["n"]) for row in rows]

    async def newest_posts(self) -> list[tuple[str, datetime | None]]:
        """Each watched channel with the publication time of its newest stored post."""
        rows = await self._db.fetchall(
            "SELECT c.handle, (SELECT p.date FROM posts p WHERE p.channel_id = c.id "
            "ORDER BY p.post_id DESC LIMIT 1) AS newest "
            "FROM channels c WHERE c.removed_at IS NULL ORDER BY c.handle"
        )
        return [(row["handle"], from_db(row["newest"]) if row["newest"] else None) for row in rows]

    async def handles(self, source: str) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT handle FROM channels WHERE source = ? AND removed_at IS NULL ORDER BY id",
            (source,),
        )
        return [row["handle"] for row in rows]

    async def last_post_id(self, handle: str) -> int | None:
        value = await self._db.scalar(
            "SELECT last_post_id FROM channels WHERE handle = ?", (handle,)
        )
        return None if value is None else int(value)

    async def ensure(self, handle: str, source: str, title: str | None = None) -> Channel:
        """The channel's row for storing posts (`import`); a new one is known but not watched."""
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.lock(channel_key(handle))
            await tx.execute(
                "INSERT INTO channels (handle, source, title, added_at, removed_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (handle, source, title, now, now),
            )
            if title:
                await tx.execute("UPDATE channels SET title = ? WHERE handle = ?", (title, handle))
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.handle = ?", (handle,)
        )
        assert row is not None
        return _channel(row)

    async def record_error(self, handle: str, message: str) -> bool:
        """Store a source error; True when the channel was healthy until now (worth telling).

        One outage is one piece of news: its retries and changing symptoms only update the
        stored text that /channels shows, so operators are not told again on every poll."""
        async with self._db.transaction() as tx:
            await tx.lock(channel_key(handle))
            row = await tx.fetchone("SELECT last_error FROM channels WHERE handle = ?", (handle,))
            if row is None:
                return False
            await tx.execute(
                "UPDATE channels SET last_error = ?, last_error_at = ? WHERE handle = ?",
                (message, to_db(now_utc()), handle),
            )
            return row["last_error"] is None

    async def record_ok(self, handle: str) -> bool:
        """Clear the error; True when there was one (the channel recovered)."""
        async with self._db.transaction() as tx:
            await tx.lock(channel_key(handle))
            row = await tx.fetchone("SELECT last_error FROM channels WHERE handle = ?", (handle,))
            await tx.execute(
                "UPDATE channels SET last_error = NULL, last_error_at = NULL, last_ok_at = ? "
                "WHERE handle = ?",
                (to_db(now_utc()), handle),
            )
            return row is not None and row["last_error"] is not None
