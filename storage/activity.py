"""How much happened when: tallies per minute for trend charts and operators' statistics.

Counts come back per UTC minute rather than per day because a day is a day in the chat's
time zone, which SQL should not have to know; minutes fit every zone offset, and there are
at most 1,440 of them a day however busy it was. How a minute is spelled is the backend's
(`Dialect.minute`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.database import Database, Row, from_db, to_db
from storage.models import Tally


def _tallies(rows: Sequence[Row]) -> list[Tally]:
    return [
        Tally(minute=from_db(f"{row['minute']}:00+00:00"), count=int(row["n"]), key=row["key"])
        for row in rows
    ]


class Activity:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._minute = db.dialect.minute

    async def topic_matches(
        self, topic_ids: Sequence[int], since: datetime, until: datetime
    ) -> list[Tally]:
        """Posts published in [since, until) that matched each topic (`key` is its id)."""
        if not topic_ids:
            return []
        marks = ",".join("?" * len(topic_ids))
        minute = self._minute("p.date")
        rows = await self._db.fetchall(
            f"SELECT m.topic_id AS key, {minute} AS minute, count(*) AS n "
            "FROM matches m JOIN posts p ON p.id = m.post "
            f"WHERE m.topic_id IN ({marks}) AND p.date >= ? AND p.date < ? "
            f"GROUP BY m.topic_id, {minute}",
            (*topic_ids, to_db(since), to_db(until)),
        )
        return _tallies(rows)

    async def posts(self, since: datetime, until: datetime) -> list[Tally]:
        """Posts published in [since, until), in every watched channel."""
        minute = self._minute("date")
        rows = await self._db.fetchall(
            f"SELECT 0 AS key, {minute} AS minute, count(*) AS n FROM posts "
            f"WHERE date >= ? AND date < ? GROUP BY {minute}",
            (to_db(since), to_db(until)),
        )
        return _tallies(rows)

    async def matches(self, since: datetime, until: datetime) -> list[Tally]:
        """Matches (a post and one of its topics) of posts published in [since, until)."""
        minute = self._minute("p.date")
        rows = await self._db.fetchall(
            f"SELECT 0 AS key, {minute} AS minute, count(*) AS n "
            "FROM matches m JOIN posts p ON p.id = m.post "
            f"WHERE p.date >= ? AND p.date < ? GROUP BY {minute}",
            (to_db(since), to_db(until)),
        )
        return _tallies(rows)

    async def sent(self, kind: str, since: datetime, until: datetime) -> list[Tally]:
        """Messages of `kind` ('alert', 'digest', 'notice') Telegram accepted in [since, until)."""
        minute = self._minute("sent_at")
        rows = await self._db.fetchall(
            f"SELECT 0 AS key, {minute} AS minute, count(*) AS n "
            "FROM outbox WHERE status = 'sent' AND kind = ? AND sent_at >= ? AND sent_at < ? "
            f"GROUP BY {minute}",
            (kind, to_db(since), to_db(until)),
        )
        return _tallies(rows)
