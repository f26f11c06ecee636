"""Posts from a Telegram Desktop "Export chat history" JSON file (``result.json``).

The whole file is checked before `read_export` returns, so every `ExportError` (missing file,
broken JSON, not a single-chat export) surfaces up front and the post iterator never raises.
Messages are decoded one at a time on both passes, never as a tree of every message at once;
between the passes each message is kept as its UTF-8 bytes, released once its post has been
read, so an open export costs about its file's size in memory (the decoded text, four bytes
a character when a post has an emoji, is dropped once checked).

What the format does not carry, and what is assumed instead:

- The channel's username. `ExportChannel.handle` is the caller's `handle` when given, else
  ``str(id)``: Telegram's bare channel id as the export writes it (Telethon's "marked" form of
  the same channel is ``-100`` followed by it).
- A time zone for ``date``. Newer exports add ``date_unixtime`` (UTC seconds) and it is used;
  older ones only have ``date`` in the exporting computer's local time, which is unknowable
  here, so it is read as UTC and may be off by that computer's UTC offset.
- Whether an edit was seen happening: an export is a snapshot, so posts carry ``edit_date``
  but never ``is_edit``. Old exports write ``1970-01-01...`` for "never edited"; that is None.
- Views and album ids are not exported; album members arrive as separate posts.
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn

from monitor.errors import ExportError
from monitor.sources.base import IncomingPost

logger = logging.getLogger(__name__)

EXPORT_FILE_NAME: Final = "result.json"
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
_EPOCH_YEAR: Final = 1970
_HOW_TO_EXPORT: Final = (
    "open the channel in Telegram Desktop, choose ⋮ → Export chat history, "
    "select the format 'Machine-readable JSON' and give chanwatch the result.json it writes"
)


@dataclass(frozen=True, slots=True)
class ExportChannel:
    """The exported chat, as described by the header of ``result.json``."""

    name: str
    id: int
    type: str
    """Telegram Desktop's chat kind: "public_channel", "private_channel", "public_supergroup"…"""
    handle: str
    """What `IncomingPost.channel` is set to: the caller's handle, else ``str(id)``."""
    message_count: int = 0
    """Entries in ``messages``, service messages and malformed ones included (for progress)."""


@dataclass(frozen=True, slots=True)
class _Span:
    """The ``messages`` array: each message's JSON text, as UTF-8."""

    messages: deque[bytes]
    in_date_order: bool = True
    """Whether the messages come by date (ties: by id), as Telegram Desktop writes them."""

    @property
    def count(self) -> int:
        return len(self.messages)


class ExportPosts(Iterator[IncomingPost]):
    """The posts of one export in file order (Telegram Desktop writes them oldest first).

    Service messages (joins, pins, title changes) are skipped. A malformed message (no integer
    ``id``, no readable date, not an object) is skipped too; after the last post one warning
    gives how many were dropped. Both counts are readable once iteration is over.
    """

    def __init__(self, source: Path, span: _Span, channel: ExportChannel) -> None:
        self._source = source
        self._channel = channel
        self._messages = _decode_each(span.messages)
        self.in_date_order = span.in_date_order
        """Whether the posts come by date, then id (checked when the file was read): posts of
        several exports are then merged in date order one at a time (chanwatch.offline)."""
        self.skipped_service = 0
        self.skipped_malformed = 0
        self._first_problem: str | None = None
        self._done = False

    def __iter__(self) -> ExportPosts:
        return self

    def __next__(self) -> IncomingPost:
        for raw in self._messages:
            post = self._convert(raw)
            if post is not None:
                return post
        if not self._done:
            self._done = True
            if self.skipped_malformed:
                logger.warning(
                    "%s: skipped %d malformed message(s); first: %s",
                    self._source,
                    self.skipped_malformed,
                    self._first_problem,
                )
        raise StopIteration

    def _convert(self, raw: object) -> IncomingPost | None:
        if isinstance(raw, dict) and raw.get("type") == "service":
            self.skipped_service += 1
            return None
        try:
            return _post_from_message(raw, self._channel)
        except _MalformedMessage as problem:
            self.skipped_malformed += 1
            if self._first_problem is None:
                self._first_problem = str(problem)
            return None


def read_export(path: Path, *, handle: str | None = None) -> tuple[ExportChannel, ExportPosts]:
    """Open a Telegram Desktop single-chat JSON export and check it whole.

    `path` is the ``result.json`` file or the export folder holding it. `handle` (already
    normalised by the caller) becomes every post's `channel`; without it the chat id is used.
    Raises ExportError, naming the file, when it is missing, unreadable, not JSON or not a
    single-chat export.
    """
    source = path / EXPORT_FILE_NAME if path.is_dir() else path
    text = _read_text(source, given=path)
    header, found = _scan(source, text)
    channel, span = _channel_from_header(source, header, found, handle)
    return channel, ExportPosts(source, span, channel)


def _read_text(source: Path, *, given: Path) -> str:
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        if given.is_dir():
            raise ExportError(
                f"{given}: folder has no {EXPORT_FILE_NAME}; {_HOW_TO_EXPORT}"
            ) from None
        raise ExportError(f"{source}: file not found") from None
    except OSError as exc:
        raise ExportError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    try:
        # Tolerate a byte order mark: some editors add one when a file is re-saved.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportError(
            f"{source}: not a Telegram export: not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def _scan(source: Path, text: str) -> tuple[dict[str, Any], _Span | None]:
    """Check the whole text is JSON; decode every top-level key except the message list.

    Each message is decoded and dropped here, so syntax errors anywhere in the file are
    reported now and the later pass cannot fail.
    """
    try:
        return _scan_object(text)
    except json.JSONDecodeError as exc:
        raise ExportError(
            f"{source}: not valid JSON: {exc.msg.removesuffix(' at')} "
            f"at line {exc.lineno} column {exc.colno}"
        ) from None
    except _NotAnObject as exc:
        raise ExportError(
            f"{source}: JSON but not a Telegram export: the top level is {exc}, not an object; "
            f"{_HOW_TO_EXPORT}"
        ) from None


class _NotAnObject(Exception):
    pass


class _MalformedMessage(Exception):
    pass


def _scan_object(text: str) -> tuple[dict[str, Any], _Span | None]:
    decoder = json.JSONDecoder()
    at = _skip_ws(text, 0)
    if at == len(text):
        raise json.JSONDecodeError("Expecting value (the file is empty)", text, at)
    if text[at] != "{":
        value, end = decoder.raw_decode(text, at)
        _expect_end(text, end)
        raise _NotAnObject(_json_kind(value))
    header: dict[str, Any] = {}
    span: _Span | None = None
    at = _skip_ws(text, at + 1)
    if text.startswith("}", at):
        _expect_end(text, at + 1)
        return header, span
    while True:
        if not text.startswith('"', at):
            _fail_like_json(text)
        key, at = decoder.raw_decode(text, at)
        at = _skip_ws(text, at)
        if not text.startswith(":", at):
            _fail_like_json(text)
        at = _skip_ws(text, at + 1)
        if key == "messages" and text.startswith("[", at):
            start = at
            at = _skip_ws(text, start + 1) + 1  # the end when the list is empty
            messages: deque[bytes] = deque()
            ordered = _DateOrder()
            for value, begin, end, at in _array_items(text, start, decoder):  # noqa: B007
                ordered.see(value)
                messages.append(text[begin:end].encode())
            span = _Span(messages, in_date_order=ordered.holds)
            header.pop(key, None)
        else:
            header[key], at = decoder.raw_decode(text, at)
            if key == "messages":
                span = None
        at = _skip_ws(text, at)
        if text.startswith(",", at):
            at = _skip_ws(text, at + 1)
        elif text.startswith("}", at):
            _expect_end(text, at + 1)
            return header, span
        else:
            _fail_like_json(text)


class _DateOrder:
    """Whether the messages seen so far came by (date, id); unreadable ones are not judged."""

    def __init__(self) -> None:
        self.holds = True
        self._last: tuple[datetime, int] | None = None

    def see(self, raw: object) -> None:
        if not self.holds or not isinstance(raw, dict):
            return
        post_id = raw.get("id")
        date = _moment(raw, "date_unixtime", "date")
        if date is None or isinstance(post_id, bool) or not isinstance(post_id, int):
            return
        key = (date, post_id)
        if self._last is not None and key < self._last:
            self.holds = False
        self._last = key


def _array_items(
    text: str, start: int, decoder: json.JSONDecoder
) -> Iterator[tuple[object, int, int, int]]:
    """Each element of the array opening at `start`: its value, where its text begins and
    ends, and the index just past its separator."""
    at = _skip_ws(text, start + 1)
    if text.startswith("]", at):
        return
    while True:
        begin = at
        value, end = decoder.raw_decode(text, at)
        at = _skip_ws(text, end)
        if text.startswith(",", at):
            at = _skip_ws(text, at + 1)
            yield value, begin, end, at
        elif text.startswith("]", at):
            yield value, begin, end, at + 1
            return
        else:
            _fail_like_json(text)


def _skip_ws(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at


def _expect_end(text: str, at: int) -> None:
    if _skip_ws(text, at) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip_ws(text, at))


def _fail_like_json(text: str) -> NoReturn:
    """Raise the error the standard parser gives, so messages read the same as json's."""
    json.loads(text)
    raise json.JSONDecodeError("Unexpected structure", text, 0)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _channel_from_header(
    source: Path, header: dict[str, Any], span: _Span | None, handle: str | None
) -> tuple[ExportChannel, _Span]:
    chats = header.get("chats")
    if isinstance(chats, dict) and "list" in chats:
        listed = chats["list"] if isinstance(chats["list"], list) else []
        names = [str(c.get("name")) for c in listed if isinstance(c, dict) and c.get("name")]
        shown = ", ".join(repr(n) for n in names[:3]) + (", …" if len(names) > 3 else "")
        raise ExportError(
            f"{source}: this is a whole-account export (Export Telegram data) with "
            f"{len(listed)} chat(s){': ' + shown if shown else ''}; chanwatch reads one channel "
            f"at a time: {_HOW_TO_EXPORT}"
        )
    missing = [key for key in ("id", "messages") if key not in header]
    if span is not None:
        missing = [key for key in missing if key != "messages"]
    if missing:
        wanted = " or ".join(repr(key) for key in missing)
        raise ExportError(
            f"{source}: JSON but not a Telegram chat export: no {wanted} at the top level; "
            f"{_HOW_TO_EXPORT}"
        )
    if span is None:
        raise ExportError(
            f"{source}: not a Telegram chat export: 'messages' is "
            f"{_json_kind(header['messages'])}, expected a list of messages"
        )
    chat_id = header["id"]
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise ExportError(
            f"{source}: not a Telegram chat export: 'id' is {chat_id!r}, expected an integer"
        )
    name = header.get("name")
    kind = header.get("type")
    channel = ExportChannel(
        name=name if isinstance(name, str) else str(chat_id),
        id=chat_id,
        type=kind if isinstance(kind, str) else "",
        handle=handle if handle is not None else str(chat_id),
        message_count=span.count,
    )
    return channel, span


def _decode_each(messages: deque[bytes]) -> Iterator[object]:
    """Each message decoded, and dropped from `messages` as it is (its bytes freed)."""
    while messages:
        yield json.loads(messages.popleft())


def _post_from_message(raw: object, channel: ExportChannel) -> IncomingPost:
    if not isinstance(raw, dict):
        raise _MalformedMessage(f"an entry is {_json_kind(raw)}, not a message object")
    post_id = raw.get("id")
    if isinstance(post_id, bool) or not isinstance(post_id, int):
        raise _MalformedMessage(f"a message has no integer 'id' (got {post_id!r})")
    date = _moment(raw, "date_unixtime", "date")
    if date is None:
        raise _MalformedMessage(f"message {post_id} has no readable 'date'")
    edit_date = _moment(raw, "edited_unixtime", "edited")
    if edit_date is not None and edit_date.year <= _EPOCH_YEAR:
        edit_date = None
    forwarded = raw.get("forwarded_from")
    return IncomingPost(
        channel=channel.handle,
        post_id=post_id,
        date=date,
        text=_plain_text(raw),
        edit_date=edit_date,
        forwarded_from=forwarded if isinstance(forwarded, str) else None,
        channel_title=channel.name,
    )


def _moment(raw: dict[str, Any], unix_key: str, local_key: str) -> datetime | None:
    """A UTC datetime from the unixtime field, else the zone-less local field read as UTC."""
    unix = raw.get(unix_key)
    if isinstance(unix, str | int) and not isinstance(unix, bool):
        try:
            return datetime.fromtimestamp(int(unix), tz=UTC)
        except (ValueError, OverflowError, OSError):
            pass
    local = raw.get(local_key)
    if isinstance(local, str):
        try:
            moment = datetime.fromisoformat(local)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    return None


def _plain_text(raw: dict[str, Any]) -> str:
    """The message text with formatting dropped: entity pieces are joined in order."""
    text = raw.get("text")
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        text = raw.get("text_entities")
    if not isinstance(text, list):
        return ""
    parts: list[str] = []
    for piece in text:
        if isinstance(piece, str):
            parts.append(piece)
        elif isinstance(piece, dict) and isinstance(piece.get("text"), str):
            parts.append(piece["text"])
    return "".join(parts)
