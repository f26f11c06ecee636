"""What a post is compared by: its lines, the word stems of its body and its numbers.

Copies differ in the lines a channel adds to every post (a subscribe link, a signature, a
"send us news" line): those are recognised by the index as lines the same channel keeps
repeating, and left out (see `StoryIndex`). What remains is compared as a set of word stems:
the first `STEM` letters of each word, which folds most Russian inflection («Орешника»,
«Орешником» → «орешн») at a fraction of the cost of a dictionary lemmatizer, and compared as
well on the evaluation set (eval/README.md, "Stories").
"""

from __future__ import annotations

import re
from typing import Final

STEM: Final = 5
"""Letters of a word kept as its stem."""

_URL: Final = re.compile(r"https?://\S+|\bt\.me/\S+|@\w+|\bbit\.ly/\S+", re.IGNORECASE)
_WORD: Final = re.compile(r"[^\W_]+")


def line_words(text: str) -> list[tuple[str, ...]]:
    """The words of each non-empty line: lower case, ё as е, links and @mentions dropped."""
    text = _URL.sub(" ", text.lower().replace("ё", "е"))
    lines = []
    for line in text.split("\n"):
        tokens = tuple(_WORD.findall(line))
        if tokens:
            lines.append(tokens)
    return lines


def stems(tokens: list[str]) -> frozenset[str]:
    return frozenset(token[:STEM] for token in tokens)


def numbers(tokens: list[str]) -> frozenset[str]:
    return frozenset(token for token in tokens if token.isdigit())
