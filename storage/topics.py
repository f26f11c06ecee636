"""Topics and their terms, from the config and from operators."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.coordination import TOPICS
from storage.database import Database, Row, Writer, now_utc, to_db
from storage.models import Topic

KINDS = ("term", "require", "exclude")
TOPICS_KEY = "topics"
"""The `Writer.lock` key of every topic change: they are rare, and names are compared
case-insensitively in Python, so one at a time is simplest."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    terms: tuple[str, ...]
    require: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


async def _write_terms(tx: Writer, topic_id: int, spec: TopicSpec) -> None:
    await tx.execute("DELETE FROM topic_terms WHERE topic_id = ?", (topic_id,))
    rows = [
        (topic_id, kind, position, term)
        for kind, terms in zip(KINDS, (spec.terms, spec.require, spec.exclude), strict=True)
        for position, term in enumerate(terms)
    ]
    await tx.executemany(
        "INSERT INTO topic_terms (topic_id, kind, position, term) VALUES (?, ?, ?, ?)", rows
    )


async def _find(tx: Writer, name: str) -> Row | None:
    # SQLite's NOCASE folds only ASCII; topic names are mostly Cyrillic.
    rows = await tx.fetchall("SELECT id, name, removed_at FROM topics")
    for row in rows:
        if row["name"].casefold() == name.casefold():
            return row
    return None


class Topics:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync_config(self, specs: Sequence[TopicSpec]) -> None:
        """Config topics are created and kept in step with the file.

        One an operator removed stays removed; one an operator created under the same name
        keeps the operator's terms.
        """
        wanted = {spec.name.casefold() for spec in specs}
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.lock(TOPICS_KEY)
            rows = await tx.fetchall("SELECT id, name, from_config, removed_at FROM topics")
            known = {row["name"].casefold(): row for row in rows}
            for spec in specs:
                row = known.get(spec.name.casefold())
                if row is None:
                    topic_id = await tx.insert(
                        "INSERT INTO topics (name, from_config, created_at) VALUES (?, 1, ?) "
                        "RETURNING id",
                        (spec.name, now),
                    )
                    await _write_terms(tx, topic_id, spec)
                elif row["from_config"] and row["removed_at"] is None:
                    await _write_terms(tx, row["id"], spec)
            for key, row in known.items():
                if row["from_config"] and row["removed_at"] is None and key not in wanted:
                    await tx.execute(
                        "UPDATE topics SET removed_at = ? WHERE id = ?", (now, row["id"])
                    )
            await tx.notify(TOPICS)

    async def put(self, spec: TopicSpec) -> bool:
        """Create the topic or replace its terms; True when it is new."""
        now = to_db(now_utc())
        async with self._db.transaction() as tx:
            await tx.lock(TOPICS_KEY)
            row = await _find(tx, spec.name)
            if row is None:
                topic_id = await tx.insert(
                    "INSERT INTO topics (name, created_at) VALUES (?, ?) RETURNING id",
                    (spec.name, now),
                )
                created = True
            else:
                topic_id = row["id"]
                created = row["removed_at"] is not None
                await tx.execute(
                    "UPDATE topics SET removed_at = NULL, from_config = 0 WHERE id = ?",
                    (topic_id,),
                )
            await _write_terms(tx, topic_id, spec)
            await tx.notify(TOPICS)
        return created

    async def remove(self, name: str) -> bool:
        """Stop matching the topic; old matches stay in the database but are not shown."""
        async with self._db.transaction() as tx:
            await tx.lock(TOPICS_KEY)
            row = await _find(tx, name)
            if row is None or row["removed_at"] is not None:
                return False
            await tx.execute(
                "UPDATE topics SET removed_at = ? WHERE id = ?", (to_db(now_utc()), row["id"])
            )
            await tx.notify(TOPICS)
            return True

    async def live(self) -> list[Topic]:
        topics = await self._db.fetchall(
            "SELECT id, name, from_config FROM topics WHERE removed_at IS NULL ORDER BY id"
        )
        terms = await self._db.fetchall(
            "SELECT t.topic_id, t.kind, t.term FROM topic_terms t "
            "JOIN topics ON topics.id = t.topic_id AND topics.removed_at IS NULL "
            "ORDER BY t.topic_id, t.kind, t.position"
        )
        by_topic: dict[int, dict[str, list[str]]] = {}
        for row in terms:
            by_topic.setdefault(row["topic_id"], {}).setdefault(row["kind"], []).append(
                row["term"]
            )
        result = []
        for row in topics:
            parts = by_topic.get(row["id"], {})
            result.append(
                Topic(
                    id=row["id"],
                    name=row["name"],
                    terms=tuple(parts.get("term", ())),
                    require=tuple(parts.get("require", ())),
                    exclude=tuple(parts.get("exclude", ())),
                    from_config=bool(row["from_config"]),
                )
            )
        return result

    async def get(self, name: str) -> Topic | None:
        for topic in await self.live():
            if topic.name.casefold() == name.casefold():
                return topic
        return None
