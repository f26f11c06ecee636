"""Command arguments into values: pure functions that raise CommandError saying how to write it.

No Telegram imports here, so every rule of the command syntax is tested directly.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import CommandError
from monitor.sources.handles import normalize_handle
from storage.errors import N_
from storage.models import Topic
from storage.topics import TopicSpec

RECENT_DEFAULT: Final = 10
RECENT_MAX: Final = 50
SEARCH_MAX_CHARS: Final = 200
TOPIC_NAME_MAX: Final = 64
TERM_MAX_CHARS: Final = 200
TERMS_MAX: Final = 200
MODES: Final = ("instant", "digest", "both")
PERIODS: Final = ("daily", "weekly")
DIGEST_USAGE: Final = N_(
    "Write /digest HH:MM [daily|weekly] (e.g. /digest 08:30 weekly) or /digest off."
)

_TIME: Final = re.compile(r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})")
# A section keyword only counts after "|", so a regex term may still use "|" for alternation.
_SECTION: Final = re.compile(r"\|\s*(require|exclude)\s*:", re.IGNORECASE)
_OPENERS: Final = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class DigestRequest:
    """`/digest off` (time is None) or `/digest HH:MM [daily|weekly]`."""

    time: str | None
    period: str | None = None

    @property
    def off(self) -> bool:
        return self.time is None


def _words(args: str | None) -> list[str]:
    return (args or "").split()


def parse_count(args: str | None) -> int:
    """`/recent [N]`: N in 1..RECENT_MAX, RECENT_DEFAULT when absent."""
    words = _words(args)
    usage = N_("Write /recent or /recent N with N from 1 to {max}, e.g. /recent 20.")
    if not words:
        return RECENT_DEFAULT
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if len(words) > 1 or not words[0].isdecimal():
        raise CommandError(N_("I did not understand the number."), usage=usage, max=RECENT_MAX)
    count = int(words[0])
    if not 1 <= count <= RECENT_MAX:
        raise CommandError(
            N_("{count} is out of range."), usage=usage, count=count, max=RECENT_MAX
        )
    return count


def parse_search(args: str | None) -> str:
    """`/search WORDS`: the query with whitespace collapsed (it is shown on one line)."""
    query = " ".join(_words(args))
    if not query:
        raise CommandError(
            N_(
                "Write what to look for after the command, e.g. /search выборы в парламент. "
                "Every inflected form of each word is found."
            )
        )
    if len(query) > SEARCH_MAX_CHARS:
        raise CommandError(
            N_(
                "That query is {length} characters long; a search takes at most {max}. "
                "Use a few key words."
            ),
            length=len(query),
            max=SEARCH_MAX_CHARS,
        )
    return query


def parse_time(text: str) -> str:
    """HH:MM (or H:MM, H.MM) as canonical zero-padded HH:MM."""
    found = _TIME.fullmatch(text.strip())
    if found:
        hour, minute = int(found["hour"]), int(found["minute"])
        if hour < 24 and minute < 60:
            return f"{hour:02d}:{minute:02d}"
    raise CommandError(
        N_("“{time}” is not a time of day. Write it as HH:MM in 24-hour form, e.g. 08:30."),
        usage=DIGEST_USAGE,
        time=text,
    )


def parse_digest(args: str | None) -> DigestRequest | None:
    """`/digest off` | `/digest HH:MM [daily|weekly]`; None when nothing was given (show)."""
    words = [word.lower() for word in _words(args)]
    if not words:
        return None
    if words == ["off"]:
        return DigestRequest(time=None)
    if len(words) > 2:
        raise CommandError(N_("Too many words."), usage=DIGEST_USAGE)
    period = None
    if len(words) == 2:
        if words[1] not in PERIODS:
            raise CommandError(
                N_("“{word}” is not daily or weekly."), usage=DIGEST_USAGE, word=words[1]
            )
        period = words[1]
    return DigestRequest(time=parse_time(words[0]), period=period)


def parse_mode(args: str | None) -> str | None:
    """`/mode instant|digest|both`; None when nothing was given (show)."""
    words = [word.lower() for word in _words(args)]
    if not words:
        return None
    if len(words) != 1 or words[0] not in MODES:
        raise CommandError(
            N_(
                "Write /mode instant (an alert per post), /mode digest (one summary at your "
                "digest time) or /mode both."
            )
        )
    return words[0]


@functools.cache
def _zone_names() -> dict[str, str]:
    """IANA names by their case-folded spelling: "europe/moscow" is Europe/Moscow."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def parse_timezone(args: str | None) -> str | None:
    """`/timezone Area/City`, checked against the IANA database; None when nothing given."""
    words = _words(args)
    if not words:
        return None
    example = N_("Write it as Area/City, e.g. /timezone Europe/Moscow or /timezone Asia/Almaty.")
    if len(words) != 1:
        raise CommandError(N_("A time zone is one word."), usage=example)
    name = _zone_names().get(words[0].casefold(), words[0])
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: names that are a folder of zones ("Europe") or too long for a file name.
        raise CommandError(
            N_("I do not know the time zone “{zone}”."), usage=example, zone=name
        ) from None
    return zone.key


def parse_channel(args: str | None) -> tuple[str, str]:
    """`/addchannel HANDLE_OR_LINK [web]` as (handle, source); SourceError on a bad name."""
    words = _words(args)
    usage = N_(
        "Write /addchannel @name, /addchannel https://t.me/name, or add web to read it "
        "through the public t.me page: /addchannel @name web."
    )
    if not words:
        raise CommandError(N_("Which channel?"), usage=usage)
    if len(words) > 2 or (len(words) == 2 and words[1].lower() != "web"):
        raise CommandError(
            N_("I did not understand “{words}”."), usage=usage, words=" ".join(words)
        )
    source = "web" if len(words) == 2 else "telegram"
    return normalize_handle(words[0]), source


def parse_handle(args: str | None, command: str) -> str:
    """A single channel argument (`/removechannel`)."""
    words = _words(args)
    if len(words) != 1:
        raise CommandError(N_("Write /{command} @name, e.g. /{command} @pul_1."), command=command)
    return normalize_handle(words[0])


def split_terms(text: str) -> list[str]:
    """Comma- or newline-separated terms; commas inside (), [] or {} stay in the term.

    That keeps regex terms such as `re:\\d{1,3}` whole.
    """
    terms: list[str] = []
    current: list[str] = []
    closers: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _OPENERS:
            closers.append(_OPENERS[char])
        elif closers and char == closers[-1]:
            closers.pop()
        elif not closers and char in ",\n":
            terms.append("".join(current))
            current = []
            continue
        current.append(char)
    terms.append("".join(current))
    return [term.strip() for term in terms if term.strip()]


ADDTOPIC_USAGE: Final = N_(
    "Write /addtopic NAME: term, term, … and optionally | require: term, … | exclude: term, …\n"
    "e.g. /addtopic Выборы: выборы, избирком, =ЦИК | exclude: школьный"
)


def _unique(terms: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for term in terms:
        seen.setdefault(term.casefold(), term)
    return tuple(seen.values())


def check_topic_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise CommandError(N_("The topic needs a name before the colon."), usage=ADDTOPIC_USAGE)
    if len(name) > TOPIC_NAME_MAX:
        raise CommandError(
            N_("A topic name is at most {max} characters long."), max=TOPIC_NAME_MAX
        )
    if any(char in name for char in ",|:"):
        raise CommandError(N_("A topic name cannot contain a comma, colon or |."))
    return name


def parse_topic(args: str | None, validate_term: Callable[[str], None]) -> TopicSpec:
    """`/addtopic NAME: t1, t2 | require: a, b | exclude: c`, every term validated."""
    text = (args or "").strip()
    name, colon, rest = text.partition(":")
    if not colon:
        raise CommandError(ADDTOPIC_USAGE)
    name = check_topic_name(name)
    pieces = _SECTION.split(rest)
    sections: dict[str, list[str]] = {"terms": split_terms(pieces[0])}
    for keyword, body in zip(pieces[1::2], pieces[2::2], strict=True):
        key = keyword.lower()
        if key in sections:
            raise CommandError(N_("{section}: is given twice."), usage=ADDTOPIC_USAGE, section=key)
        sections[key] = split_terms(body)
    terms = _unique(sections["terms"])
    if not terms:
        raise CommandError(
            N_("The topic “{topic}” needs at least one term."), usage=ADDTOPIC_USAGE, topic=name
        )
    require = _unique(sections.get("require", []))
    exclude = _unique(sections.get("exclude", []))
    if len(terms) + len(require) + len(exclude) > TERMS_MAX:
        raise CommandError(N_("A topic may have at most {max} terms."), max=TERMS_MAX)
    for term in (*terms, *require, *exclude):
        if len(term) > TERM_MAX_CHARS:
            raise CommandError(
                N_("The term “{term}…” is longer than {max} characters."),
                term=term[:40],
                max=TERM_MAX_CHARS,
            )
        validate_term(term)
    return TopicSpec(name=name, terms=terms, require=require, exclude=exclude)


def find_topics(args: str | None, topics: Sequence[Topic], command: str) -> list[Topic]:
    """Topics named in a comma-separated list (case-insensitive); all when none named."""
    names = [name.strip() for name in (args or "").split(",") if name.strip()]
    if not names:
        return list(topics)
    by_name = {topic.name.casefold(): topic for topic in topics}
    found: list[Topic] = []
    for name in names:
        topic = by_name.get(" ".join(name.split()).casefold())
        if topic is None:
            raise CommandError(
                N_(
                    "There is no topic “{topic}”. Topics: {known}. "
                    "Write /{command} NAME, or /{command} alone for all of them."
                ),
                topic=name,
                known=", ".join(topic.name for topic in topics) or "—",
                command=command,
            )
        if topic not in found:
            found.append(topic)
    return found


_LANGUAGE_WORDS: Final = {
    "en": "en",
    "english": "en",
    "английский": "en",
    "ru": "ru",
    "russian": "ru",
    "русский": "ru",
}


def parse_language(args: str | None) -> str | None:
    """`/language ru|en` (their names in English or Russian work too); None: show it."""
    words = [word.lower() for word in _words(args)]
    if not words:
        return None
    if len(words) != 1 or words[0] not in _LANGUAGE_WORDS:
        raise CommandError(
            N_("I speak English (en) and Russian (ru). Write /language ru or /language en.")
        )
    return _LANGUAGE_WORDS[words[0]]


_SWITCH_WORDS: Final = {"on": True, "вкл": True, "off": False, "выкл": False}


def parse_copies(args: str | None) -> bool | None:
    """`/copies on|off`: True groups copies of a post into its first alert; None: show it."""
    words = [word.lower() for word in _words(args)]
    if not words:
        return None
    if len(words) != 1 or words[0] not in _SWITCH_WORDS:
        raise CommandError(
            N_(
                "Write /copies on (copies of a post in other channels are added to its first "
                "alert) or /copies off (every copy alerts)."
            )
        )
    return _SWITCH_WORDS[words[0]]


TREND_PERIODS: Final = {"7d": 7, "30d": 30, "90d": 90}
TREND_DEFAULT_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class TrendRequest:
    """`/trend [TOPIC …] [7d|30d|90d]`: the topics named (empty: the chat's own) and days."""

    topics: tuple[Topic, ...]
    days: int = TREND_DEFAULT_DAYS


def parse_trend(args: str | None, topics: Sequence[Topic]) -> TrendRequest:
    """Topic names (case-insensitive; several words each, or comma-separated) and a period.

    Names are read greedily, longest first, so "Ким Чен Ын visit" finds both topics.
    """
    words = _words((args or "").replace(",", " "))
    days = TREND_DEFAULT_DAYS
    if words and words[-1].lower() in TREND_PERIODS:
        days = TREND_PERIODS[words.pop().lower()]
    usage = N_("Write /trend, /trend 7d, or name topics: /trend visit invitation 90d.")
    if any(word.lower() in TREND_PERIODS for word in words):
        raise CommandError(N_("Give the period once, at the end."), usage=usage)
    by_name = {tuple(topic.name.casefold().split()): topic for topic in topics}
    longest = max((len(key) for key in by_name), default=1)
    chosen: list[Topic] = []
    position = 0
    while position < len(words):
        for size in range(min(longest, len(words) - position), 0, -1):
            key = tuple(word.casefold() for word in words[position : position + size])
            topic = by_name.get(key)
            if topic is not None:
                break
        else:
            raise CommandError(
                N_("There is no topic “{topic}”. Topics: {known}."),
                usage=usage,
                topic=words[position],
                known=", ".join(topic.name for topic in topics) or "—",
            )
        if topic not in chosen:
            chosen.append(topic)
        position += size
    return TrendRequest(tuple(chosen), days)
