"""Reading a capitalised word by the sentence around it: where a sentence starts, and whether
a name that is also an ordinary noun («Долина», «Маска») is the name or the noun there.

Only hits the matcher cannot settle by capitals alone come here (such a name at the start of
a sentence or of a quoted title, or in ALL CAPS): a few per thousand posts, so analysing the
words after them with pymorphy3 (through a cache) costs little.
"""

from __future__ import annotations

import enum
import functools
import re
from typing import Any, Final

from monitor.matching.morphology import Homonym, shared_analyzer

SENTENCE_ENDS: Final = ".!?…:;\n"
"""What ends a sentence before a capitalised word (besides the start of the post and any
emoji or bullet: everything that is not a letter, digit, comma, space, quote or bracket)."""
_OPENERS: Final = " \t\r\f\v\u00a0«„“\"'([-–—"
_QUOTES: Final = "«„“\"'"

_CLAUSE: Final = re.compile(r"[^\W\d_]+|\d+|[^\s\w-]")
"""Words, numbers, and the punctuation that ends a clause (anything but a space or hyphen)."""
_CLAUSE_WORDS: Final = 6
"""How far to look for the verb of the clause a hit starts."""
_PREDICATES: Final = frozenset({"VERB", "PRTS", "ADJS"})
_NOT_A_NOUN_PHRASE: Final = frozenset(
    {"VERB", "INFN", "PRTS", "ADJS", "GRND", "ADVB", "PRED", "PREP", "CONJ", "PRCL", "INTJ"}
    | {"COMP", "NPRO"}
)
_LAST_WORD: Final = re.compile(r"([^\W\d_]+)\s*$")


class Reading(enum.Enum):
    NAME = "name"
    NOUN = "noun"
    UNSURE = "unsure"


def starts_sentence(text: str, start: int) -> bool:
    """Whether the word at `start` begins a sentence (openers such as quotes skipped)."""
    index = start - 1
    while index >= 0 and text[index] in _OPENERS:
        index -= 1
    if index < 0:
        return True
    before = text[index]
    return before in SENTENCE_ENDS or not (before.isalnum() or before == ",")


def starts_title(text: str, start: int) -> bool:
    """Whether the word at `start` opens a quotation inside a sentence (a title: парк
    «Долина реки Сходни», «Долина снов»), not at its start (quoted speech: «Путин — …»)."""
    return start > 0 and text[start - 1] in _QUOTES and not starts_sentence(text, start)


def in_doubt(text: str, start: int, end: int) -> bool:
    """Whether capitals say nothing about the word: it starts a sentence or a title, or is
    written in capitals throughout."""
    return (
        starts_sentence(text, start)
        or (start > 0 and text[start - 1] in _QUOTES)
        or text[start:end].isupper()
    )


def read_homonym(text: str, start: int, end: int, homonym: Homonym) -> Reading:
    """Name or noun, by what the sentence says around the word at text[start:end]:
    a genitive after it («Долина реки», «Долина снов») or a hyphened noun («Волк-детектив»)
    makes it the head of a noun phrase; the clause's verb agreeing with one reading only
    decides between subject readings («Маска не помогла»: the noun; «Волк отметила»: the
    person); a preposition before a quoted title makes the title a noun («в „Маске“»)."""
    if starts_title(text, start) and _preposition_before(text, start - 1):
        return Reading.NOUN
    words = _clause_after(text, end)
    if words and words[0][0] == end + 1 and words[0][1].islower():
        first = words[0][1]
        if text[end] == "-" and _is_noun(first):
            return Reading.NOUN
        if text[end].isspace() and _genitive_attribute(first):
            return Reading.NOUN
    for _, word in words:
        predicates = _predicates(word.lower())
        if predicates:
            return _by_agreement(homonym, predicates)
    return Reading.UNSURE


def _by_agreement(homonym: Homonym, predicates: tuple[tuple[str, str | None], ...]) -> Reading:
    noun_subject = any(
        case == "nomn" and _agrees(predicate, number, gender)
        for case, number, gender in homonym.noun
        for predicate in predicates
    )
    name_subject = homonym.subject and any(
        number == "sing" and gender != "neut" for number, gender in predicates
    )
    if noun_subject != name_subject:
        return Reading.NOUN if noun_subject else Reading.NAME
    if not noun_subject and homonym.oblique and all(case == "nomn" for case, _, _ in homonym.noun):
        # Neither is the subject: the word is an object, which only the name can be here.
        return Reading.NAME
    return Reading.UNSURE


def _agrees(predicate: tuple[str, str | None], number: str, gender: str | None) -> bool:
    verb_number, verb_gender = predicate
    if verb_number != number:
        return False
    return number == "plur" or verb_gender is None or gender is None or verb_gender == gender


def _clause_after(text: str, end: int) -> list[tuple[int, str]]:
    """(start, word) of the words that follow up to the end of the clause (numbers skipped)."""
    words: list[tuple[int, str]] = []
    for token in _CLAUSE.finditer(text, end, min(len(text), end + 120)):
        word = token.group()
        if word[0].isdigit():
            continue
        if not word[0].isalpha() or len(words) == _CLAUSE_WORDS:
            break
        words.append((token.start(), word))
    return words


def _preposition_before(text: str, quote: int) -> bool:
    before = _LAST_WORD.search(text, max(0, quote - 30), quote)
    return before is not None and any(p.tag.POS == "PREP" for p in _parse(before[1].lower()))


@functools.lru_cache(maxsize=16384)
def _parse(word: str) -> tuple[Any, ...]:
    return tuple(p for p in shared_analyzer().parse(word) if p.is_known)


@functools.lru_cache(maxsize=16384)
def _predicates(word: str) -> tuple[tuple[str, str | None], ...]:
    """(number, gender) of each reading of `word` as a finite verb or short adjective; gender
    None where the form has none (present tense, plural)."""
    found = []
    for p in _parse(word):
        tag = p.tag
        if tag.POS in _PREDICATES and tag.number is not None:
            found.append((tag.number, tag.gender))
    return tuple(dict.fromkeys(found))


def _is_noun(word: str) -> bool:
    return any(p.tag.POS == "NOUN" for p in _parse(word))


@functools.lru_cache(maxsize=16384)
def _genitive_attribute(word: str) -> bool:
    """A word that can only be part of a noun phrase, and can be its genitive: «реки»."""
    parses = _parse(word)
    if not parses or any(p.tag.POS in _NOT_A_NOUN_PHRASE for p in parses):
        return False
    return any(p.tag.case == "gent" for p in parses)
