"""Posts, their matches, full-text search and the queries that read them back."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from storage.channels import channel_key
from storage.database import EARLIEST, Database, Row, Writer, from_db, now_utc, to_db
from storage.models import NewMessage, PostRecord, SaveResult, StoredPost, TopicHit
from storage.outbox import queue_messages
from storage.search_index import SearchIndex

logger = logging.getLogger(__name__)

_CHUNK: Final = 500
"""Ids per `IN (...)` list: well below either backend's limit on bound parameters."""

_POST_COLUMNS = (
    "p.id, p.post_id, p.date, p.text, p.edit_date, c.handle AS channel_handle, "
    "c.title AS channel_title"
)


def _post(row: Row, hits: tuple[TopicHit, ...] = ()) -> StoredPost:
    return StoredPost(
        id=row["id"],
        channel_handle=row["channel_handle"],
        channel_title=row["channel_title"],
        post_id=row["post_id"],
        date=from_db(row["date"]),
        text=row["text"],
        edit_date=from_db(row["edit_date"]) if row["edit_date"] else None,
        hits=hits,
    )


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else to_db(moment)


async def _channel_and_rows(
    tx: Writer, handle: str, post_ids: Sequence[int]
) -> tuple[Row, dict[int, tuple[int, str]]] | None:
    """The channel's row (id, cursor, first sight) and the row id and text of those of
    `post_ids` that are stored, by post_id; None for an unknown channel. A batch of up to
    500 posts takes one query."""
    first, rest = post_ids[:_CHUNK], post_ids[_CHUNK:]
    stored_posts = f"AND p.post_id IN ({','.join('?' * len(first))})" if first else "AND 0 = 1"
    rows = await tx.fetchall(
        "SELECT c.id, c.last_post_id, c.first_sight_post_id, p.id AS post, p.post_id, p.text "
        f"FROM channels c LEFT JOIN posts p ON p.channel_id = c.id {stored_posts} "
        "WHERE c.handle = ?",
        (*first, handle),
    )
    if not rows:
        return None
    channel = rows[0]
    found = {row["post_id"]: (row["post"], row["text"]) for row in rows if row["post"] is not None}
    for start in range(0, len(rest), _CHUNK):
        chunk = rest[start : start + _CHUNK]
        for row in await tx.fetchall(
            f"SELECT id, post_id, text FROM posts WHERE channel_id = ? AND post_id IN "
            f"({','.join('?' * len(chunk))})",
            (channel["id"], *chunk),
        ):
            found[row["post_id"]] = (row["id"], row["text"])
    return channel, found


async def _write_matches(
    tx: Writer,
    post: int,
    record: PostRecord,
    is_history: bool,
    topic_ids: dict[str, int],
    now: str,
) -> int:
    """Insert or refresh the post's matches, and owe alerts for the new ones unless it is
    history; returns how many topics are newly matched."""
    wanted = {
        topic_ids[m.topic.casefold()]: m for m in record.matches if m.topic.casefold() in topic_ids
    }
    existing = {
        row["topic_id"]
        for row in await tx.fetchall("SELECT topic_id FROM matches WHERE post = ?", (post,))
    }
    stale = existing - wanted.keys()
    for topic_id in stale:
        await tx.execute("DELETE FROM matches WHERE post = ? AND topic_id = ?", (post, topic_id))
    new = 0
    for topic_id, match in wanted.items():
        terms = json.dumps(list(match.terms), ensure_ascii=False)
        spans = json.dumps([list(span) for span in match.spans])
        if topic_id in existing:
            await tx.execute(
                "UPDATE matches SET terms = ?, spans = ? WHERE post = ? AND topic_id = ?",
                (terms, spans, post, topic_id),
            )
        else:
            await tx.execute(
                "INSERT INTO matches (post, topic_id, terms, spans, matched_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (post, topic_id, terms, spans, now),
            )
            new += 1
    if new and not is_history:
        await tx.execute(
            "INSERT INTO fanout (post, queued_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (post, now),
        )
    return new


async def _add_matches(
    tx: Writer,
    posts: Sequence[tuple[int, PostRecord, bool]],
    topic_ids: dict[str, int],
    now: str,
) -> int:
    """`_write_matches` for new posts (post row id, record, is it history), which have no
    matches yet: one statement per table for them all. Returns how many are new."""
    matches = []
    owed = []
    for post, record, is_history in posts:
        wanted = {
            topic_ids[m.topic.casefold()]: m
            for m in record.matches
            if m.topic.casefold() in topic_ids
        }
        for topic_id, match in wanted.items():
            terms = json.dumps(list(match.terms), ensure_ascii=False)
            spans = json.dumps([list(span) for span in match.spans])
            matches.append((post, topic_id, terms, spans, now))
        if wanted and not is_history:
            owed.append((post, now))
    await tx.executemany(
        "INSERT INTO matches (post, topic_id, terms, spans, matched_at) VALUES (?, ?, ?, ?, ?)",
        matches,
    )
    await tx.executemany(
        "INSERT INTO fanout (post, queued_at) VALUES (?, ?) ON CONFLICT DO NOTHING", owed
    )
    return len(matches)


class Posts:
    def __init__(self, db: Database, index: SearchIndex) -> None:
        self._db = db
        self._index = index

    async def known_texts(self, handle: str, post_ids: Sequence[int]) -> dict[int, str]:
        """Stored text of those posts of a channel that are already stored."""
        if not post_ids:
            return {}
        marks = ",".join("?" * len(post_ids))
        rows = await self._db.fetchall(
            f"SELECT p.post_id, p.text FROM posts p JOIN channels c ON c.id = p.channel_id "
            f"WHERE c.handle = ? AND p.post_id IN ({marks})",
            (handle, *post_ids),
        )
        return {row["post_id"]: row["text"] for row in rows}

    async def save(
        self,
        handle: str,
        records: Sequence[PostRecord],
        *,
        history: bool,
        title: str | None = None,
    ) -> SaveResult:
        """Store new posts and edits with their matches, and advance the channel's cursor.

        Everything happens in one transaction: a crash leaves either the whole batch with
        its owed alerts (the `fanout` rows) or none of it. An empty batch still marks the
        channel as read, so its first sight is not repeated.

        A post at or below the channel's first-sight mark (the newest post id of its first
        read, which this call records) is history even when handed as live: whatever a server
        or a source returns, a post older than chanwatch's first look is never alerted.
        """
        # The same post twice in one batch is stored once, as it was last handed.
        records = list({record.post_id: record for record in records}.values())
        new_posts = edited = new_matches = demoted = 0
        async with self._db.transaction() as tx:
            # Another save of this channel (an import beside `run`) waits: both read what is
            # stored and the cursor first. Stamped once the lock is held, so the stamp is at
            # most one transaction older than the commit (digest windows rely on it, see
            # bot.digests.SETTLE).
            await tx.lock(channel_key(handle))
            now = to_db(now_utc())
            found = await _channel_and_rows(tx, handle, [r.post_id for r in records])
            if found is None:
                logger.warning("posts for unknown channel %s were not stored", handle)
                return SaveResult(0, 0, 0)
            channel, stored = found
            first_sight: int | None = channel["first_sight_post_id"]
            if channel["last_post_id"] is None:
                # This is the channel's first read: everything in it is what was there before.
                first_sight = max((r.post_id for r in records), default=0)
            topic_ids: dict[str, int] = {}
            if any(record.matches for record in records):
                live = await tx.fetchall("SELECT id, name FROM topics WHERE removed_at IS NULL")
                topic_ids = {row["name"].casefold(): row["id"] for row in live}
            fresh: list[tuple[PostRecord, bool]] = []
            for record in records:
                is_history = history or (first_sight is not None and record.post_id <= first_sight)
                if record.post_id not in stored:
                    demoted += int(is_history and not history)
                    fresh.append((record, is_history))
                    continue
                post, text = stored[record.post_id]
                if text != record.text:
                    await tx.execute(
                        "UPDATE posts SET text = ?, edit_date = ? WHERE id = ?",
                        (record.text, _moment(record.edit_date), post),
                    )
                    await self._index.replace(tx, post, text, record.lemmas)
                    edited += 1
                    new_matches += await _write_matches(
                        tx, post, record, is_history, topic_ids, now
                    )
            # New posts in one statement per 500 that hands their ids back, and everything
            # else about them in one statement per table: at thousands of posts a second,
            # each statement's trip to the database counts.
            created: dict[int, int] = {}
            for start in range(0, len(fresh), _CHUNK):
                chunk = fresh[start : start + _CHUNK]
                rows = await tx.fetchall(
                    "INSERT INTO posts (channel_id, post_id, date, text, edit_date, is_history, "
                    "stored_at) VALUES "
                    + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                    + " RETURNING id, post_id",
                    [
                        value
                        for record, is_history in chunk
                        for value in (
                            channel["id"],
                            record.post_id,
                            to_db(record.date),
                            record.text,
                            _moment(record.edit_date),
                            int(is_history),
                            now,
                        )
                    ],
                )
                created.update((row["post_id"], row["id"]) for row in rows)
            new_posts = len(fresh)
            await self._index.add(tx, [(created[r.post_id], r.lemmas) for r, _ in fresh])
            new_matches += await _add_matches(
                tx, [(created[r.post_id], r, h) for r, h in fresh], topic_ids, now
            )
            newest = max((r.post_id for r in records), default=0)
            # As executemany, which nobody waits for: it may travel with the commit.
            await tx.executemany(
                "UPDATE channels SET last_post_id = CASE WHEN last_post_id > ? "
                "THEN last_post_id ELSE ? END, first_sight_post_id = ?, "
                "title = coalesce(?, title) WHERE id = ?",
                [(newest, newest, first_sight, title, channel["id"])],
            )
        return SaveResult(new_posts, edited, new_matches, demoted, first_sight)

    async def _hits(
        self, posts: Sequence[int], chat_id: int | None = None
    ) -> dict[int, tuple[TopicHit, ...]]:
        """Live topics each post matched; only the chat's subscribed topics when given."""
        if not posts:
            return {}
        marks = ",".join("?" * len(posts))
        params: list[object] = list(posts)
        only_subscribed = ""
        if chat_id is not None:
            only_subscribed = (
                "AND m.topic_id IN (SELECT topic_id FROM subscriptions WHERE chat_id = ?)"
            )
            params.append(chat_id)
        rows = await self._db.fetchall(
            f"SELECT m.post, t.name, m.terms, m.spans FROM matches m "
            f"JOIN topics t ON t.id = m.topic_id AND t.removed_at IS NULL "
            f"WHERE m.post IN ({marks}) {only_subscribed} ORDER BY t.id",
            params,
        )
        hits: dict[int, list[TopicHit]] = {}
        for row in rows:
            hits.setdefault(row["post"], []).append(
                TopicHit(
                    topic=row["name"],
                    terms=tuple(json.loads(row["terms"])),
                    spans=tuple((int(a), int(b)) for a, b in json.loads(row["spans"])),
                )
            )
        return {post: tuple(found) for post, found in hits.items()}

    async def _with_hits(self, rows: Sequence[Row], chat_id: int | None) -> list[StoredPost]:
        hits = await self._hits([row["id"] for row in rows], chat_id)
        return [_post(row, hits.get(row["id"], ())) for row in rows]

    async def recent(self, limit: int, *, chat_id: int | None = None) -> list[StoredPost]:
        """The newest matched posts, for the chat's topics when given, newest first."""
        if chat_id is None:
            topics = "SELECT id FROM topics WHERE removed_at IS NULL"
            params: tuple[object, ...] = (limit,)
        else:
            topics = (
                "SELECT s.topic_id FROM subscriptions s JOIN topics t ON t.id = s.topic_id "
                "WHERE s.chat_id = ? AND t.removed_at IS NULL"
            )
            params = (chat_id, limit)
        rows = await self._db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            f"WHERE p.id IN (SELECT post FROM matches WHERE topic_id IN ({topics})) "
            "ORDER BY p.date DESC, p.id DESC LIMIT ?",
            params,
        )
        return await self._with_hits(rows, chat_id)

    async def search(
        self, groups: Sequence[Sequence[str]], *, limit: int, offset: int = 0
    ) -> tuple[list[StoredPost], int]:
        """Posts whose words match every group (by lemma), newest first, and the total count.

        A word without letters or digits can match nothing, and a group left without words
        asks nothing (both search indexes see only letters and digits)."""
        searchable = [[w for w in group if any(ch.isalnum() for ch in w)] for group in groups]
        found = self._db.dialect.post_search([group for group in searchable if group])
        if found is None:
            return [], 0
        total = await self._index.count([group for group in searchable if group])
        rows = await self._db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            f"WHERE {found.sql} ORDER BY p.date DESC, p.id DESC LIMIT ? OFFSET ?",
            (*found.params, limit, offset),
        )
        return await self._with_hits(rows, None), total

    async def matched_between(
        self, chat_id: int, since: datetime | None, until: datetime
    ) -> list[StoredPost]:
        """Posts that matched the chat's topics in (since, until], newest first (digests)."""
        rows = await self._db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.is_history = 0 AND p.id IN ("
            "  SELECT m.post FROM matches m "
            "  JOIN subscriptions s ON s.topic_id = m.topic_id AND s.chat_id = ? "
            "  JOIN topics t ON t.id = m.topic_id AND t.removed_at IS NULL "
            "  WHERE m.matched_at > ? AND m.matched_at <= ?) "
            "ORDER BY p.date DESC, p.id DESC",
            (chat_id, to_db(since or EARLIEST), to_db(until)),
        )
        return await self._with_hits(rows, chat_id)

    async def pending_fanout(self, limit: int = 100) -> list[StoredPost]:
        """Posts with new matches whose alerts are not queued yet, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM fanout f JOIN posts p ON p.id = f.post "
            "JOIN channels c ON c.id = p.channel_id ORDER BY f.post LIMIT ?",
            (limit,),
        )
        return await self._with_hits(rows, None)

    async def complete_fanout(self, post: int, messages: Sequence[NewMessage]) -> int:
        """Queue the post's alerts and forget the fanout, atomically; returns rows queued."""
        async with self._db.transaction() as tx:
            queued = await queue_messages(tx, messages)
            await tx.execute("DELETE FROM fanout WHERE post = ?", (post,))
        return queued
