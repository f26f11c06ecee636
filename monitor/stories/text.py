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
TOKEN: Final = re.compile(r"[^\W\d_]{3,}|\d+")
"""What a word is: three letters or more, or a number (Unicode letters and digits)."""
_STEM_OF: Final = itemgetter(slice(None, STEM))


def _char_class(pattern: str, chars: str) -> str:
    """The characters of `chars` that `pattern` matches, as the body of a [...] class."""
    codes = [ord(c) for c in re.findall(pattern, chars)]
    spans: list[list[int]] = []
    for code in codes:
        if spans and spans[-1][1] == code - 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in spans
    )


_BMP: Final = "".join(map(chr, range(0x10000)))
_TOKEN_BMP: Final = re.compile(
    "[%s]{3,}|[%s]+" % (_char_class(r"[^\W\d_]", _BMP), _char_class(r"\d", _BMP))  # noqa: UP031
)
"""`TOKEN` for text without letters or digits beyond U+FFFF: the same classes spelled out
as lists of characters (taken from `TOKEN`'s own classes when the module loads, so from the
same Unicode tables), which the regex engine checks with a table lookup instead of asking
the Unicode database about every character. Twice as fast on the corpus."""
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_LETTER_OR_DIGIT: Final = re.compile(r"[^\W_]")
del _BMP


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
    # Characters beyond U+FFFF (two UTF-16 units: a cheap test) are nearly all emoji, which
    # are no part of a word either way.
    if len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text):
        beyond = _ASTRAL.findall(text)
        if _LETTER_OR_DIGIT.search("".join(beyond)):
            return TOKEN.findall(text)
    return _TOKEN_BMP.findall(text)


def stems(tokens: list[str]) -> frozenset[str]:
    return frozenset(map(_STEM_OF, tokens))


def numbers(tokens: list[str], token_stems: frozenset[str]) -> frozenset[str]:
    """The numbers among `tokens`, with numbers up to ten written as words as digits
    (`token_stems` are `stems(tokens)`: most posts have no stem of a number word, and
    their stems are hashed already, unlike the words)."""
    found = frozenset(filter(str.isdigit, tokens))
    if _NUMBER_STEMS.isdisjoint(token_stems) or NUMBER_WORDS.keys().isdisjoint(tokens):
        return found
    return found.union(filter(None, map(NUMBER_WORDS.get, tokens)))


NUMBER_WORDS: Final[dict[str, str]] = {
    form: str(n)
    for n, forms in enumerate(
        (
            "",
            "один одна одно одного одной одному одним",
            "два две двух двум двумя двое двоих двоим двоими",
            "три трех трем тремя трое троих троим троими",
            "четыре четырех четырем четырьмя четверо четверых четверым четверыми",
            "пять пяти пятью пятеро пятерых пятерым пятерыми",
            "шесть шести шестью шестеро шестерых шестерым шестерыми",
            "семь семи семеро семерых семерым семерыми",  # not «семью»: mostly «family»
            "восемь восьми восемью восьмеро восьмерых",
            "девять девяти девятью девятеро девятерых",
            "десять десяти десятью десятеро десятерых",
        )
    )
    for form in forms.split()
}
"""Number words as digits: «ещё три беспилотника» after «ещё восемь» is a later count.
The collective forms count too: «двое злоумышленников» and «два преступника» are one count."""
_NUMBER_STEMS: Final = frozenset(map(_STEM_OF, NUMBER_WORDS))

SENTENCE_END: Final = re.compile(r"[.!?…\n]+\s*")
SOURCE_DASH: Final = re.compile(r"\s[—–-]\s|,\s?[—–-]")
_NAME_INSIDE: Final = re.compile(
    r"(?<=[\w,»\"] )[А-ЯЁA-Z][^\W\d_]{2,}|(?<=[\w,] [«\"])[А-ЯЁA-Z][^\W\d_]{2,}"
)


def head_names(text: str, body: str) -> frozenset[str]:
    """Stems of the capitalised words inside the first sentence of a post's body (`body`
    is its lines from `lines`, boilerplate left out; `text` the post as it came), before
    any «— source»: the names its headline is about. A sentence's first word is not one."""
    first_line = body.split("\n", 1)[0]
    for line in text.split("\n"):
        line = line.strip()
        if line and line.lower().replace("ё", "е") == first_line:
            head = SOURCE_DASH.split(SENTENCE_END.split(line, 1)[0], 1)[0]
            return frozenset(
                word[:STEM].lower().replace("ё", "е") for word in _NAME_INSIDE.findall(head)
            )
    return frozenset()
