"""Topic matching that understands Russian inflection: the public API of the matcher."""

from __future__ import annotations

from monitor.markdown import markdown_to_plain
from monitor.matching.lemmas import LEMMA_VERSION, Lemmatizer, index_lemmas, query_lemmas
from monitor.matching.matcher import Matcher
from monitor.matching.rules import TermHit, TopicMatch, TopicRule
from monitor.matching.terms import validate_term

__all__ = [
    "LEMMA_VERSION",
    "Lemmatizer",
    "Matcher",
    "TermHit",
    "TopicMatch",
    "TopicRule",
    "index_lemmas",
    "markdown_to_plain",
    "query_lemmas",
    "validate_term",
]
