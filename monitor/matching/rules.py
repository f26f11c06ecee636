"""What a topic is and what matching it reports: the matcher's public data types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicRule:
    """A named set of terms: a post matches when any of `terms` occurs, any of `require`
    occurs too (when `require` is not empty) and none of `exclude` occurs."""

    name: str
    terms: tuple[str, ...]
    require: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TermHit:
    """One occurrence of a term; offsets index the exact text given to `Matcher.match`."""

    term: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """A topic that matched a post, with the hits of its `terms` and `require` in text order."""

    topic: str
    hits: tuple[TermHit, ...]
