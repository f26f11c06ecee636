"""Normal forms for inflection-aware full-text search (the FTS5 `lemmas` column).

A post is indexed as the normal forms of all its words and a query is looked up by the
normal forms of its words, so "визиты Ким" finds a post saying "визитом" and "Кима".
Ambiguous words contribute every normal form ("нашли": найти and наслать). Tokens are
runs of letters and digits only, which FTS5's default tokenizer keeps whole.
"""

from __future__ import annotations

import re
from typing import Final

from monitor.matching.morphology import normal_forms

_TOKEN: Final = re.compile(r"[^\W_]+")


def index_lemmas(text: str) -> str:
    """Space-separated normal forms (lower case, ё as е) of every word of `text`."""
    lemmas: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        lemmas.extend(normal_forms(token))
    return " ".join(lemmas)


def query_lemmas(query: str) -> list[list[str]]:
    """For each word of a search query, its alternative normal forms; [] when no words."""
    return [list(normal_forms(token)) for token in _TOKEN.findall(query.lower())]
