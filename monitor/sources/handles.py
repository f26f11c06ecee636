"""One spelling for every way a user names a channel: `pul_1`, `@pul_1`, `t.me/pul_1`, an id."""

from __future__ import annotations

import re
from typing import Final

from monitor.errors import SourceError
from storage.errors import N_

_USERNAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
_LINK: Final = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t|telegram)\.(?:me|dog)/(?:s/)?(?P<name>[^/?#\s]+)(?:/\d+)?/?"
    r"(?:[?#].*)?"
)
_NUMERIC: Final = re.compile(r"-?\d{5,20}")


def normalize_handle(raw: str) -> str:
    """The canonical handle: a lower-case username, or a numeric id as written.

    Raises SourceError with a message that quotes what was given and says what is accepted.
    """
    text = raw.strip()
    if not text:
        raise SourceError(
            N_("empty channel name: give a t.me username, a t.me link or a numeric id")
        )
    link = _LINK.fullmatch(text)
    if link:
        text = link.group("name")
        if text.startswith("+") or text == "joinchat":
            raise SourceError(
                N_("{given} is a private invite link; chanwatch watches public channels by name"),
                given=repr(raw),
            )
    text = text.removeprefix("@")
    if _NUMERIC.fullmatch(text):
        return text
    if _USERNAME.fullmatch(text):
        return text.lower()
    raise SourceError(
        N_(
            "{given} is not a channel name: expected a t.me username (5-32 letters, digits, _), "
            "a link like https://t.me/pul_1, or a numeric id"
        ),
        given=repr(raw),
    )
