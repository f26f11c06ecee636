"""Signals read only for the few pairs of posts that already pass the stem shares.

Every post goes through `monitor.stories.text` once; what is here is read again from a
body's text for a candidate pair only (a handful per post), so it costs nothing per post.
"""

from __future__ import annotations

import re
from typing import Final

from monitor.stories.text import numbers, stems, words

ROUND_UP_LINKS: Final = 5
"""A post with this many links or more is a round-up (a digest, a guide, a list of events)."""

_TIME_OF_DAY: Final = re.compile(r"\b(?:[01]?\d|2[0-3]):[0-5]\d\b")
_LINK: Final = re.compile(r"https?://|\bt\.me/")


def adds_only_a_time(first_text: str, first_numbers: frozenset[str], later_text: str) -> bool:
    """Whether the numbers `later` has and `first` lacks are all a time of day («с 00:00 до
    9:00», «к 15:00» after «к 15 часам») that `first` did not give: when the event happens
    is a detail of it. A time `first` gave and `later` changes is news, so `first` must
    name none."""
    if ":" not in later_text or _TIME_OF_DAY.search(first_text):
        return False
    if not _TIME_OF_DAY.search(later_text):
        return False
    tokens = words(_TIME_OF_DAY.sub(" ", later_text))
    return numbers(tokens, stems(tokens)) <= first_numbers


def is_round_up(raw: str) -> bool:
    """Whether a post lists things by link: a digest, a weekly guide, a list of events."""
    if "http" not in raw and "t.me/" not in raw:
        return False
    return len(_LINK.findall(raw)) >= ROUND_UP_LINKS
