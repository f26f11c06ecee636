"""Term syntax: a word or phrase (every inflected form), `=exact` spelling, `name:` proper
name (capitalised occurrences only), `re:` regex."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final

from monitor.errors import TermError
from storage.errors import N_

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


def _error(template: str, term: str, topic: str | None, **values: object) -> TermError:
    """The error for a bad term; the topic is named when known (config files name it)."""
    error = TermError(template, term=term, **values)
    if topic is None:
        return error
    # Chat users never see this form (the bot checks terms one by one), so it stays English.
    return TermError(f'Topic "{topic}", term{str(error).removeprefix("Term")}')


def parse_term(term: str, topic: str | None = None) -> ParsedTerm:
    """Take a term apart or raise TermError naming it (and its topic when given)."""
    body = term.strip()
    if not body:
        raise _error(N_('Term "{term}": a term cannot be empty.'), term, topic)
    if body.lower().startswith(REGEX_PREFIX):
        regex = _compile_regex(body[len(REGEX_PREFIX) :], term, topic)
        return ParsedTerm(TermKind.REGEX, regex=regex)
    kind = TermKind.INFLECTED
    if body.startswith(EXACT_PREFIX):
        kind, body = TermKind.EXACT, body[len(EXACT_PREFIX) :]
    elif body.lower().startswith(NAME_PREFIX):
        kind, body = TermKind.NAME, body[len(NAME_PREFIX) :].strip()
    if not any(ch.isalpha() for ch in body):
        raise _error(N_('Term "{term}": a term needs at least one letter.'), term, topic)
    return ParsedTerm(kind, words=tuple(_WORD.findall(body)))


def validate_term(term: str) -> None:
    """Raise TermError with a message fit for the user when `term` cannot be compiled."""
    parse_term(term)


def _compile_regex(source: str, term: str, topic: str | None) -> re.Pattern[str]:
    source = source.strip()
    if not source:
        raise _error(
            N_("Term \"{term}\": the regular expression after 're:' is empty."), term, topic
        )
    # ё is compared as е everywhere, in the post and in the pattern alike.
    pattern = source.replace("ё", "е").replace("Ё", "Е")
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise _error(
            N_('Term "{term}": not a valid regular expression ({reason}).'),
            term,
            topic,
            reason=str(exc),
        ) from None
    if regex.search("") is not None:
        raise _error(N_('Term "{term}": the regular expression matches empty text.'), term, topic)
    return regex
