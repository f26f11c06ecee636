"""Term syntax: a word or phrase (every inflected form), `=exact` spelling, `name:` proper
name (capitalised occurrences only), `re:` regex."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final

from monitor.errors import TermError

REGEX_PREFIX: Final = "re:"
EXACT_PREFIX: Final = "="
NAME_PREFIX: Final = "name:"

_WORD: Final = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
"""A term's words: letters and digits; hyphens split words (a phrase allows a hyphen)."""


class TermKind(Enum):
    INFLECTED = "inflected"
    EXACT = "exact"
    NAME = "name"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class ParsedTerm:
    """A term taken apart: its kind and either its words (as written) or its regex."""

    kind: TermKind
    words: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None


def parse_term(term: str, topic: str | None = None) -> ParsedTerm:
    """Take a term apart or raise TermError naming it (and its topic when given)."""
    where = f'Topic "{topic}", term "{term}"' if topic is not None else f'Term "{term}"'
    body = term.strip()
    if not body:
        raise TermError(f"{where}: a term cannot be empty.")
    if body.lower().startswith(REGEX_PREFIX):
        return ParsedTerm(TermKind.REGEX, regex=_compile_regex(body[len(REGEX_PREFIX) :], where))
    kind = TermKind.INFLECTED
    if body.startswith(EXACT_PREFIX):
        kind, body = TermKind.EXACT, body[len(EXACT_PREFIX) :]
    elif body.lower().startswith(NAME_PREFIX):
        kind, body = TermKind.NAME, body[len(NAME_PREFIX) :].strip()
    if not any(ch.isalpha() for ch in body):
        raise TermError(f"{where}: a term needs at least one letter.")
    return ParsedTerm(kind, words=tuple(_WORD.findall(body)))


def validate_term(term: str) -> None:
    """Raise TermError with a message fit for the user when `term` cannot be compiled."""
    parse_term(term)


def _compile_regex(source: str, where: str) -> re.Pattern[str]:
    source = source.strip()
    if not source:
        raise TermError(f"{where}: the regular expression after 're:' is empty.")
    # ё is compared as е everywhere, in the post and in the pattern alike.
    pattern = source.replace("ё", "е").replace("Ё", "Е")
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise TermError(f"{where}: not a valid regular expression ({exc}).") from None
    if regex.search("") is not None:
        raise TermError(f"{where}: the regular expression matches empty text.")
    return regex
