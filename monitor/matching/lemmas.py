"""Normal forms for inflection-aware full-text search (the search index of stored posts).

A post is indexed as the normal forms of all its words and a query is looked up by the
normal forms of its words, so "визиты Ким" finds a post saying "визитом" and "Кима".
Ambiguous words contribute every normal form ("нашли": найти and наслать). Tokens are
runs of letters and digits only, which FTS5's default tokenizer keeps whole.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Final

from monitor.matching.morphology import normal_forms, script_of

_TOKEN: Final = re.compile(r"[^\W_]+")

LEMMA_VERSION: Final = 2
"""Which lemmas `index_lemmas` gives. Bump it whenever the same text would be indexed
differently (a morphology rule, the tokens, a pymorphy3 dictionary upgrade): databases
indexed by an older version then ask for `chanwatch reindex`. 2 added the passive voice
(«приглашаются» is also indexed as «приглашать»), names the dictionary reads as plurals
(«Илоном» is also indexed as «илон») and removes the accents of Latin letters itself (the
index's tokenizer did before)."""

CACHE_WORDS: Final = 300_000
"""Distinct words whose lemmas a Lemmatizer remembers (about 60 MB at most). Russian news
reuses a small vocabulary: a day's posts rarely bring a few thousand new words."""


class Lemmatizer:
    """`index_lemmas` with a memory of the words already seen.

    Analysing a word with pymorphy3 costs far more than looking it up, and one ingest
    process sees the same few tens of thousands of words again and again. Words with digits
    are not remembered: they are cheap to fold and nearly all of them are new (dates, sums).
    """

    version: Final = LEMMA_VERSION

    def __init__(self, max_words: int = CACHE_WORDS) -> None:
        self._max_words = max_words
        self._seen: dict[str, tuple[str, ...]] = {}

    def __call__(self, text: str) -> str:
        """Space-separated normal forms of the words of `text` (see `index_lemmas`)."""
        # A word repeated in a post is indexed once: search asks whether a post has a word,
        # not how often. So each word is looked up once too.
        tokens = dict.fromkeys(_TOKEN.findall(text.lower()))
        # Looked up in one pass in C; only when a word is unseen does Python go through them.
        forms = list(map(self._seen.get, tokens))
        if None in forms:
            forms = [
                # A number is its own normal form (and too varied to be worth keeping).
                found or ((token,) if token.isdigit() else self._learn(token))
                for token, found in zip(tokens, forms, strict=True)
            ]
        return " ".join(dict.fromkeys(chain.from_iterable(forms)))  # type: ignore[arg-type]

    def _learn(self, token: str) -> tuple[str, ...]:
        forms = normal_forms(token)
        if script_of(token) != "other":
            if len(self._seen) >= self._max_words:
                # Forgetting everything is crude but cheap and keeps memory bounded; the
                # words that matter come back within a few hundred posts.
                self._seen.clear()
            self._seen[token] = forms
        return forms


def index_lemmas(text: str) -> str:
    """Space-separated normal forms (lower case, ё as е) of every word of `text`.

    For one text at a time; ingestion keeps a `Lemmatizer`, which remembers words."""
    return Lemmatizer()(text)


def query_lemmas(query: str) -> list[list[str]]:
    """For each word of a search query, its alternative normal forms; [] when no words."""
    return [list(normal_forms(token)) for token in _TOKEN.findall(query.lower())]
