"""Matching posts against compiled topics with one Aho-Corasick automaton.

Every surface form of every term word is generated when topics are compiled (see
`morphology`), spelled the ways a post can write it (lower case, Capitalised, UPPER, ё or е),
and put into a single automaton that scans the post's original text once. A hit counts
only on word boundaries; the words of a phrase must follow each other with nothing but
whitespace or hyphens between them. No word of a post is analysed at match time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Final

import ahocorasick

from chanwatch.errors import TermError
from monitor.matching.morphology import WordForms, word_forms
from monitor.matching.rules import TermHit, TopicMatch, TopicRule
from monitor.matching.terms import ParsedTerm, TermKind, parse_term

logger = logging.getLogger(__name__)

_TERMS: Final = 0
_REQUIRE: Final = 1
_EXCLUDE: Final = 2

PHRASE_GAP_CHARS: Final = (
    " \t\n\r\f\v\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000-\u2010\u2011"
)
"""What may stand between the words of a phrase: whitespace and hyphens, nothing else
(a comma or a dash between "Южная" and "Корея" means they are not one name)."""

Slot = tuple[int, int, bool]
"""(term index, word index in the term, whether it is the term's last word)."""

Span = tuple[int, int, int]
"""(start, end, term index) of one occurrence of a whole term."""


class Matcher:
    """Compiled topics; `match` is cheap enough to run on every incoming post."""

    __slots__ = ("_automaton", "_has_require", "_owners", "_regexes", "_topics")

    def __init__(
        self,
        topics: tuple[str, ...],
        has_require: tuple[bool, ...],
        owners: tuple[tuple[tuple[int, int, str], ...], ...],
        automaton: Any,
        regexes: tuple[tuple[int, re.Pattern[str]], ...],
    ) -> None:
        self._topics = topics
        self._has_require = has_require
        self._owners = owners
        self._automaton = automaton
        self._regexes = regexes

    @classmethod
    def compile(cls, rules: Sequence[TopicRule]) -> Matcher:
        """Compile topics; raises TermError naming the topic and term that cannot be used."""
        term_ids: dict[tuple[object, ...], int] = {}
        parsed: list[ParsedTerm] = []
        owners: list[dict[tuple[int, int, str], None]] = []
        for topic_index, rule in enumerate(rules):
            if not rule.name.strip():
                raise TermError("A topic needs a name.")
            if not rule.terms:
                raise TermError(f'Topic "{rule.name}" has no terms: give at least one.')
            roles = ((_TERMS, rule.terms), (_REQUIRE, rule.require), (_EXCLUDE, rule.exclude))
            for role, terms in roles:
                for term in terms:
                    term_parsed = parse_term(term, rule.name)
                    key = _term_key(term_parsed)
                    term_id = term_ids.get(key)
                    if term_id is None:
                        term_id = term_ids[key] = len(parsed)
                        parsed.append(term_parsed)
                        owners.append({})
                    owners[term_id][(topic_index, role, term)] = None
        keys: dict[str, list[Slot]] = {}
        regexes: list[tuple[int, re.Pattern[str]]] = []
        for term_id, term_parsed in enumerate(parsed):
            if term_parsed.regex is not None:
                regexes.append((term_id, term_parsed.regex))
                continue
            last = len(term_parsed.words) - 1
            for word_index, word in enumerate(term_parsed.words):
                slot = (term_id, word_index, word_index == last)
                for spelling in _spellings(word, term_parsed.kind):
                    keys.setdefault(spelling, []).append(slot)
        automaton = ahocorasick.Automaton()
        for spelling, slots in keys.items():
            # Later words first, so a form that is two words of one phrase cannot chain to itself.
            slots.sort(key=lambda slot: -slot[1])
            automaton.add_word(spelling, (len(spelling), tuple(slots)))
        if keys:
            automaton.make_automaton()
        logger.debug(
            "compiled %d topics, %d terms, %d spellings", len(rules), len(parsed), len(keys)
        )
        return cls(
            topics=tuple(rule.name for rule in rules),
            has_require=tuple(bool(rule.require) for rule in rules),
            owners=tuple(tuple(owner) for owner in owners),
            automaton=automaton if keys else None,
            regexes=tuple(regexes),
        )

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    def match(self, text: str) -> list[TopicMatch]:
        """The topics `text` matches, in rule order, with where their terms occur."""
        spans = self._scan(text) if self._automaton is not None else []
        if self._regexes:
            spans.extend(self._scan_regexes(text))
        if not spans:
            return []
        return self._topic_matches(text, spans)

    def _scan(self, text: str) -> list[Span]:
        spans: list[Span] = []
        partial: dict[tuple[int, int], tuple[int, int]] = {}
        size = len(text)
        for last_index, (length, slots) in self._automaton.iter(text):
            start = last_index - length + 1
            if start and text[start - 1].isalnum():
                continue
            end = last_index + 1
            if end < size and text[end].isalnum():
                continue
            for term_id, word_index, is_last in slots:
                if word_index == 0:
                    if is_last:
                        spans.append((start, end, term_id))
                    else:
                        partial[(term_id, 1)] = (start, end)
                    continue
                before = partial.get((term_id, word_index))
                if before is None:
                    continue
                gap = text[before[1] : start]
                if gap != " " and (not gap or gap.strip(PHRASE_GAP_CHARS)):
                    continue
                if is_last:
                    spans.append((before[0], end, term_id))
                else:
                    partial[(term_id, word_index + 1)] = (before[0], end)
        return spans

    def _scan_regexes(self, text: str) -> list[Span]:
        # Same length as `text`, so offsets carry over unchanged.
        folded = text.replace("ё", "е").replace("Ё", "Е")
        return [
            (found.start(), found.end(), term_id)
            for term_id, regex in self._regexes
            for found in regex.finditer(folded)
            if found.end() > found.start()
        ]

    def _topic_matches(self, text: str, spans: list[Span]) -> list[TopicMatch]:
        # topic index -> [spans of terms and require as (start, end, term), require seen, excluded]
        states: dict[int, tuple[set[tuple[int, int, str]], list[bool]]] = {}
        for start, end, term_id in spans:
            for topic_index, role, term in self._owners[term_id]:
                state = states.get(topic_index)
                if state is None:
                    state = states[topic_index] = (set(), [False, False, False])
                state[1][role] = True
                if role != _EXCLUDE:
                    state[0].add((start, end, term))
        matches: list[TopicMatch] = []
        for topic_index in sorted(states):
            found, roles = states[topic_index]
            if not roles[_TERMS] or roles[_EXCLUDE]:
                continue
            if self._has_require[topic_index] and not roles[_REQUIRE]:
                continue
            hits = tuple(
                TermHit(term, start, end, text[start:end]) for start, end, term in sorted(found)
            )
            matches.append(TopicMatch(self._topics[topic_index], hits))
        return matches


def _term_key(term: ParsedTerm) -> tuple[object, ...]:
    if term.regex is not None:
        return (TermKind.REGEX, term.regex.pattern)
    return (term.kind, term.words)


def _spellings(word: str, kind: TermKind) -> set[str]:
    """Every spelling of every form of a term word that a post may contain."""
    if kind is TermKind.EXACT:
        forms = WordForms(frozenset({word.lower()}), capitalised_only=False)
    else:
        forms = word_forms(word)
    spellings: set[str] = set()
    as_written = {word, word.replace("ё", "е").replace("Ё", "Е")}
    if not forms.capitalised_only or word[:1].isupper():
        spellings.update(as_written)
    for form in forms.forms:
        for variant in {form, form.replace("ё", "е")}:
            spellings.add(variant[:1].upper() + variant[1:])
            spellings.add(variant.upper())
            if not forms.capitalised_only:
                spellings.add(variant)
    return spellings
