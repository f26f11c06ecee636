"""`StoryIndex`: which earlier post, if any, a new post is a copy of (see the package doc)."""

from __future__ import annotations

import heapq
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, NamedTuple

DEFAULT_WINDOW_HOURS: Final = 24.0
MIN_WORDS: Final = 8
"""A text with fewer words starts its own story: «Видео», «Срочно!» or a bare link say too
little to tell one event from another."""

_URL: Final = re.compile(r"https?://\S+|\bt\.me/\S+|@\w+")
_WORD: Final = re.compile(r"\w+")


class StoryRef(NamedTuple):
    """The first post of a story."""

    channel: Hashable
    message_id: int


PostRow = tuple[Hashable, int, datetime, str]
"""What `StoryIndex.rebuild` reads: (channel, message_id, date, text)."""


def words(text: str) -> list[str]:
    """The words a post is compared by: lower case, ё as е, links and @mentions dropped."""
    return _WORD.findall(_URL.sub(" ", text.lower().replace("ё", "е")))


Signature = frozenset[str]
"""What two posts are compared by: their word shingles (see `_signature`)."""

SHINGLE: Final = 3
SAME_STORY: Final = 0.7
"""Share of the shorter post's shingles the longer must have for a copy."""
LENGTH_RATIO: Final = 0.4
"""A post under this share of the other's length is a round-up's line, not a copy."""


@dataclass(slots=True)
class _Entry:
    ref: StoryRef
    date: datetime
    signature: Signature
    seq: int


class StoryIndex:
    """Posts of the last `window_hours`, grouped into stories as they arrive."""

    def __init__(self, window_hours: float = DEFAULT_WINDOW_HOURS) -> None:
        if window_hours <= 0:
            raise ValueError("window_hours must be positive")
        self._window = timedelta(hours=window_hours)
        self._posts: dict[StoryRef, _Entry] = {}
        self._by_shingle: dict[str, list[StoryRef]] = {}
        self._expiry: list[tuple[datetime, int, StoryRef]] = []
        self._newest: datetime | None = None
        self._seq = 0

    @classmethod
    def rebuild(
        cls, posts: Iterable[PostRow], window_hours: float = DEFAULT_WINDOW_HOURS
    ) -> StoryIndex:
        index = cls(window_hours)
        for channel, message_id, date, text in sorted(posts, key=_row_order):
            index.assign(channel, message_id, date, text)
        return index

    def __len__(self) -> int:
        return len(self._posts)

    def story_of(self, channel: Hashable, message_id: int) -> StoryRef | None:
        entry = self._posts.get(StoryRef(channel, message_id))
        return entry.ref if entry else None

    def assign(self, channel: Hashable, message_id: int, date: datetime, text: str) -> StoryRef:
        key = StoryRef(channel, message_id)
        known = self._posts.get(key)
        if known is not None:
            return known.ref
        self._advance(date)
        signature = _signature(text)
        ref = self._find(key, date, signature) or key
        self._file(key, ref, date, signature)
        return ref

    def update(self, channel: Hashable, message_id: int, date: datetime, text: str) -> StoryRef:
        key = StoryRef(channel, message_id)
        known = self._posts.get(key)
        if known is None:
            return self.assign(channel, message_id, date, text)
        signature = _signature(text)
        if _same(known.signature, signature):
            return known.ref
        self._unfile(key, known)
        ref = self._find(key, known.date, signature) or key
        self._file(key, ref, known.date, signature)
        return ref

    def _find(self, key: StoryRef, date: datetime, signature: Signature) -> StoryRef | None:
        if not signature:
            return None
        shared: dict[StoryRef, int] = {}
        for shingle in signature:
            for other in self._by_shingle.get(shingle, ()):
                shared[other] = shared.get(other, 0) + 1
        best: tuple[float, int] | None = None
        found: _Entry | None = None
        for other, count in shared.items():
            entry = self._posts[other]
            if other == key or abs(entry.date - date) > self._window:
                continue
            score = _similarity(signature, entry.signature, count)
            if score < SAME_STORY:
                continue
            # The most similar post wins; among equals the earliest filed.
            rank = (-score, entry.seq)
            if best is None or rank < best:
                best, found = rank, entry
        return found.ref if found else None

    def _file(self, key: StoryRef, ref: StoryRef, date: datetime, signature: Signature) -> None:
        self._seq += 1
        entry = _Entry(ref, date, signature, self._seq)
        self._posts[key] = entry
        for shingle in signature:
            self._by_shingle.setdefault(shingle, []).append(key)
        heapq.heappush(self._expiry, (date, self._seq, key))

    def _unfile(self, key: StoryRef, entry: _Entry) -> None:
        del self._posts[key]
        for shingle in entry.signature:
            keys = self._by_shingle[shingle]
            keys.remove(key)
            if not keys:
                del self._by_shingle[shingle]

    def _advance(self, date: datetime) -> None:
        """Forget the posts older than the window behind the newest date seen."""
        if self._newest is None or date > self._newest:
            self._newest = date
        horizon = self._newest - self._window
        while self._expiry and self._expiry[0][0] < horizon:
            _, seq, key = heapq.heappop(self._expiry)
            entry = self._posts.get(key)
            if entry is not None and entry.seq == seq:
                self._unfile(key, entry)


def _signature(text: str) -> Signature:
    tokens = words(text)
    if len(tokens) < MIN_WORDS:
        return frozenset()
    return frozenset(" ".join(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1))


def _similarity(a: Signature, b: Signature, shared: int) -> float:
    shorter, longer = sorted((len(a), len(b)))
    if shorter < LENGTH_RATIO * longer:
        return 0.0
    return shared / shorter


def _same(old: Signature, new: Signature) -> bool:
    if not old or not new:
        return old == new
    return _similarity(old, new, len(old & new)) >= SAME_STORY


def _row_order(row: PostRow) -> tuple[datetime, str, int]:
    channel, message_id, date, _ = row
    return (date, str(channel), message_id)
