"""Posts, their matches, full-text search and the queries that read them back."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Final

from storage.channels import channel_key
from storage.coordination import DELIVERY
from storage.database import EARLIEST, Database, Row, Writer, from_db, now_utc, to_db
from storage.models import (
    ChannelBatch,
    NewMessage,
    PostRecord,
    SaveResult,
    StoredPost,
    StoryPost,
    TopicHit,
)
from storage.outbox import queue_messages
from storage.search_index import SearchIndex

logger = logging.getLogger(__name__)

_CHUNK: Final = 500
"""Ids per `IN (...)` list: well below either backend's limit on bound parameters."""

STORIES_KEY: Final = "stories"
"""The lock of story detectors' turns (`Posts.filing`): one process at a time catches up,
decides and saves."""

_POST_COLUMNS = (
    "p.id, p.post_id, p.date, p.text, p.edit_date, c.handle AS channel_handle, "
    "c.title AS channel_title, p.story"
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
        story=row["story"],
    )


_STORY_POSTS: Final = (
    "SELECT p.id, c.handle, p.post_id, p.date, p.text, s.post_id AS first_post, "
    "sc.handle AS first_handle FROM posts p JOIN channels c ON c.id = p.channel_id "
    "LEFT JOIN posts s ON s.id = p.story "
    "LEFT JOIN channels sc ON sc.id = s.channel_id "
)
"""Posts as the story detector files them, with the first post of each one's stored story
(`_story_post`): followed by a WHERE."""


def _story_post(row: Row) -> tuple[StoryPost, tuple[str, int] | None]:
    """A row of `_STORY_POSTS`: the post, and its story's first post (channel handle, post
    id; None: it starts its own)."""
    return (
        StoryPost(row["handle"], row["post_id"], from_db(row["date"]), row["text"]),
        None if row["first_post"] is None else (row["first_handle"], row["first_post"]),
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


async def _story_of(tx: Writer, first: tuple[str, int] | None) -> int | None:
    """The story id (see StoredPost.story_key) for a post whose story began with `first`
    (channel handle, post id); None when it starts one, or when that post is not stored (a
    detector that outlived a failed save): then the copy stands alone rather than pointing
    at nothing."""
    if first is None:
        return None
    row = await tx.fetchone(
        "SELECT p.id, p.story FROM posts p JOIN channels c ON c.id = p.channel_id "
        "WHERE c.handle = ? AND p.post_id = ?",
        first,
    )
    if row is None:
        return None
    return row["id"] if row["story"] is None else row["story"]


async def _stories_of(tx: Writer, firsts: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """`_story_of` for many posts in one statement per 200: by (case-folded handle, post
    id), the story id of each of those posts that is stored."""
    found: dict[tuple[str, int], int] = {}
    unique = list(dict.fromkeys(firsts))
    for start in range(0, len(unique), 200):
        chunk = unique[start : start + 200]
        # One SELECT per post, not one WHERE of ORed pairs: for three pairs or more SQLite
        # then finds the channels by handle and reads every post of theirs (1 ms for three
        # at 4,000 posts a channel, 17 ms for twenty); each SELECT here is one index search.
        rows = await tx.fetchall(
            " UNION ALL ".join(
                [
                    "SELECT p.id, p.story, p.post_id, c.handle FROM posts p "
                    "JOIN channels c ON c.id = p.channel_id WHERE c.handle = ? AND p.post_id = ?"
                ]
                * len(chunk)
            ),
            [value for first in chunk for value in first],
        )
        for row in rows:
            story = row["id"] if row["story"] is None else row["story"]
            found[(row["handle"].casefold(), row["post_id"])] = story
    return found


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

    async def known_texts_of(
        self, post_ids: Mapping[str, Sequence[int]]
    ) -> dict[str, dict[int, str]]:
        """`known_texts` for several channels (by handle as given), in one query while
        they ask for a few hundred posts together."""
        found: dict[str, dict[int, str]] = {handle: {} for handle in post_ids}
        asked = [(handle, ids) for handle, ids in post_ids.items() if ids]
        if sum(len(ids) for _, ids in asked) > _CHUNK:
            for handle, ids in asked:
                found[handle] = await self.known_texts(handle, ids)
            return found
        if not asked:
            return found
        handles = {handle.lower(): handle for handle, _ in asked}
        # UNION ALL, not OR: SQLite then looks each channel's posts up by (channel, post id)
        # instead of reading every post of those channels (at most 500 parts, its limit).
        rows = await self._db.fetchall(
            " UNION ALL ".join(
                "SELECT c.handle, p.post_id, p.text FROM posts p "
                "JOIN channels c ON c.id = p.channel_id "
                f"WHERE c.handle = ? AND p.post_id IN ({','.join('?' * len(ids))})"
                for _, ids in asked
            ),
            [value for handle, ids in asked for value in (handle, *ids)],
        )
        for row in rows:
            found[handles[row["handle"].lower()]][row["post_id"]] = row["text"]
        return found

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
        async with self._db.transaction() as tx:
            return await self._save_channel(tx, handle, records, history=history, title=title)

    async def save_many(self, batches: Sequence[ChannelBatch]) -> list[SaveResult]:
        """`save` for several channels' posts (deliveries), in one transaction: each batch
        as `save` stores it, in the order given (a copy's first post, in a batch before it,
        is stored by then), and one commit for them all."""
        async with self._db.transaction() as tx:
            return await self._save_batches(tx, batches)

    @asynccontextmanager
    async def filing(self) -> AsyncIterator[Filing]:
        """A turn of a story detector: one transaction in which it reads what other
        processes stored since it last looked, files the new posts of a delivery (its own
        decisions, in memory) and saves them; committed when the block ends, rolled back on
        an exception.

        The turn holds `STORIES_KEY` from its first statement to its commit, so the turns
        of all processes on the database follow one another: each reads every post the
        others' turns stored before deciding, and two copies of a new story stored at once
        by two processes are one story, whichever comes second. A process that dies in its
        turn loses its connection and, with it, the lock (PostgreSQL; on SQLite the turn is
        a write transaction, which a second writer waits for in any case)."""
        async with self._db.transaction() as tx:
            # First, before any channel's lock (`save_many` takes them after it): every
            # transaction that holds this one took it first, so none waits for it while
            # holding a lock a turn waits for.
            await tx.lock(STORIES_KEY)
            yield Filing(self, tx)

    async def _save_batches(self, tx: Writer, batches: Sequence[ChannelBatch]) -> list[SaveResult]:
        # Every channel's lock first, in the one order all callers use (Writer.lock):
        # taken one channel at a time in the batches' order, two such transactions
        # could each hold a lock the other waits for.
        await tx.lock(*(channel_key(batch.handle) for batch in batches))
        return [
            await self._save_channel(
                tx, batch.handle, batch.records, history=batch.history, title=batch.title
            )
            for batch in batches
        ]

    async def _save_channel(
        self,
        tx: Writer,
        handle: str,
        records: Sequence[PostRecord],
        *,
        history: bool,
        title: str | None,
    ) -> SaveResult:
        # The same post twice in one batch is stored once, as it was last handed.
        records = list({record.post_id: record for record in records}.values())
        new_posts = edited = new_matches = demoted = 0
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
                if record.restory:
                    story = await _story_of(tx, record.story)
                    await tx.execute(
                        "UPDATE posts SET story = ? WHERE id = ?",
                        (None if story == post else story, post),
                    )
                edited += 1
                new_matches += await _write_matches(tx, post, record, is_history, topic_ids, now)
        # New posts in one statement per 500 that hands their ids back, and everything
        # else about them in one statement per table: at thousands of posts a second,
        # each statement's trip to the database counts.
        # A copy's story is its first post's, stored before it: in an earlier batch
        # (looked up here, for all of them at once) or in this one (set just below).
        here = {r.post_id for r, _ in fresh}
        same_batch = {
            r.post_id: r.story[1]
            for r, _ in fresh
            if r.story is not None
            and r.story[0].casefold() == handle.casefold()
            and r.story[1] in here
        }
        earlier = [r.story for r, _ in fresh if r.story is not None]
        stories = await _stories_of(tx, earlier) if earlier else {}

        def story_of(record: PostRecord) -> int | None:
            if record.story is None or record.post_id in same_batch:
                return None
            return stories.get((record.story[0].casefold(), record.story[1]))

        created: dict[int, int] = {}
        for start in range(0, len(fresh), _CHUNK):
            chunk = fresh[start : start + _CHUNK]
            rows = await tx.fetchall(
                "INSERT INTO posts (channel_id, post_id, date, text, edit_date, is_history, "
                "stored_at, story) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
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
                        story_of(record),
                    )
                ],
            )
            created.update((row["post_id"], row["id"]) for row in rows)
        new_posts = len(fresh)
        for post_id, first in same_batch.items():
            await tx.execute(
                "UPDATE posts SET story = ? WHERE id = ?", (created[first], created[post_id])
            )
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
        if new_matches and not history:
            # The bot process, wherever it runs, queues the alerts as soon as this commits.
            await tx.notify(DELIVERY, "match")
        return SaveResult(
            new_posts, edited, new_matches, demoted, first_sight, tuple(sorted(created.values()))
        )

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
        """The newest matched posts, for the chat's topics when given, newest first: one
        post per story (its newest match), with `copies` counted."""
        if chat_id is None:
            topics = "SELECT id FROM topics WHERE removed_at IS NULL"
            params: tuple[object, ...] = ()
        else:
            topics = (
                "SELECT s.topic_id FROM subscriptions s JOIN topics t ON t.id = s.topic_id "
                "WHERE s.chat_id = ? AND t.removed_at IS NULL"
            )
            params = (chat_id,)
        # Copies are a few per story at most: read a few times as many posts as stories
        # wanted, and more only when copies used them up.
        chosen: dict[int, Row] = {}
        offset, step = 0, limit * 3
        while len(chosen) < limit:
            rows = await self._db.fetchall(
                f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
                f"WHERE p.id IN (SELECT post FROM matches WHERE topic_id IN ({topics})) "
                "ORDER BY p.date DESC, p.id DESC LIMIT ? OFFSET ?",
                (*params, step, offset),
            )
            for row in rows:
                key = row["id"] if row["story"] is None else row["story"]
                if len(chosen) < limit:
                    chosen.setdefault(key, row)
            if len(rows) < step:
                break
            offset += step
        return await self._with_copies(await self._with_hits(list(chosen.values()), chat_id))

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
        # One result per story, its newest post: the ids of all results are read (a column
        # of integers) so that pages and the total count stories, not posts.
        ids = await self._db.fetchall(
            f"SELECT p.id, p.story FROM posts p WHERE {found.sql} ORDER BY p.date DESC, p.id DESC",
            found.params,
        )
        firsts: dict[int, int] = {}
        for row in ids:
            firsts.setdefault(row["id"] if row["story"] is None else row["story"], row["id"])
        page = list(firsts.values())[offset : offset + limit]
        if not page:
            return [], len(firsts)
        marks = ",".join("?" * len(page))
        rows = await self._db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            f"WHERE p.id IN ({marks}) ORDER BY p.date DESC, p.id DESC",
            page,
        )
        return await self._with_copies(await self._with_hits(rows, None)), len(firsts)

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

    async def story(self, story: int) -> list[StoredPost]:
        """Every stored post of a story, with all their topics, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.id = ? OR p.story = ? ORDER BY p.date, p.id",
            (story, story),
        )
        return await self._with_hits(rows, None)

    async def since(self, moment: datetime) -> list[StoryPost]:
        """Posts published at or after `moment`, oldest first: what the story detector is
        rebuilt from at start."""
        rows = await self._db.fetchall(
            "SELECT c.handle, p.post_id, p.date, p.text FROM posts p "
            "JOIN channels c ON c.id = p.channel_id WHERE p.date >= ? ORDER BY p.date, p.id",
            (to_db(moment),),
        )
        return [
            StoryPost(row["handle"], row["post_id"], from_db(row["date"]), row["text"])
            for row in rows
        ]

    async def newest_id(self) -> int:
        """The id of the newest stored post (0: none): where `Filing.stored_after` starts."""
        return int(await self._db.scalar("SELECT max(id) FROM posts") or 0)

    async def dated_from(
        self, moment: datetime, after: tuple[datetime, int] | None, limit: int = 1000
    ) -> list[tuple[int, StoryPost, tuple[str, int] | None]]:
        """Up to `limit` posts published at or after `moment`, by date then id, and after
        the post `after` (its date and id) in that order: each with its id and the first
        post of its stored story (channel handle, post id; None: it starts its own). What
        history grouping reads, a page at a time, beside the posts it files."""
        where = "p.date >= ?"
        params: list[object] = [to_db(moment)]
        if after is not None:
            where += " AND (p.date > ? OR (p.date = ? AND p.id > ?))"
            params += [to_db(after[0]), to_db(after[0]), after[1]]
        rows = await self._db.fetchall(
            f"{_STORY_POSTS}WHERE {where} ORDER BY p.date, p.id LIMIT ?", (*params, limit)
        )
        return [(row["id"], *_story_post(row)) for row in rows]

    async def _with_copies(self, posts: list[StoredPost]) -> list[StoredPost]:
        """The posts with `copies` filled: how many other stored posts share each one's story."""
        keys = sorted({post.story_key for post in posts})
        counts: dict[int, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in await self._db.fetchall(
                f"SELECT story, count(*) AS n FROM posts WHERE story IN ({marks}) GROUP BY story",
                chunk,
            ):
                counts[row["story"]] = int(row["n"])
            for row in await self._db.fetchall(
                f"SELECT id FROM posts WHERE id IN ({marks})", chunk
            ):
                # The story's first post, still stored, is a post of it too.
                counts[row["id"]] = counts.get(row["id"], 0) + 1
        return [replace(post, copies=max(0, counts.get(post.story_key, 1) - 1)) for post in posts]


class Filing:
    """Reads and the save of one story detector's turn (`Posts.filing`), all in its
    transaction."""

    def __init__(self, posts: Posts, tx: Writer) -> None:
        self._posts = posts
        self._tx = tx

    async def stored_after(self, post: int, limit: int = 1000) -> list[tuple[int, str, int]]:
        """(id, channel handle, post id) of the posts stored after the post with id `post`,
        oldest first: what other processes stored meanwhile (ids only; `story_posts` reads
        the texts of those wanted). Every post another process's turn stored is among
        them: that turn committed before this one began."""
        rows = await self._tx.fetchall(
            "SELECT p.id, c.handle, p.post_id FROM posts p JOIN channels c ON c.id = p.channel_id "
            "WHERE p.id > ? ORDER BY p.id LIMIT ?",
            (post, limit),
        )
        return [(row["id"], row["handle"], row["post_id"]) for row in rows]

    async def story_posts(
        self, posts: Sequence[int]
    ) -> list[tuple[StoryPost, tuple[str, int] | None]]:
        """The posts with those ids as the story detector files them, oldest first, each
        with the first post of its stored story (channel handle, post id; None: it starts
        its own)."""
        found: list[tuple[StoryPost, tuple[str, int] | None]] = []
        for start in range(0, len(posts), _CHUNK):
            chunk = posts[start : start + _CHUNK]
            rows = await self._tx.fetchall(
                f"{_STORY_POSTS}WHERE p.id IN ({','.join('?' * len(chunk))}) ORDER BY p.id",
                chunk,
            )
            found.extend(map(_story_post, rows))
        return found

    async def save_many(self, batches: Sequence[ChannelBatch]) -> list[SaveResult]:
        """`Posts.save_many` in this turn: committed with it, when the block ends."""
        return await self._posts._save_batches(self._tx, batches)
