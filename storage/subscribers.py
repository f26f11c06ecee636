"""Chats that receive alerts and digests: their settings and their topics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.database import Database, Row, from_db, now_utc, to_db
from storage.models import Subscriber

_COLUMNS = (
    "chat_id, chat_type, title, active, mode, quiet, digest_time, digest_period, timezone, "
    "last_digest_at, created_at, language, group_copies"
)
_SUB_COLUMNS = ", ".join(f"sub.{name.strip()}" for name in _COLUMNS.split(","))


def _subscriber(row: Row) -> Subscriber:
    return Subscriber(
        chat_id=row["chat_id"],
        chat_type=row["chat_type"],
        title=row["title"],
        active=bool(row["active"]),
        mode=row["mode"],
        quiet=bool(row["quiet"]),
        digest_time=row["digest_time"],
        digest_period=row["digest_period"],
        timezone=row["timezone"],
        last_digest_at=from_db(row["last_digest_at"]) if row["last_digest_at"] else None,
        created_at=from_db(row["created_at"]),
        language=row["language"],
        group_copies=bool(row["group_copies"]),
    )


class Subscribers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(
        self,
        chat_id: int,
        *,
        chat_type: str,
        title: str | None,
        digest_time: str,
        timezone: str,
        language: str | None = None,
    ) -> Subscriber:
        """The chat's subscriber row, created with the config's digest defaults if new.

        A chat that blocked the bot and talks to it again is active again. `language` is
        kept only while the chat has none: the first user to talk decides it.
        """
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO subscribers (chat_id, chat_type, title, digest_time, timezone, "
                "last_digest_at, created_at, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET active = 1, blocked_at = NULL, "
                "title = coalesce(excluded.title, subscribers.title), "
                "chat_type = excluded.chat_type, "
                "language = coalesce(subscribers.language, excluded.language)",
                (chat_id, chat_type, title, digest_time, timezone, now, now, language),
            )
        found = await self.get(chat_id)
        assert found is not None
        return found

    async def get(self, chat_id: int) -> Subscriber | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM subscribers WHERE chat_id = ?", (chat_id,)
        )
        return None if row is None else _subscriber(row)

    async def all_active(self) -> list[Subscriber]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM subscribers WHERE active = 1 ORDER BY chat_id"
        )
        return [_subscriber(row) for row in rows]

    async def subscribe(self, chat_id: int, topic_ids: Sequence[int]) -> int:
        """Add topics to the chat's subscriptions; returns how many were new."""
        added = 0
        async with self._db.transaction() as tx:
            for topic_id in topic_ids:
                added += await tx.execute(
                    "INSERT INTO subscriptions (chat_id, topic_id) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (chat_id, topic_id),
                )
        return added

    async def unsubscribe(self, chat_id: int, topic_ids: Sequence[int] | None = None) -> int:
        """Remove those topics (all when None); returns how many were removed."""
        if topic_ids is None:
            return await self._db.execute(
                "DELETE FROM subscriptions WHERE chat_id = ?", (chat_id,)
            )
        removed = 0
        async with self._db.transaction() as tx:
            for topic_id in topic_ids:
                removed += await tx.execute(
                    "DELETE FROM subscriptions WHERE chat_id = ? AND topic_id = ?",
                    (chat_id, topic_id),
                )
        return removed

    async def topic_ids(self, chat_id: int) -> set[int]:
        rows = await self._db.fetchall(
            "SELECT s.topic_id FROM subscriptions s JOIN topics t ON t.id = s.topic_id "
            "WHERE s.chat_id = ? AND t.removed_at IS NULL",
            (chat_id,),
        )
        return {row["topic_id"] for row in rows}

    async def for_topics(self, topic_names: Sequence[str]) -> list[tuple[Subscriber, set[str]]]:
        """Active chats subscribed to any of the topics, each once, with the case-folded
        names of those topics each one follows (fan-out asks once per post, not per chat)."""
        if not topic_names:
            return []
        marks = ",".join("?" * len(topic_names))
        rows = await self._db.fetchall(
            f"SELECT {_SUB_COLUMNS}, t.name AS topic FROM subscribers sub "
            "JOIN subscriptions s ON s.chat_id = sub.chat_id "
            "JOIN topics t ON t.id = s.topic_id "
            f"WHERE sub.active = 1 AND t.removed_at IS NULL AND t.name IN ({marks}) "
            "ORDER BY sub.chat_id",
            tuple(topic_names),
        )
        found: dict[int, tuple[Subscriber, set[str]]] = {}
        for row in rows:
            if row["chat_id"] not in found:
                found[row["chat_id"]] = (_subscriber(row), set())
            found[row["chat_id"]][1].add(row["topic"].casefold())
        return list(found.values())

    async def update(
        self,
        chat_id: int,
        *,
        mode: str | None = None,
        quiet: bool | None = None,
        digest_time: str | None = None,
        digest_period: str | None = None,
        timezone: str | None = None,
        language: str | None = None,
        group_copies: bool | None = None,
    ) -> None:
        changes: dict[str, object] = {
            "mode": mode,
            "quiet": None if quiet is None else int(quiet),
            "digest_time": digest_time,
            "digest_period": digest_period,
            "timezone": timezone,
            "language": language,
            "group_copies": None if group_copies is None else int(group_copies),
        }
        given = {column: value for column, value in changes.items() if value is not None}
        if not given:
            return
        assignments = ", ".join(f"{column} = ?" for column in given)
        await self._db.execute(
            f"UPDATE subscribers SET {assignments} WHERE chat_id = ?", (*given.values(), chat_id)
        )

    async def set_last_digest(self, chat_id: int, moment: datetime) -> None:
        await self._db.execute(
            "UPDATE subscribers SET last_digest_at = ? WHERE chat_id = ?",
            (to_db(moment), chat_id),
        )

    async def mark_blocked(self, chat_id: int, reason: str) -> None:
        """Stop sending to a chat that blocked the bot; its queued messages fail with reason."""
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE subscribers SET active = 0, blocked_at = ? WHERE chat_id = ?",
                (now, chat_id),
            )
            await tx.execute(
                "UPDATE outbox SET status = 'failed', last_error = ? "
                "WHERE chat_id = ? AND status = 'pending'",
                (reason, chat_id),
            )

    async def toggle_quiet(self, chat_id: int) -> bool:
        """Flip the chat's silent-delivery setting in one statement; returns the new value."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE subscribers SET quiet = 1 - quiet WHERE chat_id = ?", (chat_id,)
            )
            value = await tx.fetchone(
                "SELECT quiet FROM subscribers WHERE chat_id = ?", (chat_id,)
            )
        return value is not None and bool(value["quiet"])
