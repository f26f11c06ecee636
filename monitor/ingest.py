"""Where every source delivers: match posts, store them once, tell delivery what is new.

This is the PostSink, ChannelCursor and WatchList that sources see; they never learn
about SQL, topics or subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Final, Protocol

from monitor.matching import Lemmatizer, Matcher, TopicRule, index_lemmas
from monitor.sources.base import IncomingPost, PostSink
from monitor.stories import StoryIndex, StoryRef
from storage import Store
from storage.errors import StorageBusy
from storage.models import ChannelBatch, NewMatch, PostRecord, SaveResult, Topic
from storage.posts import Filing

logger = logging.getLogger(__name__)

_CATCH_UP: Final = 1000
"""Posts stored by other processes read per query when the story detector catches up."""


def _channel(post: IncomingPost) -> str:
    return post.channel


@dataclass(slots=True)
class _Delivery:
    """One `handle_posts` call's batches, waiting to be stored."""

    batches: list[ChannelBatch]
    edited: list[frozenset[int]]
    """The post ids of each batch that are stored already (edits, when their text differs)."""
    saved: asyncio.Future[list[SaveResult]]
    """Their results, set once committed."""
    filed: list[ChannelBatch] | None = None
    """The batches with their stories, once the detector filed them."""
    fresh: list[tuple[str, int]] = field(default_factory=list)
    """The posts the detector filed for these batches, which it did not hold before: if
    their save fails they are taken out again (`Ingest._forget`)."""
    turn: bool = False
    """Saved in a story turn though the pipeline has no detector: history whose stories
    its caller decided (see `_store_group`)."""


class IngestListener(Protocol):
    """What delivery hears from ingestion (implemented by the app over the bot)."""

    def new_matches(self) -> None:
        """Alerts may be owed: posts with new matches were stored."""

    async def source_failed(self, channel: str, message: str) -> None:
        """A channel's source started failing, or fails differently than before."""

    async def source_recovered(self, channel: str) -> None:
        """A channel that was failing answered normally again."""

    def posts_stored(self, source: str, new_posts: int, new_matches: Sequence[str]) -> None:
        """Counted (metrics): posts stored from a source ("web", "telegram", "import"...),
        with the topic of each match they brought (a topic once per post)."""

    def source_error_seen(self, channel: str) -> None:
        """Counted (metrics): one failed read of a channel (every one, not once per outage)."""


class SilentListener:
    """For imports, backfills and benchmarks: history owes no alerts, no live source reports."""

    def new_matches(self) -> None:
        return None

    async def source_failed(self, channel: str, message: str) -> None:
        return None

    async def source_recovered(self, channel: str) -> None:
        return None

    def posts_stored(self, source: str, new_posts: int, new_matches: Sequence[str]) -> None:
        return None

    def source_error_seen(self, channel: str) -> None:
        return None


async def compile_live_topics(store: Store) -> Matcher:
    """The matcher for the topics in the database."""
    rules = rules_from_topics(await store.topics.live())
    # Compiling generates every inflected form of every term: seconds for big sets.
    return await asyncio.to_thread(Matcher.compile, rules)


def rules_from_topics(topics: Sequence[Topic]) -> list[TopicRule]:
    return [
        TopicRule(name=t.name, terms=t.terms, require=t.require, exclude=t.exclude) for t in topics
    ]


def to_record(
    post: IncomingPost, matcher: Matcher, lemmatizer: Callable[[str], str] = index_lemmas
) -> PostRecord:
    """Match one post and prepare it for storage (CPU only, no I/O). A pipeline passes its
    `Lemmatizer`, which remembers the words it has seen."""
    matches = []
    for found in matcher.match(post.text):
        words: dict[str, None] = {}
        for hit in found.hits:
            words.setdefault(hit.text, None)
        matches.append(
            NewMatch(
                topic=found.topic,
                terms=tuple(words),
                spans=tuple((hit.start, hit.end) for hit in found.hits),
            )
        )
    return PostRecord(
        post_id=post.post_id,
        date=post.date,
        text=post.text,
        lemmas=lemmatizer(post.text),
        matches=tuple(matches),
        edit_date=post.edit_date,
    )


class Ingest:
    """The pipeline from sources to storage, with the current compiled matcher."""

    def __init__(
        self,
        store: Store,
        matcher: Matcher,
        listener: IngestListener,
        stories: StoryIndex | None = None,
        seen: int = 0,
        others: bool = True,
    ) -> None:
        """`stories`: the detector that files each new post in its story (None: posts are
        stored without one, each its own story). `others`: whether other processes may
        store posts in this database while this one runs (see `_catch_up`)."""
        self._store = store
        self._matcher = matcher
        self._listener = listener
        self._stories = stories
        self._seen = seen
        """The newest post id up to which the detector has seen every stored post."""
        self._others = others
        self._queue: list[_Delivery] = []
        """Deliveries waiting for `_save_lock`; whoever holds it saves them all at once."""
        self._save_lock = asyncio.Lock()
        self._behind = False
        """A save's new ids did not follow `_seen`: someone else stored posts meanwhile."""
        self._reload_lock = asyncio.Lock()
        self._rules: list[TopicRule] | None = None
        # The store's, when it has one: one memory of words, and the very lemmatizer that
        # storage uses to take an edited post's old words out of the index.
        self._lemmatizer: Callable[[str], str] = store.search_index.lemmatizer or Lemmatizer()

    @classmethod
    async def open(
        cls,
        store: Store,
        listener: IngestListener,
        *,
        story_window_hours: float | None = None,
        others: bool = True,
    ) -> Ingest:
        """A pipeline matching the topics currently in the database; with
        `story_window_hours`, it groups copies into stories, its detector rebuilt from the
        posts stored in that window (so a copy arriving after a restart still finds its
        first post). `others` as in `Ingest()`."""
        rules = rules_from_topics(await store.topics.live())
        matcher = await asyncio.to_thread(Matcher.compile, rules)
        stories = None
        seen = 0
        if story_window_hours is not None:
            seen = await store.posts.newest_id()
            since = datetime.now(UTC) - timedelta(hours=story_window_hours)
            recent = await store.posts.since(since)
            # Seconds of CPU for a busy day's posts: off the event loop, before any use.
            stories = await asyncio.to_thread(StoryIndex.rebuild, recent, story_window_hours)
            logger.info(
                "stories rebuilt posts=%d window_hours=%g", len(recent), story_window_hours
            )
        ingest = cls(store, matcher, listener, stories, seen, others)
        ingest._rules = rules
        return ingest

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    async def reload_topics(self) -> None:
        """Recompile the matcher from the topics in the database (operators changed them).

        Posts stored before the change keep their matches; new posts use the new topics.
        """
        async with self._reload_lock:
            rules = rules_from_topics(await self._store.topics.live())
            if rules == self._rules:
                return  # told twice (by an operator command here and by the database)
            # Compiling generates every inflected form of every term: seconds for big sets.
            self._matcher = await asyncio.to_thread(Matcher.compile, rules)
            self._rules = rules
            logger.info("topics reloaded count=%d", len(self._matcher.topics))

    # PostSink

    def sink_for(self, source: str) -> PostSink:
        """This pipeline as the sink of one kind of source, so what it stores is counted
        under that source's name ("web", "telegram")."""
        return _SourceSink(self, source)

    async def handle_posts(
        self,
        posts: Sequence[IncomingPost],
        *,
        history: bool,
        source: str = "import",
        stories: Mapping[tuple[str, int], tuple[str, int]] | None = None,
    ) -> None:
        """`stories`: the story of each new post, decided by the caller (the first post of
        its story, by (channel, post id)); a post not in it starts its own. History grouped
        in date order gives them (`monitor.history`); a pipeline with a detector decides
        them itself."""
        if not posts:
            return
        ordered = sorted(posts, key=lambda p: (p.channel, p.post_id))
        groups = [(channel, list(group)) for channel, group in groupby(ordered, _channel)]
        # One read of what is stored and one transaction for the whole delivery, however
        # many channels it spans: each trip to the database and each commit (which writes
        # a segment of the search index) costs about as much as matching a post.
        known = await self._store.posts.known_texts_of(
            {channel: [p.post_id for p in group] for channel, group in groups}
        )
        matcher = self._matcher
        batches = []
        for channel, group in groups:
            stored = known[channel]
            fresh = [p for p in group if stored.get(p.post_id) != p.text]
            records = [to_record(post, matcher, self._lemmatizer) for post in fresh]
            # A detector's decisions are made at the save, in its turn (`_store_group`);
            # history grouped by the caller comes with its stories decided.
            if self._stories is None and stories:
                records = [
                    replace(record, story=stories.get((channel, post.post_id)))
                    if post.post_id not in stored
                    else record
                    for post, record in zip(fresh, records, strict=True)
                ]
            title = next((p.channel_title for p in reversed(group) if p.channel_title), None)
            # An empty batch still goes to storage: it marks a first sight as done.
            batches.append(ChannelBatch(channel, records, title, history))
        edited = [frozenset(known[batch.handle]) for batch in batches]
        results = await self._save(batches, edited, turn=stories is not None)
        for batch, result in zip(batches, results, strict=True):
            self._report(batch, result, known[batch.handle], matcher, history, source)

    async def _save(
        self, batches: list[ChannelBatch], edited: list[frozenset[int]], *, turn: bool = False
    ) -> list[SaveResult]:
        """Store one delivery's batches, with the deliveries that queued up while the
        previous save was being written (sources read several channels at once): one
        transaction and one commit for them all. Returns this delivery's results, once
        committed."""
        mine = _Delivery(batches, edited, asyncio.get_running_loop().create_future(), turn=turn)
        self._queue.append(mine)
        async with self._save_lock:
            if not mine.saved.done():
                group, self._queue = self._queue, []
                await self._save_group(group, mine)
        return mine.saved.result()

    async def _save_group(self, group: list[_Delivery], mine: _Delivery) -> None:
        try:
            try:
                results = await self._store_group(group)
            except Exception as error:
                if len(group) == 1:
                    raise
                if isinstance(error, StorageBusy):
                    # A lock held past the timeout (a monitor stuck in its turn holds the
                    # `stories` one all turns wait for): each delivery alone would wait as
                    # long again, one after the other. All fail now; their sources read
                    # them again at the next try.
                    for delivery in group:
                        if delivery is not mine:
                            delivery.saved.set_exception(error)
                    raise
                # One delivery's failure must not fail the others': each alone, then.
                for delivery in group:
                    try:
                        saved = await self._store_group([delivery])
                    except Exception as error:
                        delivery.saved.set_exception(error)
                    else:
                        delivery.saved.set_result(saved)
                return
        except BaseException:
            # Cancelled (or failed alone): the deliveries of others that rode along wait
            # for the next save, which their own callers make.
            self._queue[:0] = [d for d in group if d is not mine and not d.saved.done()]
            raise
        start = 0
        for delivery in group:
            end = start + len(delivery.batches)
            delivery.saved.set_result(results[start:end])
            start = end

    async def _store_group(self, group: list[_Delivery]) -> list[SaveResult]:
        """Store the deliveries' batches in one transaction; with a story detector, in its
        turn (`Posts.filing`): what other processes stored is read first, then each new
        post is filed, then all are saved, and no other process's turn comes in between.
        So of two copies of a new story delivered to two processes at once, the second
        stored finds the first and joins its story: one story, one alert."""
        if self._stories is None:
            batches = [batch for delivery in group for batch in delivery.batches]
            if not any(delivery.turn for delivery in group):
                return await self._store.posts.save_many(batches)
            # Grouped history (an import, a backfill) is saved in a turn too: the ids of its
            # posts are then handed out and committed inside it, so a monitor's catch-up,
            # which reads by id, cannot pass over a save still open and never file its posts
            # (a live copy of one of them would start a story of its own).
            async with self._store.posts.filing() as filing:
                return await filing.save_many(batches)
        try:
            async with self._store.posts.filing() as filing:
                if self._behind or self._others:
                    await self._catch_up(filing)
                results = await filing.save_many(
                    [batch for delivery in group for batch in self._filed(delivery)]
                )
        except BaseException:
            self._forget(group)
            raise
        # Committed: only now are the ids this process's own.
        self._saw(results)
        return results

    def _filed(self, delivery: _Delivery) -> list[ChannelBatch]:
        """The delivery's batches with their stories, filed in the detector once."""
        if delivery.filed is None:
            assert self._stories is not None
            story_of = self._stories.story_of
            delivery.fresh = [
                (batch.handle, record.post_id)
                for batch, stored in zip(delivery.batches, delivery.edited, strict=True)
                for record in batch.records
                if record.post_id not in stored and story_of(batch.handle, record.post_id) is None
            ]
            # Channel after channel, as they are stored: a copy's first post is filed (and
            # stored) before it.
            delivery.filed = [
                replace(
                    batch,
                    records=[
                        self._with_story(batch.handle, record, edited=record.post_id in stored)
                        for record in batch.records
                    ],
                )
                for batch, stored in zip(delivery.batches, delivery.edited, strict=True)
            ]
        return delivery.filed

    def _forget(self, group: list[_Delivery]) -> None:
        """A save that failed (or was cancelled) stored none of the group's posts: the
        detector forgets those it filed for them, so that when their source hands them
        again they are judged again, after what other processes stored meanwhile (a copy
        stored by another monitor in between is then their story's first post, instead of
        a second story with an alert of its own). Edits stay as filed: the stored post
        keeps its story either way."""
        assert self._stories is not None
        for delivery in group:
            for channel, post_id in delivery.fresh:
                self._stories.forget(channel, post_id)
            delivery.filed, delivery.fresh = None, []

    def _report(
        self,
        batch: ChannelBatch,
        result: SaveResult,
        known: Mapping[int, str],
        matcher: Matcher,
        history: bool,
        source: str,
    ) -> None:
        """Log what one channel's save stored, and tell the listener (after the commit)."""
        channel, records = batch.handle, batch.records
        for record in records:
            if record.matches:
                logger.info(
                    "post matched channel=%s post_id=%d topics=%s history=%s",
                    channel,
                    record.post_id,
                    ",".join(m.topic for m in record.matches),
                    history,
                )
        if result.new_posts or result.edited_posts:
            logger.info(
                "posts stored channel=%s new=%d edited=%d new_matches=%d history=%s",
                channel,
                result.new_posts,
                result.edited_posts,
                result.new_matches,
                history,
            )
        if result.demoted:
            logger.warning(
                "posts at or below the channel's first sight arrived as new; stored as history "
                "channel=%s count=%d first_sight=%s",
                channel,
                result.demoted,
                result.first_sight,
            )
        if result.new_matches and not history:
            self._listener.new_matches()
        self._listener.posts_stored(
            source,
            result.new_posts,
            _new_topics(records, known, matcher) if result.new_matches else (),
        )

    def _saw(self, results: Sequence[SaveResult]) -> None:
        """Note the ids of posts this process just stored: when they follow the newest
        one the detector has seen without a gap, no other process stored any in between,
        and the next catch-up need not read them back."""
        if self._stories is None or self._behind:
            return
        created = sorted(post for result in results for post in result.created)
        if not created:
            return
        if created[0] == self._seen + 1 and created[-1] - created[0] == len(created) - 1:
            self._seen = created[-1]
        else:
            self._behind = True

    async def _catch_up(self, filing: Filing) -> None:
        """File in the detector the posts other processes stored since it last looked.

        Several `chanwatch run` processes on one PostgreSQL database each read their own
        channels: a copy read here of a post another process stored must still find it.
        Each post is filed with the story stored for it, not decided again. Posts this
        process stored are in the detector already: only their ids are read.

        It runs in every turn (`_store_group`) while `others` says another process may be
        storing posts, and otherwise only once the ids of this process's own posts showed a
        gap (an import beside `chanwatch run` on SQLite): alone, a process has nothing to
        catch up on, and its saves keep `_seen` current without a query."""
        assert self._stories is not None
        while True:
            stored = await filing.stored_after(self._seen, _CATCH_UP)
            if not stored:
                self._behind = False
                return
            self._seen = stored[-1][0]
            unknown = [
                post
                for post, handle, post_id in stored
                if self._stories.story_of(handle, post_id) is None
            ]
            for post, first in await filing.story_posts(unknown) if unknown else ():
                story = None if first is None else StoryRef(*first)
                self._stories.remember(post.handle, post.post_id, post.date, post.text, story)
            if len(stored) < _CATCH_UP:
                self._behind = False
                return

    def _with_story(self, channel: str, record: PostRecord, *, edited: bool) -> PostRecord:
        """The record with its story: a new post is filed in the detector; an edit is
        re-evaluated there, and moves to another story only when its text changed
        substantially (the detector decides). An edit of a post the detector no longer
        holds (older than the window) keeps its stored story."""
        assert self._stories is not None
        post_id = record.post_id
        if not edited:
            first = self._stories.assign(channel, post_id, record.date, record.text)
            if first == (channel, post_id):
                return record
            return replace(record, story=(str(first.channel), first.message_id))
        before = self._stories.story_of(channel, post_id)
        if before is None:
            return record
        after = self._stories.update(channel, post_id, record.date, record.text)
        if after == before:
            return record
        story = None if after == (channel, post_id) else (str(after.channel), after.message_id)
        logger.info(
            "edited post changed story channel=%s post_id=%d story=%s", channel, post_id, story
        )
        return replace(record, story=story, restory=True)

    async def source_error(self, channel: str, message: str) -> None:
        logger.warning("source error channel=%s error=%s", channel, message)
        self._listener.source_error_seen(channel)
        if await self._store.channels.record_error(channel, message):
            await self._listener.source_failed(channel, message)

    async def source_ok(self, channel: str) -> None:
        if await self._store.channels.record_ok(channel):
            logger.info("source recovered channel=%s", channel)
            await self._listener.source_recovered(channel)

    # ChannelCursor

    async def last_post_id(self, channel: str) -> int | None:
        return await self._store.channels.last_post_id(channel)

    async def known_post_ids(self, channel: str, post_ids: Sequence[int]) -> set[int]:
        return set(await self._store.posts.known_texts(channel, post_ids))

    # WatchList

    async def channels(self, source: str) -> list[str]:
        return await self._store.channels.handles(source)


def _new_topics(
    records: Sequence[PostRecord], known: Mapping[int, str], matcher: Matcher
) -> list[str]:
    """The topic of every match the records add: all of a new post's, and those of an
    edited post that its previous text did not match (edits are rare: matching it again
    is cheap)."""
    topics: list[str] = []
    for record in records:
        if not record.matches:
            continue
        before = known.get(record.post_id)
        had = set() if before is None else {found.topic for found in matcher.match(before)}
        topics.extend(m.topic for m in record.matches if m.topic not in had)
    return topics


class _SourceSink:
    """An Ingest as one source's PostSink (see `Ingest.sink_for`)."""

    def __init__(self, ingest: Ingest, source: str) -> None:
        self._ingest = ingest
        self._source = source

    async def handle_posts(self, posts: Sequence[IncomingPost], *, history: bool) -> None:
        await self._ingest.handle_posts(posts, history=history, source=self._source)

    async def source_error(self, channel: str, message: str) -> None:
        await self._ingest.source_error(channel, message)

    async def source_ok(self, channel: str) -> None:
        await self._ingest.source_ok(channel)
