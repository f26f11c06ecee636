"""Retention: deleting old posts and sent messages in small batches, and giving the space back.

Nothing that is still owed is ever deleted: a post whose alerts are not queued yet (a
`fanout` row), or whose match a digest subscriber has not had in a digest yet, stays
whatever its age. Messages in the outbox carry their own text, so pending alerts never
need their post.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from storage.database import EARLIEST, Database, Row, Writer, from_db, now_utc, to_db
from storage.search_index import SearchIndex

logger = logging.getLogger(__name__)

SENT_MESSAGE_DAYS: Final = 30
"""Sent (and failed) outbox rows are kept this long for /stats and troubleshooting."""
BATCH: Final = 500
"""Rows deleted per transaction: ingestion waits for one batch at most."""
PAUSE: Final = 0.05
"""Seconds between two batches, so that writers waiting for the lock get their turn."""

_UNMATCHED: Final = "NOT EXISTS (SELECT 1 FROM matches m WHERE m.post = p.id)"
_MATCHED: Final = "EXISTS (SELECT 1 FROM matches m WHERE m.post = p.id)"
_NOT_OWED: Final = (
    "NOT EXISTS (SELECT 1 FROM fanout f WHERE f.post = p.id) "
    # A digest still owes the post when a digest subscriber of one of its topics has not
    # had a digest since it matched (bot.digests: the window after last_digest_at).
    "AND NOT (p.is_history = 0 AND EXISTS ("
    "  SELECT 1 FROM matches m "
    "  JOIN topics t ON t.id = m.topic_id AND t.removed_at IS NULL "
    "  JOIN subscriptions s ON s.topic_id = m.topic_id "
    "  JOIN subscribers sub ON sub.chat_id = s.chat_id "
    "  WHERE m.post = p.id AND sub.active = 1 AND sub.mode IN ('digest', 'both') "
    "  AND (sub.last_digest_at IS NULL OR m.matched_at > sub.last_digest_at)))"
)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_days: int = 0
    """Posts that matched no topic are deleted this many days after publication (0: never)."""
    keep_matched_days: int = 0
    """Posts with matches are deleted this many days after publication (0: never)."""

    @property
    def deletes_posts(self) -> bool:
        return bool(self.keep_days or self.keep_matched_days)


@dataclass(frozen=True, slots=True)
class RetentionRun:
    """What one pass removed."""

    ran_at: datetime
    posts: int
    """Posts that matched nothing."""
    matched_posts: int
    messages: int
    """Sent or failed outbox rows."""
    freed_bytes: int
    """How much smaller the database file became."""


@dataclass(frozen=True, slots=True)
class RetentionTotals:
    runs: int
    posts: int
    matched_posts: int
    messages: int
    freed_bytes: int


class Retention:
    def __init__(self, db: Database, index: SearchIndex) -> None:
        self._db = db
        self._index = index

    async def run(
        self,
        policy: RetentionPolicy,
        *,
        now: datetime | None = None,
        batch: int = BATCH,
        pause: float = PAUSE,
    ) -> RetentionRun:
        """Delete what the policy says is due, give the space back, and record the pass."""
        now = now or now_utc()
        started = time.monotonic()
        size_before = await self._db.size()
        posts = matched = 0
        if policy.keep_days:
            cutoff = to_db(now - timedelta(days=policy.keep_days))
            posts = await self._delete_posts(_UNMATCHED, cutoff, batch, pause)
        if policy.keep_matched_days:
            cutoff = to_db(now - timedelta(days=policy.keep_matched_days))
            matched = await self._delete_posts(_MATCHED, cutoff, batch, pause)
        messages = await self._delete_messages(
            to_db(now - timedelta(days=SENT_MESSAGE_DAYS)), batch, pause
        )
        await self._give_space_back(pause)
        freed = max(0, size_before - await self._db.size())
        report = RetentionRun(now, posts, matched, messages, freed)
        await self._db.execute(
            "INSERT INTO retention_runs (ran_at, posts, matched_posts, messages, freed_bytes) "
            "VALUES (?, ?, ?, ?, ?)",
            (to_db(now), posts, matched, messages, freed),
        )
        logger.info(
            "retention: deleted posts=%d matched_posts=%d messages=%d freed_bytes=%d seconds=%.1f",
            posts,
            matched,
            messages,
            freed,
            time.monotonic() - started,
        )
        return report

    async def last_run(self) -> RetentionRun | None:
        row = await self._db.fetchone(
            "SELECT ran_at, posts, matched_posts, messages, freed_bytes FROM retention_runs "
            "ORDER BY id DESC LIMIT 1"
        )
        return None if row is None else _run(row)

    async def totals(self) -> RetentionTotals:
        row = await self._db.fetchone(
            "SELECT count(*) AS runs, coalesce(sum(posts), 0) AS posts, "
            "coalesce(sum(matched_posts), 0) AS matched_posts, "
            "coalesce(sum(messages), 0) AS messages, "
            "coalesce(sum(freed_bytes), 0) AS freed_bytes FROM retention_runs"
        )
        assert row is not None
        return RetentionTotals(**{key: int(row[key]) for key in row.keys()})  # noqa: SIM118

    async def _delete_posts(self, which: str, cutoff: str, batch: int, pause: float) -> int:
        """Delete posts published before `cutoff` that `which` selects and nothing owes,
        oldest first, one batch per transaction; returns how many."""
        deleted = 0
        # (date, id) of the last post looked at: each batch starts there rather than at the
        # oldest post again, past the owed and the kept ones.
        after = (to_db(EARLIEST), 0)
        while True:
            async with self._db.transaction() as tx:
                rows = await tx.fetchall(
                    "SELECT p.id, p.date, p.text FROM posts p "
                    "WHERE p.date >= ? AND p.date < ? AND NOT (p.date = ? AND p.id <= ?) "
                    f"AND {which} AND {_NOT_OWED} ORDER BY p.date, p.id LIMIT ?",
                    (after[0], cutoff, after[0], after[1], batch),
                )
                if not rows:
                    return deleted
                await self._delete_rows(tx, rows)
            deleted += len(rows)
            after = (rows[-1]["date"], rows[-1]["id"])
            await asyncio.sleep(pause)

    async def _delete_rows(self, tx: Writer, rows: list[Row]) -> None:
        await self._index.remove(tx, [(row["id"], row["text"]) for row in rows])
        # Matches go with their posts (ON DELETE CASCADE).
        await tx.execute(
            f"DELETE FROM posts WHERE id IN ({','.join('?' * len(rows))})",
            [row["id"] for row in rows],
        )

    async def _delete_messages(self, cutoff: str, batch: int, pause: float) -> int:
        deleted = 0
        while True:
            async with self._db.transaction() as tx:
                count = await tx.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                    "WHERE status IN ('sent', 'failed') AND coalesce(sent_at, created_at) < ? "
                    "LIMIT ?)",
                    (cutoff, batch),
                )
            deleted += count
            if count < batch:
                return deleted
            await asyncio.sleep(pause)

    async def _give_space_back(self, pause: float) -> None:
        """Merge the search index's segments (deleted entries take space until merged),
        then hand the free pages back to the file system."""
        while await self._index.merge_step():  # noqa: ASYNC110 - steps of work, not a wait
            await asyncio.sleep(pause)
        await self._db.shrink(pause=pause)


def _run(row: Row) -> RetentionRun:
    return RetentionRun(
        ran_at=from_db(row["ran_at"]),
        posts=row["posts"],
        matched_posts=row["matched_posts"],
        messages=row["messages"],
        freed_bytes=row["freed_bytes"],
    )
