"""Matching posts against compiled topics with one Aho-Corasick automaton.

Every surface form of every term word is generated when topics are compiled (see
`morphology`), spelled the ways a post can write it (lower case, Capitalised, UPPER, ё or е),
and put into a single automaton that scans the post's original text once. A hit counts
only on word boundaries; the words of a phrase must follow each other with nothing but
whitespace or hyphens between them. No word of a post is analysed at match time, except
the few words after a one-word name that is also an ordinary noun where capitals cannot
tell them apart («Долина реки…», «Маска не помогла»: see `context`).
"""

from __future__ import annotations

import bisect
import logging
import operator
import re
from collections.abc import Sequence
from typing import Any, Final

import ahocorasick

from monitor.errors import TermError
from monitor.matching.context import Reading, in_doubt, read_homonym, starts_sentence, starts_title
from monitor.matching.morphology import Homonym, WordForms, name_homonyms, word_forms
from monitor.matching.rules import TermHit, TopicMatch, TopicRule
from monitor.matching.terms import ParsedTerm, TermKind, parse_term

logger = logging.getLogger(__name__)

# Roles of a term in its topic, as bits so that a topic's roles seen in a post fit an int.
_TERMS: Final = 1
_REQUIRE: Final = 2
_EXCLUDE: Final = 4
_HIT_ORDER: Final = operator.attrgetter("start", "end", "term")

PHRASE_GAP_CHARS: Final = (
    " \t\n\r\f\v\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000-\u2010\u2011"
)
"""What may stand between the words of a phrase: whitespace and hyphens, nothing else
(a comma or a dash between "Южная" and "Корея" means they are not one name)."""


class _AtStart:
    """A capitalised form of a lower-case term that is also a name ("Морозов"): inside a
    sentence it is the name, so it counts only where a sentence starts."""


AT_START: Final = _AtStart()

Check = _AtStart | Homonym | None
"""What a spelling needs besides word boundaries: nothing, a sentence start, or (a name
that is also an ordinary noun) a reading of the sentence where capitals say nothing."""

Slot = tuple[int, int, bool, Check]
"""(term index, word index in the term, whether it is the term's last word, its check)."""

Doubtful = list[tuple[int, int, int, Homonym]]
"""(term index, start, end, homonym) of hits that wait for `_settle`."""

TermKey = tuple[int, str]
"""(term index, the term as the user wrote it): what a TermHit reports for a topic."""

Places = dict[int, list[tuple[int, int]]]
"""Term index -> (start, end) of each occurrence of the whole term in a post, in order."""


class Matcher:
    """Compiled topics; `match` is cheap enough to run on every incoming post."""

    __slots__ = (
        "_automaton",
        "_filter_owners",
        "_has_require",
        "_regexes",
        "_term_owners",
        "_topics",
    )

    def __init__(
        self,
        topics: tuple[str, ...],
        has_require: tuple[bool, ...],
        term_owners: tuple[tuple[tuple[int, TermKey], ...], ...],
        filter_owners: tuple[tuple[tuple[int, int, TermKey], ...], ...],
        automaton: Any,
        regexes: tuple[tuple[int, re.Pattern[str]], ...],
    ) -> None:
        self._topics = topics
        self._has_require = has_require
        self._term_owners = term_owners
        self._filter_owners = filter_owners
        self._automaton = automaton
        self._regexes = regexes

    @classmethod
    def compile(cls, rules: Sequence[TopicRule]) -> Matcher:
        """Compile topics; raises TermError naming the topic and term that cannot be used."""
        term_ids: dict[tuple[object, ...], int] = {}
        parsed: list[ParsedTerm] = []
        # term index -> (topic index, role, (term index, term as written)) of each use
        owners: list[dict[tuple[int, int, TermKey], None]] = []
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
                    owners[term_id][(topic_index, role, (term_id, term))] = None
        keys: dict[str, list[Slot]] = {}
        regexes: list[tuple[int, re.Pattern[str]]] = []
        for term_id, term_parsed in enumerate(parsed):
            if term_parsed.regex is not None:
                regexes.append((term_id, term_parsed.regex))
                continue
            last = len(term_parsed.words) - 1
            for word_index, word in enumerate(term_parsed.words):
                # Only a one-word term has its hits checked: inside a phrase the words
                # around it already say which word it is ("Деда Мороза", "Илон Маск").
                for spelling, check in _spellings(word, term_parsed.kind, last == 0).items():
                    slot = (term_id, word_index, word_index == last, check)
                    keys.setdefault(spelling, []).append(slot)
        automaton = ahocorasick.Automaton()
        for spelling, slots in keys.items():
            # Later words first, so a form that is two words of one phrase cannot chain to itself.
            slots.sort(key=lambda slot: -slot[1])
            # Most spellings belong to one single-word term: that case skips the slot loop.
            single = slots[0][0] if len(slots) == 1 and slots[0][1:] == (0, True, None) else -1
            automaton.add_word(spelling, (len(spelling), single, tuple(slots)))
        if keys:
            automaton.make_automaton()
        logger.debug(
            "compiled %d topics, %d terms, %d spellings", len(rules), len(parsed), len(keys)
        )
        return cls(
            topics=tuple(rule.name for rule in rules),
            has_require=tuple(bool(rule.require) for rule in rules),
            term_owners=tuple(
                tuple((topic, key) for topic, role, key in owner if role == _TERMS)
                for owner in owners
            ),
            filter_owners=tuple(
                tuple(use for use in owner if use[1] != _TERMS) for owner in owners
            ),
            automaton=automaton if keys else None,
            regexes=tuple(regexes),
        )

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    def match(self, text: str) -> list[TopicMatch]:
        """The topics `text` matches, in rule order, with where their terms occur."""
        places: Places = {}
        if self._automaton is not None:
            doubtful = self._scan(text, places)
            if doubtful:
                _settle(text, places, doubtful)
        if self._regexes:
            self._scan_regexes(text, places)
        if not places:
            return []
        return self._topic_matches(text, places)

    def _scan(self, text: str, places: Places) -> Doubtful | None:
        partial: dict[tuple[int, int], tuple[int, int]] = {}
        doubtful: Doubtful | None = None
        size = len(text)
        # Keys never cross a word boundary, so the leftmost-longest hit of each word is the
        # only one that can be the whole word: shorter forms inside it need not be reported.
        for last_index, (length, single, slots) in self._automaton.iter_long(text):
            start = last_index - length + 1
            if start and text[start - 1].isalnum():
                continue
            end = last_index + 1
            if end < size and text[end].isalnum():
                continue
            if single >= 0:
                found = places.get(single)
                if found is None:
                    places[single] = [(start, end)]
                else:
                    found.append((start, end))
                continue
            for term_id, word_index, is_last, check in slots:
                if word_index:
                    before = partial.get((term_id, word_index))
                    if before is None:
                        continue
                    gap = text[before[1] : start]
                    if gap != " " and (not gap or gap.strip(PHRASE_GAP_CHARS)):
                        continue
                    if not is_last:
                        partial[(term_id, word_index + 1)] = (before[0], end)
                        continue
                    place = (before[0], end)
                elif is_last:
                    if check is not None:
                        if check is AT_START:
                            if not starts_sentence(text, start):
                                continue
                        elif in_doubt(text, start, end):
                            if doubtful is None:
                                doubtful = []
                            doubtful.append((term_id, start, end, check))
                            continue
                    place = (start, end)
                else:
                    partial[(term_id, 1)] = (start, end)
                    continue
                found = places.get(term_id)
                if found is None:
                    places[term_id] = [place]
                else:
                    found.append(place)
        return doubtful

    def _scan_regexes(self, text: str, places: Places) -> None:
        # Same length as `text`, so offsets carry over unchanged.
        folded = text.replace("ё", "е").replace("Ё", "Е")
        for term_id, regex in self._regexes:
            found = [(m.start(), m.end()) for m in regex.finditer(folded) if m.end() > m.start()]
            if found:
                places[term_id] = found

    def _topic_matches(self, text: str, places: Places) -> list[TopicMatch]:
        # This runs for every topic a hit touches, often dozens per post: kept lean.
        # topic index -> the key of its one hit term, or a list of keys when several hit
        touched: dict[int, TermKey | list[TermKey]] = {}
        term_owners = self._term_owners
        for term_id in places:
            for topic_index, key in term_owners[term_id]:
                before = touched.get(topic_index)
                if before is None:
                    touched[topic_index] = key
                elif isinstance(before, list):
                    before.append(key)
                else:
                    touched[topic_index] = [before, key]
        if not touched:
            return []
        excluded: set[int] = set()
        required: dict[int, list[TermKey]] = {}
        filter_owners = self._filter_owners
        for term_id in places:
            for topic_index, role, key in filter_owners[term_id]:
                if role == _EXCLUDE:
                    excluded.add(topic_index)
                else:
                    required.setdefault(topic_index, []).append(key)
        matches: list[TopicMatch] = []
        has_require = self._has_require
        topics = self._topics
        # One TermHit per (term, place), shared by every topic that has the term.
        made: dict[TermKey, tuple[TermHit, ...]] = {}
        for topic_index in sorted(touched):
            found = touched[topic_index]
            if has_require[topic_index] or excluded:
                if topic_index in excluded:
                    continue
                if has_require[topic_index]:
                    if topic_index not in required:
                        continue
                    extra = required[topic_index]
                    found = [*found, *extra] if isinstance(found, list) else [found, *extra]
            if not isinstance(found, list):
                hits = made.get(found)
                if hits is None:
                    spots = places[found[0]]
                    if len(spots) == 1:  # the usual case, without a call and a loop
                        start, end = spots[0]
                        hits = (TermHit(found[1], start, end, text[start:end]),)
                    else:
                        hits = _term_hits(text, found[1], spots)
                    made[found] = hits
            else:
                merged: list[TermHit] = []
                # A term listed under both `terms` and `require` reports its places once.
                for key in dict.fromkeys(found):
                    term_hits = made.get(key)
                    if term_hits is None:
                        term_hits = made[key] = _term_hits(text, key[1], places[key[0]])
                    merged.extend(term_hits)
                merged.sort(key=_HIT_ORDER)
                hits = tuple(merged)
            matches.append(TopicMatch(topics[topic_index], hits))
        return matches


def _term_hits(text: str, term: str, places: list[tuple[int, int]]) -> tuple[TermHit, ...]:
    return tuple([TermHit(term, start, end, text[start:end]) for start, end in places])


def _term_key(term: ParsedTerm) -> tuple[object, ...]:
    if term.regex is not None:
        return (TermKind.REGEX, term.regex.pattern)
    return (term.kind, term.words)


def _settle(text: str, places: Places, doubtful: Doubtful) -> None:
    """Keep the hits of a name that is also an ordinary noun unless the sentence shows the
    noun. Where it shows neither, a sentence start counts, but a quoted title («ЖК „Кит“»,
    «Маска») only when the post names the person elsewhere: titles are mostly the noun."""
    titles: list[tuple[int, int, int]] = []
    for term_id, start, end, homonym in doubtful:
        reading = read_homonym(text, start, end, homonym)
        if reading is Reading.NOUN:
            continue
        if reading is Reading.UNSURE and starts_title(text, start):
            titles.append((term_id, start, end))
            continue
        bisect.insort(places.setdefault(term_id, []), (start, end))
    for term_id, start, end in titles:
        found = places.get(term_id)
        if found:
            bisect.insort(found, (start, end))


def _spellings(word: str, kind: TermKind, alone: bool) -> dict[str, Check]:
    """Every spelling of every form of a term word that a post may contain, each with what
    it needs to count. Only a one-word (`alone`) term has checks: a capitalised form that is
    also a name, for a lower-case term, counts only at the start of a sentence ("Морозов" is
    the surname inside one); for a name term, a form an ordinary noun shares is read in its
    sentence where capitals say nothing, and one that is only the name's plural is left out
    («Маски», «Долин»)."""
    if kind is TermKind.EXACT:
        forms = WordForms(frozenset({word.lower()}), capitalised_only=False)
    else:
        forms = word_forms(word, name=kind is TermKind.NAME)
    checks: dict[str, Check] = {}
    as_written = {word, word.replace("ё", "е").replace("Ё", "Е")}
    if not forms.capitalised_only or word[:1].isupper():
        checks.update(dict.fromkeys(as_written, None))
    for form in forms.forms:
        name_like = form in forms.name_forms
        for variant in {form, form.replace("ё", "е")}:
            capitalised = variant[:1].upper() + variant[1:]
            # A spelling wanted both ways (the term as written, another form) is unrestricted.
            restricted = alone and name_like and checks.get(capitalised, AT_START) is AT_START
            checks[capitalised] = AT_START if restricted else None
            checks[variant.upper()] = None
            if not forms.capitalised_only:
                checks[variant] = None
    if alone and forms.capitalised_only and kind is not TermKind.EXACT:
        for form, homonym in name_homonyms(word, name=kind is TermKind.NAME).items():
            for variant in {form, form.replace("ё", "е")}:
                for spelling in (variant[:1].upper() + variant[1:], variant.upper()):
                    if homonym is None:
                        checks.pop(spelling, None)
                    else:
                        checks[spelling] = homonym
    return checks
