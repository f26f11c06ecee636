"""What a topic is and what matching it reports: the matcher's public data types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class TopicRule:
    """A named set of terms: a post matches when any of `terms` occurs, any of `require`
    occurs too (when `require` is not empty) and none of `exclude` occurs."""

    name: str
    terms: tuple[str, ...]
    require: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class TermHit(NamedTuple):
    """One occurrence of a term; offsets index the exact text given to `Matcher.match`.

    Hits and topic matches are named tuples, not frozen dataclasses: a busy post makes
    dozens of them and a frozen dataclass takes several times longer to build."""

    term: str
    start: int
    end: int
    text: str


class TopicMatch(NamedTuple):
    """A topic that matched a post, with the hits of its `terms` and `require` in text order."""

    topic: str
    hits: tuple[TermHit, ...]
