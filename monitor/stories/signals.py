"""Signals read only for the few pairs of posts that already pass the stem shares.

Every post goes through `monitor.stories.text` once; what is here is read again from a
body's text for a candidate pair only (a handful per post), so it costs nothing per post.
"""

from __future__ import annotations

import re
from typing import Final

from monitor.stories.text import (
    NUMBER_WORDS,
    SENTENCE_END,
    SOURCE_DASH,
    numbers,
    stems,
    words,
)

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
    return _numbers_without(_TIME_OF_DAY, later_text) <= first_numbers


def _numbers_without(detail: re.Pattern[str], text: str) -> frozenset[str]:
    """The numbers of `text` outside what `detail` matches (a time of day, a date)."""
    tokens = words(detail.sub(" ", text))
    return numbers(tokens, stems(tokens))


def is_round_up(raw: str) -> bool:
    """Whether a post lists things by link: a digest, a weekly guide, a list of events."""
    if "http" not in raw and "t.me/" not in raw:
        return False
    return len(_LINK.findall(raw)) >= ROUND_UP_LINKS


_SCALES: Final = (
    ("тыс", 10**3),
    ("млн", 10**6),
    ("миллион", 10**6),
    ("млрд", 10**9),
    ("миллиард", 10**9),
    ("трлн", 10**12),
    ("триллион", 10**12),
)
"""How «тыс.», «тысяч», «млн», «миллиона», «млрд», «трлн»... begin, and what they multiply by."""
_ZERO: Final = frozenset({"ноль", "нуль", "нуля", "нолю", "нулю", "нулем", "нолем"})
_FIGURE: Final = re.compile(
    r"(\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:[.,](\d+))?(\+)?"
    r"(?:\s*((?:тыс|млн|млрд|трлн|миллион|миллиард|триллион)[^\W\d_]*))?"
)
"""A number in digits («5 000», «1,5»), with its scale («тыс.», «миллиона») if any."""
_GROUP_SPACE: Final = re.compile(r"[ \u00a0\u202f]")
_AGE_RATINGS: Final = frozenset({"0", "6", "12", "16", "18"})
"""«18+»: a label for the reader, not a figure of the news."""
_WORD_FIGURES: Final = frozenset({*NUMBER_WORDS, *_ZERO, "полтора", "полторы"})

Figure = tuple[int, int]
"""A value as (digits, decimals): 1,5 is (15, 1), 1500 is (1500, 0); never a trailing 0
among the decimals, so that one value has one form."""


def _scale(word: str | None) -> int:
    if word:
        for start, scale in _SCALES:
            if word.startswith(start):
                return scale
    return 1


def _figure(whole: int, decimals: str, scale: int) -> Figure:
    digits, places = whole * 10 ** len(decimals) + int(decimals or 0), len(decimals)
    digits *= scale
    while places and digits % 10 == 0:
        digits //= 10
        places -= 1
    return (digits, places)


def figures(text: str, tokens: list[str]) -> frozenset[Figure]:
    """The values a text's numbers stand for, however written: «5 тысяч», «5 000» and «5000»
    are one value, and so are «полторы тысячи» and «1,5 тыс», «ниже нуля» and «ниже 0».
    An age rating («18+») is no figure. `text` is a body's lower-case lines, `tokens` its
    `words`: number words are looked up there, with the scale word after them."""
    found: set[Figure] = set()
    for digits, decimals, rating, scale in _FIGURE.findall(text):
        if rating and digits in _AGE_RATINGS:
            continue
        found.add(_figure(int(_GROUP_SPACE.sub("", digits)), decimals, _scale(scale)))
    if not _WORD_FIGURES.isdisjoint(tokens):
        for n, token in enumerate(tokens):
            if token not in _WORD_FIGURES:
                continue
            scale = _scale(tokens[n + 1]) if n + 1 < len(tokens) else 1
            if token.startswith("полтор"):
                if scale > 1:
                    found.add(_figure(1, "5", scale))
            else:
                found.add(_figure(0 if token in _ZERO else int(NUMBER_WORDS[token]), "", scale))
    return frozenset(found)


def same_figures(
    first_text: str, first_tokens: list[str], later_text: str, later_tokens: list[str]
) -> bool:
    """Whether every figure of `later` is one `first` gave, written another way («5 000»
    after «5 тысяч», «1,5 тыс» after «полторы тысячи»): then `later` brings no new number,
    whatever its digits."""
    return figures(later_text, later_tokens) <= figures(first_text, first_tokens)


_AFTER: Final = re.compile(r"\b(?:после|на фоне)\s+")
"""«X после Y», «X на фоне Y» in a headline: X happened after Y, or because of it."""
REFERENCE_LETTERS: Final = 4
"""Letters of the word after «после» that must open a word of the earlier headline: the
reference is often the noun of the earlier post's verb («заявила» → «после заявления»,
«занесло снегом» → «после снегопада»), which a five-letter stem does not join."""


def _headline(text: str, ends: re.Pattern[str] = SENTENCE_END) -> str:
    """The first sentence of a body's lower-case lines that has two words or more."""
    start = 0
    for end in ends.finditer(text):
        if len(words(text[start : end.start()])) >= 2:
            return text[start : end.start()]
        start = end.end()
    return text[start:] if len(words(text[start:])) >= 2 else ""


def follows_up(first_text: str, first_stems: frozenset[str], later_text: str) -> bool:
    """Whether `later`'s headline reports something new that happened after `first`'s
    headline event, though the rest of it repeats `first`: «На дорогах массовые ДТП после
    снегопада» after «Москву ночью занесло снегом», «Акции Walmart выросли после заявления,
    что …» after «Walmart заявила, что …». What comes before «после» («на фоне») must be
    mostly new (two stems or more, at least half of its stems, that `first` lacks) and the
    word after it must name `first`'s headline; a `first` whose headline has the same turn
    of phrase is told again, not followed up."""
    if "после" not in later_text and "на фоне" not in later_text:
        return False
    later_head = _headline(later_text)
    found = _AFTER.search(later_head)
    if found is None:
        return False
    first_head = _headline(first_text)
    if _AFTER.search(first_head):
        return False
    before = stems(words(later_head[: found.start()]))
    new = len(before - first_stems)
    if new < 2 or 2 * new < len(before):
        return False
    after = words(later_head[found.end() :])
    return bool(after) and after[0][:REFERENCE_LETTERS] in {
        word[:REFERENCE_LETTERS] for word in words(first_head)
    }


_MONTHS: Final = (
    "(?:января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря)"
)
_DATE: Final = re.compile(r"\b(?:[12]?\d|3[01])\s+" + _MONTHS + r"\b")
_ANY_MONTH: Final = re.compile(r"\b" + _MONTHS + r"\b")


def adds_only_a_date(first_text: str, first_numbers: frozenset[str], later_text: str) -> bool:
    """Whether the numbers `later` has and `first` lacks are all a day of a month («с 22
    октября», «23 ноября» after «в субботу») that `first`, naming no month at all, did not
    give: as for a time of day, when is a detail of the same news. A date `first` gave and
    `later` changes is news, so `first` must name none."""
    if _ANY_MONTH.search(first_text) or not _DATE.search(later_text):
        return False
    return _numbers_without(_DATE, later_text) <= first_numbers


_FIGURE_SENTENCE_END: Final = re.compile(r"(?:[!?…\n]|\.(?!\d))+\s*")
"""`SENTENCE_END` without the point inside a figure («108.11», «10.00 мск»)."""


def swaps_a_headline_figure(first_text: str, later_text: str) -> bool:
    """Whether `later`'s headline is `first`'s with another figure: «Доллар выше 110
    рублей на бирже» after «Доллар выше 108 рублей на бирже. … почти 110» is the next
    rate, though every number of the later post is one the earlier gave. Each headline
    (before any «— source») must give a figure the other's lacks, and the later one's
    words must all be the earlier one's: a headline that only adds or drops a figure, or
    says something else, is not this (figures compared however written, see `figures`)."""
    later_head = SOURCE_DASH.split(_headline(later_text, _FIGURE_SENTENCE_END), 1)[0]
    later_tokens = words(later_head)
    if not any(map(str.isdigit, later_tokens)) and _WORD_FIGURES.isdisjoint(later_tokens):
        return False
    first_head = SOURCE_DASH.split(_headline(first_text, _FIGURE_SENTENCE_END), 1)[0]
    first_tokens = words(first_head)
    if not _word_stems(later_tokens) <= _word_stems(first_tokens):
        return False
    later_figures = figures(later_head, later_tokens)
    first_figures = figures(first_head, first_tokens)
    return bool(later_figures - first_figures) and bool(first_figures - later_figures)


def _word_stems(tokens: list[str]) -> frozenset[str]:
    """The stems of `tokens` that are words, not numbers (number words left out too)."""
    return stems([t for t in tokens if not t.isdigit() and t not in _WORD_FIGURES])


RETOLD_NEW: Final = 0.2
"""At most this share of new stems (to the earlier post) in a sentence that is told again."""


def retells_also(first_stems: frozenset[str], later_text: str, also: frozenset[str]) -> bool:
    """Whether `later`'s «также» sentences and its headline each tell what `first` told
    (at most `RETOLD_NEW` of their stems new to it): «Также лидеры стран обсудили …» after
    «Кроме того, лидеры стран обсудили …» rewords the earlier post. A statement new to
    `first` under «также», or a new headline over an «also said» recap of it, is news."""
    sentences = SENTENCE_END.split(later_text)
    told = [w for s in sentences[1:] if not also.isdisjoint(ws := words(s)) for w in ws]
    told_stems = stems(told)
    head_stems = stems(words(_headline(later_text)))
    return all(
        len(part - first_stems) <= RETOLD_NEW * len(part)
        for part in (told_stems, head_stems)
        if part
    ) and bool(told_stems)


ACTORS: Final = frozenset(
    """
    парла прави прези премь сенат госду совфе конгр кабми кремл минис мэрия губер
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
"""Stems of the bodies that act in a procedure (parliament, government, president, senate,
Duma, Congress, cabinet, Kremlin, ministry, mayor's office, governor): a headline that opens
with one of them says who acted."""


def swaps_the_actor(
    first_text: str, first_stems: frozenset[str], later_text: str, later_stems: frozenset[str]
) -> bool:
    """Whether `later`'s headline opens with another acting body than `first`'s, neither
    named by the other post: «Правительство Южной Кореи проголосовало за отмену военного
    положения» four hours after «Парламент Южной Кореи проголосовал за …» is the next body
    of the procedure, in the same words. (Any first word swapped was too wide: «Власти …»
    over «Мэрия …» retell one decision.)"""
    # Each actor is one post's only: most pairs are told apart here, without a headline.
    later_actors = ACTORS.intersection(later_stems)
    if not later_actors or later_actors <= first_stems:
        return False
    if ACTORS.intersection(first_stems) <= later_stems:
        return False
    later_words = words(_headline(later_text))
    if not later_words:
        return False
    later_actor = later_words[0][:5]
    if later_actor not in ACTORS or later_actor in first_stems:
        return False
    first_words = words(_headline(first_text))
    if not first_words:
        return False
    first_actor = first_words[0][:5]
    return first_actor in ACTORS and first_actor != later_actor and first_actor not in later_stems
