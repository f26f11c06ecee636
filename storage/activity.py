"""How much happened when: tallies per minute for trend charts and operators' statistics.

Counts come back per UTC minute rather than per day because a day is a day in the chat's
time zone, which SQL should not have to know; minutes fit every zone offset, and there are
at most 1,440 of them a day however busy it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.database import Database, Row, from_db, to_db
from storage.models import Tally

_MINUTE = 16
"""Length of "YYYY-MM-DDTHH:MM", the minute prefix of the stored ISO timestamps."""


def _tallies(rows: Sequence[Row]) -> list[Tally]:
    return [
        Tally(minute=from_db(f"{row['minute']}:00+00:00"), count=int(row["n"]), key=row["key"])
        for row in rows
    ]


class Activity:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def topic_matches(
        self, topic_ids: Sequence[int], since: datetime, until: datetime
    ) -> list[Tally]:
        """Posts published in [since, until) that matched each topic (`key` is its id)."""
        if not topic_ids:
            return []
        marks = ",".join("?" * len(topic_ids))
        rows = await self._db.fetchall(
            f"SELECT m.topic_id AS key, substr(p.date, 1, {_MINUTE}) AS minute, count(*) AS n "
            "FROM matches m JOIN posts p ON p.id = m.post "
            f"WHERE m.topic_id IN ({marks}) AND p.date >= ? AND p.date < ? "
            f"GROUP BY m.topic_id, substr(p.date, 1, {_MINUTE})",
            (*topic_ids, to_db(since), to_db(until)),
        )
        return _tallies(rows)

    async def posts(self, since: datetime, until: datetime) -> list[Tally]:
        """Posts published in [since, until), in every watched channel."""
        rows = await self._db.fetchall(
            f"SELECT 0 AS key, substr(date, 1, {_MINUTE}) AS minute, count(*) AS n FROM posts "
            f"WHERE date >= ? AND date < ? GROUP BY substr(date, 1, {_MINUTE})",
            (to_db(since), to_db(until)),
        )
        return _tallies(rows)

    async def matches(self, since: datetime, until: datetime) -> list[Tally]:
        """Matches (a post and one of its topics) of posts published in [since, until)."""
        rows = await self._db.fetchall(
            f"SELECT 0 AS key, substr(p.date, 1, {_MINUTE}) AS minute, count(*) AS n "
            "FROM matches m JOIN posts p ON p.id = m.post "
            f"WHERE p.date >= ? AND p.date < ? GROUP BY substr(p.date, 1, {_MINUTE})",
            (to_db(since), to_db(until)),
        )
        return _tallies(rows)

    async def sent(self, kind: str, since: datetime, until: datetime) -> list[Tally]:
        """Messages of `kind` ('alert', 'digest', 'notice') Telegram accepted in [since, until)."""
        rows = await self._db.fetchall(
            f"SELECT 0 AS key, substr(sent_at, 1, {_MINUTE}) AS minute, count(*) AS n "
            "FROM outbox WHERE status = 'sent' AND kind = ? AND sent_at >= ? AND sent_at < ? "
            f"GROUP BY substr(sent_at, 1, {_MINUTE})",
            (kind, to_db(since), to_db(until)),
        )
        return _tallies(rows)
