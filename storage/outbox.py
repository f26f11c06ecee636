"""The durable queue of messages owed to chats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.coordination import DELIVERY
from storage.database import Database, Row, Writer, from_db, now_utc, to_db
from storage.models import NewMessage, OutboxItem, Stats, StoryAlert


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """A queued message and what became of it."""

    id: int
    chat_id: int
    kind: str
    dedup_key: str
    text: str
    status: str
    attempts: int
    last_error: str | None
    message_id: int | None


def _item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        chat_id=row["chat_id"],
        kind=row["kind"],
        text=row["text"],
        disable_notification=bool(row["disable_notification"]),
        attempts=row["attempts"],
        chart=row["chart"],
        target=row["target"],
    )


def _record(row: Row) -> OutboxRecord:
    return OutboxRecord(**{key: row[key] for key in row.keys()})  # noqa: SIM118


async def queue_messages(tx: Writer, messages: Sequence[NewMessage]) -> int:
    """Insert outbox rows inside the caller's transaction; known dedup keys are skipped."""
    now = to_db(now_utc())
    queued = 0
    for message in messages:
        queued += await tx.execute(
            "INSERT INTO outbox (chat_id, kind, dedup_key, text, disable_notification, "
            "chart, created_at, post, story, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (
                message.chat_id,
                message.kind,
                message.dedup_key,
                message.text,
                int(message.disable_notification),
                message.chart,
                now,
                message.post,
                message.story,
                message.target,
            ),
        )
    return queued


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(self, messages: Sequence[NewMessage]) -> int:
        """Queue messages; one whose dedup_key was queued before is skipped. Returns count."""
        async with self._db.transaction() as tx:
            queued = await queue_messages(tx, messages)
            if queued:
                # Notices queued by a monitor process are sent by the bot process.
                await tx.notify(DELIVERY, "outbox")
        return queued

    async def due(self, limit: int, now: datetime | None = None) -> list[OutboxItem]:
        """Pending messages whose retry time has come, oldest first."""
        rows = await self._db.fetchall(
            "SELECT id, chat_id, kind, text, disable_notification, attempts, chart, target "
            "FROM outbox "
            "WHERE status = 'pending' AND (not_before IS NULL OR not_before <= ?) "
            "ORDER BY id LIMIT ?",
            (to_db(now or now_utc()), limit),
        )
        return [_item(row) for row in rows]

    async def heads(self, limit: int, now: datetime | None = None) -> list[OutboxItem]:
        """The oldest pending message of each chat, when it is due, oldest first.

        Messages to one chat go out in order: while a chat's oldest message waits for a
        retry, its later ones wait too. One busy chat yields one row, not the whole batch.
        """
        rows = await self._db.fetchall(
            "SELECT o.id, o.chat_id, o.kind, o.text, o.disable_notification, o.attempts, "
            "o.chart, o.target FROM outbox o JOIN (SELECT min(id) AS id FROM outbox "
            "WHERE status = 'pending' GROUP BY chat_id) head ON head.id = o.id "
            "WHERE o.not_before IS NULL OR o.not_before <= ? ORDER BY o.id LIMIT ?",
            (to_db(now or now_utc()), limit),
        )
        return [_item(row) for row in rows]

    async def next_retry_at(self, after: datetime) -> datetime | None:
        """The earliest retry time of a pending message later than `after` (None: none)."""
        value = await self._db.scalar(
            "SELECT min(not_before) FROM outbox WHERE status = 'pending' AND not_before > ?",
            (to_db(after),),
        )
        return None if value is None else from_db(value)

    async def enqueue_digest(
        self, chat_id: int, messages: Sequence[NewMessage], until: datetime
    ) -> int:
        """Queue a digest's messages and move the chat's digest mark to `until`, atomically.

        A crash leaves either both or neither, so a match is never in two digests and never
        in none. Returns how many messages were queued (0 for an empty digest).
        """
        async with self._db.transaction() as tx:
            queued = await queue_messages(tx, messages)
            await tx.execute(
                "UPDATE subscribers SET last_digest_at = ? WHERE chat_id = ?",
                (to_db(until), chat_id),
            )
        return queued

    async def get(self, item_id: int) -> OutboxRecord | None:
        """One message with its delivery state (for tests and /stats details)."""
        row = await self._db.fetchone(
            "SELECT id, chat_id, kind, dedup_key, text, status, attempts, last_error, "
            "message_id FROM outbox WHERE id = ?",
            (item_id,),
        )
        return None if row is None else _record(row)

    async def for_chat(self, chat_id: int) -> list[OutboxRecord]:
        """Every message queued for a chat, oldest first, with its delivery state."""
        rows = await self._db.fetchall(
            "SELECT id, chat_id, kind, dedup_key, text, status, attempts, last_error, "
            "message_id FROM outbox WHERE chat_id = ? ORDER BY id",
            (chat_id,),
        )
        return [_record(row) for row in rows]

    async def next_due_at(self) -> datetime | None:
        """When the earliest postponed message may be retried (None: nothing postponed)."""
        value = await self._db.scalar(
            "SELECT min(not_before) FROM outbox WHERE status = 'pending'"
        )
        return None if value is None else from_db(value)

    async def mark_sent(self, item_id: int, message_id: int | None) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, "
            "attempts = attempts + 1 WHERE id = ?",
            (to_db(now_utc()), message_id, item_id),
        )

    async def postpone(self, item_id: int, until: datetime, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET not_before = ?, last_error = ?, attempts = attempts + 1 "
            "WHERE id = ?",
            (to_db(until), error, item_id),
        )

    async def story_alerts(self, story: int) -> dict[int, StoryAlert]:
        """By chat: the first alert each chat was queued of the story, with the text of its
        latest queued edit (or its own)."""
        alerts: dict[int, StoryAlert] = {}
        for row in await self._db.fetchall(
            "SELECT id, chat_id, kind, post, target, text FROM outbox "
            "WHERE story = ? AND kind IN ('alert', 'edit') ORDER BY id",
            (story,),
        ):
            alert = alerts.get(row["chat_id"])
            if row["kind"] == "alert" and alert is None:
                alerts[row["chat_id"]] = StoryAlert(row["id"], row["post"], row["text"])
            elif row["kind"] == "edit" and alert is not None and row["target"] == alert.id:
                alert.text = row["text"]
                alert.edits += 1
        return alerts

    async def edited_message(self, item_id: int) -> tuple[str, int | None]:
        """For an edit: the status of the alert it rewrites, and Telegram's id of that
        alert's message once it was sent ('missing' when the alert is gone)."""
        row = await self._db.fetchone(
            "SELECT a.status, a.message_id FROM outbox e JOIN outbox a ON a.id = e.target "
            "WHERE e.id = ?",
            (item_id,),
        )
        if row is None:
            return "missing", None
        return row["status"], row["message_id"]

    async def mark_failed(self, item_id: int, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'failed', last_error = ?, attempts = attempts + 1 "
            "WHERE id = ?",
            (error, item_id),
        )

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many messages are owed, and when the oldest of them was queued (metrics)."""
        row = await self._db.fetchone(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE status = 'pending'"
        )
        if row is None or not row["n"]:
            return 0, None
        return int(row["n"]), from_db(row["oldest"])

    async def pending_count(self) -> int:
        return int(
            await self._db.scalar("SELECT count(*) FROM outbox WHERE status = 'pending'") or 0
        )

    async def stats(self) -> Stats:
        row = await self._db.fetchone(
            "SELECT "
            " (SELECT count(*) FROM channels WHERE removed_at IS NULL) AS channels,"
            " (SELECT count(*) FROM posts) AS posts,"
            " (SELECT count(*) FROM matches) AS matches,"
            " (SELECT count(*) FROM subscribers) AS subscribers,"
            " (SELECT count(*) FROM subscribers WHERE active = 1) AS active_subscribers,"
            " (SELECT count(*) FROM outbox WHERE status = 'pending') AS queued,"
            " (SELECT count(*) FROM outbox WHERE status = 'failed') AS failed,"
            " (SELECT count(*) FROM outbox WHERE status = 'sent') AS sent"
        )
        assert row is not None
        return Stats(**{key: int(row[key]) for key in row.keys()})  # noqa: SIM118
