"""Turn the shared telegram-news corpus into Telegram Desktop "Export chat history" files.

    python eval/make_exports.py --data ../shared/data/telegram-news --out exports/

writes ``exports/<channel id>/result.json`` per channel, in the JSON layout Telegram Desktop
produces, so `chanwatch scan` and `chanwatch import` can be tried on 22k real posts.

How each corpus record becomes an export message:

- The corpus text is Telethon markdown; Telethon's own parser turns it back into plain text
  plus formatting, written as ``text`` (a plain string when there is no formatting, else the
  list of strings and entity objects) and ``text_entities``. Bare URLs, @mentions and
  #hashtags in the plain parts become "link", "mention" and "hashtag" entities, as Telegram
  would have marked them.
- ``date`` is the local time of the exporting computer (``--local-tz``, default UTC) without a
  zone, as Telegram Desktop writes it; ``date_unixtime`` holds the real UTC instant.
- Posts with empty text were media-only; the corpus does not say which media, so they are
  written as photos whose file was not included in the export.
- The chat id is the bare channel id taken from ``sender_id`` (``-100<id>``), else from the file
  name, else a stable CRC-32 of the channel name. Messages are written oldest first.

Attribution: NKTKLN, "Dataset of Telegram News Posts", CC BY 4.0 (see the corpus README).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telethon.extensions import markdown
from telethon.helpers import add_surrogate, del_surrogate
from telethon.tl import types

CORPUS_GLOB: Final = "*_messages.json"
MARKED_CHANNEL_BASE: Final = 1_000_000_000_000
NOT_INCLUDED: Final = "(File not included. Change data exporting settings to download.)"
_AUTO_ENTITIES: Final = re.compile(
    r"(?P<link>https?://[^\s<>\"]+[^\s<>\".,;:!?)\]»])"
    r"|(?<![\w@])(?P<mention>@[A-Za-z][A-Za-z0-9_]{4,31})\b"
    r"|(?<![\w#])(?P<hashtag>#\w+)"
)
_ENTITY_TYPES: Final[dict[type[Any], str]] = {
    types.MessageEntityBold: "bold",
    types.MessageEntityItalic: "italic",
    types.MessageEntityStrike: "strikethrough",
    types.MessageEntityUnderline: "underline",
    types.MessageEntityCode: "code",
    types.MessageEntityPre: "pre",
    types.MessageEntityTextUrl: "text_link",
    types.MessageEntityMentionName: "mention_name",
    types.MessageEntitySpoiler: "spoiler",
    types.MessageEntityBlockquote: "blockquote",
}

Part = dict[str, Any]
"""One piece of an export text: {"type": "plain" | "bold" | ..., "text": ..., extras}."""


class CorpusError(Exception):
    """The corpus folder or one of its files cannot be converted."""


@dataclass(frozen=True, slots=True)
class Written:
    chat_id: int
    name: str
    messages: int
    path: Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="the telegram-news folder")
    parser.add_argument("--out", type=Path, required=True, help="folder to write exports into")
    parser.add_argument(
        "--local-tz",
        default="UTC",
        help="time zone the zone-less `date` fields are written in (default UTC)",
    )
    args = parser.parse_args(argv)
    try:
        zone = ZoneInfo(args.local_tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"make_exports: unknown time zone {args.local_tz!r}", file=sys.stderr)
        return 2
    try:
        for written in convert_corpus(args.data, args.out, zone):
            print(f"{written.chat_id}\t{written.messages}\t{written.name}\t{written.path}")
    except CorpusError as exc:
        print(f"make_exports: {exc}", file=sys.stderr)
        return 1
    return 0


def convert_corpus(data: Path, out: Path, zone: tzinfo) -> Iterator[Written]:
    if not data.is_dir():
        raise CorpusError(f"{data}: no such folder (is the shared corpus present?)")
    files = sorted(data.glob(CORPUS_GLOB))
    if not files:
        raise CorpusError(f"{data}: no {CORPUS_GLOB} files in this folder")
    for source in files:
        export = _channel_export(source, zone)
        target = out / str(export["id"]) / "result.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as stream:
            json.dump(export, stream, ensure_ascii=False, indent=1)
        yield Written(export["id"], export["name"], len(export["messages"]), target)


def _channel_export(source: Path, zone: tzinfo) -> dict[str, Any]:
    try:
        records = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{source}: cannot be read as JSON ({exc})") from None
    if not isinstance(records, list):
        raise CorpusError(f"{source}: expected a JSON list of posts")
    posts = [r for r in records if isinstance(r, dict) and isinstance(r.get("message_id"), int)]
    names = Counter(str(r["channel"]) for r in posts if r.get("channel"))
    name = names.most_common(1)[0][0] if names else source.stem.removesuffix("_messages")
    chat_id = _chat_id(source, posts, name)
    return {
        "name": name,
        "type": "public_channel",
        "id": chat_id,
        "messages": [
            _message(post, name, chat_id, zone)
            for post in sorted(posts, key=lambda r: int(r["message_id"]))
        ],
    }


def _chat_id(source: Path, posts: list[dict[str, Any]], name: str) -> int:
    """The bare channel id: what Telegram Desktop writes as a channel export's `id`."""
    for post in posts:
        sender = post.get("sender_id")
        if isinstance(sender, int) and sender < -MARKED_CHANNEL_BASE:
            return -sender - MARKED_CHANNEL_BASE
    digits = source.stem.removesuffix("_messages")
    if digits.isdigit() and int(digits) > MARKED_CHANNEL_BASE:
        return int(digits) - MARKED_CHANNEL_BASE
    return zlib.crc32(name.encode("utf-8"))


def _message(post: dict[str, Any], name: str, chat_id: int, zone: tzinfo) -> dict[str, Any]:
    published = datetime.fromisoformat(str(post["date"]))
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    parts = text_parts(str(post.get("text") or ""))
    message: dict[str, Any] = {
        "id": post["message_id"],
        "type": "message",
        "date": published.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds"),
        "date_unixtime": str(int(published.timestamp())),
        "from": name,
        "from_id": f"channel{chat_id}",
    }
    if not parts:
        message["photo"] = NOT_INCLUDED
    message["text"] = _text_field(parts)
    message["text_entities"] = parts
    return message


def _text_field(parts: list[Part]) -> str | list[str | Part]:
    """Telegram Desktop's `text`: a string when unformatted, else strings and entity objects."""
    if all(part["type"] == "plain" for part in parts):
        return "".join(part["text"] for part in parts)
    return [part["text"] if part["type"] == "plain" else part for part in parts]


def text_parts(marked: str) -> list[Part]:
    """Telethon markdown as a flat run of export entities, plain pieces included."""
    plain, entities = markdown.parse(marked)
    wide = add_surrogate(plain)
    cuts = sorted(
        {0, len(wide)}
        | {e.offset for e in entities}
        | {min(e.offset + e.length, len(wide)) for e in entities}
    )
    parts: list[Part] = []
    for start, end in itertools.pairwise(cuts):
        if start >= end:
            continue
        piece = del_surrogate(wide[start:end])
        covering = [e for e in entities if e.offset <= start and end <= e.offset + e.length]
        # Telegram's export has no nesting: the innermost formatting speaks for the piece.
        inner = max(covering, key=lambda e: (e.offset, -e.length), default=None)
        if inner is None or type(inner) not in _ENTITY_TYPES:
            parts.extend(_auto_parts(piece))
        else:
            parts.append(_entity_part(inner, piece))
    return _merge_plain(parts)


def _entity_part(entity: Any, piece: str) -> Part:
    part: Part = {"type": _ENTITY_TYPES[type(entity)], "text": piece}
    if isinstance(entity, types.MessageEntityTextUrl):
        part["href"] = entity.url
    elif isinstance(entity, types.MessageEntityPre):
        part["language"] = entity.language or ""
    elif isinstance(entity, types.MessageEntityMentionName):
        part["user_id"] = entity.user_id
    return part


def _auto_parts(piece: str) -> Iterator[Part]:
    """Links, mentions and hashtags that Telegram recognises in unformatted text."""
    at = 0
    for match in _AUTO_ENTITIES.finditer(piece):
        if match.start() > at:
            yield {"type": "plain", "text": piece[at : match.start()]}
        kind = match.lastgroup or "plain"
        yield {"type": kind, "text": match.group()}
        at = match.end()
    if at < len(piece):
        yield {"type": "plain", "text": piece[at:]}


def _merge_plain(parts: list[Part]) -> list[Part]:
    merged: list[Part] = []
    for part in parts:
        if part["type"] == "plain" and merged and merged[-1]["type"] == "plain":
            merged[-1] = {"type": "plain", "text": merged[-1]["text"] + part["text"]}
        else:
            merged.append(part)
    return merged


if __name__ == "__main__":
    raise SystemExit(main())
