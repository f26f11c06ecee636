"""What a post is compared by: its lines, the word stems of its body and its numbers.

Copies differ in the lines a channel adds to every post (a subscribe link, a signature, a
"send us news" line): those are recognised by the index as lines the same channel keeps
repeating, and left out (see `StoryIndex`). What remains is compared as a set of word stems:
the first `STEM` letters of each word of three letters or more, which folds most Russian
inflection («Орешника», «Орешником» → «орешн») at a fraction of the cost of a dictionary
lemmatizer, and compared as well on the evaluation set (eval/README.md, "Stories"), plus
every number. Links and @mentions are not words: copies carry their own.

Every post goes through this, so it is written for speed: one regular expression pass, and
`map`/`filter` keep the per-word loops in C.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Final

STEM: Final = 5
"""Letters of a word kept as its stem."""

_LINK: Final = re.compile(r"https?://\S+|\bt\.me/\S+|@\w+")
_TOKEN: Final = re.compile(r"[^\W\d_]{3,}|\d+")
_STEM_OF: Final = itemgetter(slice(None, STEM))


def lines(text: str) -> list[str]:
    """The non-empty lines of `text`, lower case, ё as е, outer spaces stripped."""
    text = text.lower()
    if "ё" in text:
        text = text.replace("ё", "е")
    return [stripped for line in text.split("\n") if (stripped := line.strip())]


def words(text: str) -> list[str]:
    """Words of three letters or more, and numbers, of lines from `lines`; no links."""
    if "http" in text or "t.me" in text or "@" in text:
        text = _LINK.sub(" ", text)
    return _TOKEN.findall(text)


def stems(tokens: list[str]) -> frozenset[str]:
    return frozenset(map(_STEM_OF, tokens))


def numbers(tokens: list[str]) -> frozenset[str]:
    return frozenset(filter(str.isdigit, tokens))
