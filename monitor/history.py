"""History (`chanwatch import`, `chanwatch backfill`) grouped into stories as live would have.

Posts handed here in date order are filed in a story detector of their own, together with
the posts already stored whose dates lie among theirs: those are read from the database a
page at a time, in date order, and filed beside the new ones with the story stored for
each (`StoryIndex.remember`, nothing decided again). So a history post joins the story of
an earlier copy, stored or handed here, and a later history copy joins its story in turn;
memory holds the detector's window, a page of stored posts and a batch, however long the
history.

What is stored stays as it is: a post stored before keeps its story, and a history post
that is a copy only of a LATER stored post starts its own story (with its own later
copies), rather than moving the stored one, whose alerts and their edits name its story.
History is never alerted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from monitor.ingest import Ingest
from monitor.sources.base import IncomingPost
from monitor.stories import StoryIndex, StoryRef
from storage import Store
from storage.models import StoryPost

BATCH: Final = 2000
"""Posts per save, at most. A batch in date order holds posts of every channel, and storage
takes a few statements per channel of a save: 2,000 rather than 500 took a tenth off the
grouped import of the corpus's 24 channels (about 6.3 s CPU against 6.9, load 8-12)."""
PAGE: Final = 1000
"""Stored posts read per query."""


def _key(channel: str, post_id: int) -> StoryRef:
    # Handles are compared without case in storage; the detector's keys must be too.
    return StoryRef(channel.casefold(), post_id)


class HistoryStories:
    """A sink for history posts that groups them into stories before `ingest` stores them.

    Posts should come in date order, across calls too (an export merge, a backfill oldest
    first); each call's posts are sorted by date (stably: posts of one date keep the order
    given, as `chanwatch scan` judges them), and one older than those already filed is
    still grouped, as a live post that arrives late is. Each call is stored before it
    returns, so an interrupted backfill keeps what it stored."""

    def __init__(self, ingest: Ingest, store: Store, window_hours: float) -> None:
        self._ingest = ingest
        self._posts = store.posts
        self._index = StoryIndex(window_hours)
        self._window = timedelta(hours=window_hours)
        self._stored: deque[tuple[int, StoryPost, tuple[str, int] | None]] = deque()
        self._after: tuple[datetime, int] | None = None
        """The last stored post read (date, id): the next page starts after it."""
        self._read_all = False
        """A page came back short: every post stored when it was read has been read."""
        self._unfiled: deque[tuple[StoryRef, StoryPost, tuple[str, int] | None]] = deque()
        self._unfiled_keys: set[StoryRef] = set()
        """The stored posts of the window up to the last post handed, not filed yet: they
        are filed (in date order, as they would have been one by one) only when a new post
        is to be judged, so that a post stored before and handed again (an import repeated,
        a backfill over posts stored live) costs the detector nothing."""
        self._pending: list[tuple[IncomingPost, StoryRef]] = []
        self.grouped = 0
        """History posts handed here that joined an earlier post's story."""

    async def handle_posts(self, posts: Sequence[IncomingPost], *, history: bool) -> None:
        for post in sorted(posts, key=lambda p: p.date):
            await self._stored_until(post.date)
            key = _key(post.channel, post.post_id)
            story = self._index.story_of(*key)
            if story is None and key not in self._unfiled_keys:
                self._file_stored()
                story = self._index.assign(key.channel, key.message_id, post.date, post.text)
                self.grouped += story != key
            # A post stored before keeps its stored story (storage keeps it whatever is
            # handed): only new ones are judged.
            self._pending.append((post, story or key))
            if len(self._pending) >= BATCH:
                await self._flush(history)
        await self._flush(history)

    async def source_error(self, channel: str, message: str) -> None:
        await self._ingest.source_error(channel, message)

    async def source_ok(self, channel: str) -> None:
        await self._ingest.source_ok(channel)

    async def _stored_until(self, date: datetime) -> None:
        """Read the stored posts published up to `date`, from `date` less the window on
        (older ones can be no copy's original): they wait in `_unfiled`, which keeps only
        those of the window."""
        start = date - self._window
        unfiled, keys = self._unfiled, self._unfiled_keys
        while unfiled and unfiled[0][1].date < start:
            keys.discard(unfiled.popleft()[0])
        while True:
            stored = self._stored
            while stored and stored[0][1].date <= date:
                _, post, first = stored.popleft()
                if post.date >= start:
                    key = _key(post.handle, post.post_id)
                    unfiled.append((key, post, first))
                    keys.add(key)
            if stored or self._read_all:
                return
            # Skips the stored posts before the window, however many there are.
            page = await self._posts.dated_from(start, self._after, PAGE)
            if page:
                last_id, last, _ = page[-1]
                self._after = (last.date, last_id)
                stored.extend(page)
            self._read_all = len(page) < PAGE

    def _file_stored(self) -> None:
        """File the waiting stored posts in the detector, with their stored stories."""
        while self._unfiled:
            key, post, first = self._unfiled.popleft()
            self._unfiled_keys.discard(key)
            story = None if first is None else _key(*first)
            self._index.remember(key.channel, key.message_id, post.date, post.text, story)

    async def _flush(self, history: bool) -> None:
        """Store the pending posts with their stories, in two saves when needed: a copy
        whose story's first post is in this batch goes in the second, once that post is
        stored (storage looks it up; one save stores channel after channel, by name)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        here = {_key(post.channel, post.post_id) for post, _ in pending}
        stories: dict[tuple[str, int], tuple[str, int]] = {}
        first: list[IncomingPost] = []
        later: list[IncomingPost] = []
        for post, story in pending:
            copy = story != _key(post.channel, post.post_id)
            if copy:
                stories[(post.channel, post.post_id)] = (str(story.channel), story.message_id)
            (later if copy and story in here else first).append(post)
        await self._ingest.handle_posts(first, history=history, stories=stories)
        await self._ingest.handle_posts(later, history=history, stories=stories)
