"""Turning Telethon messages into `IncomingPost`s: plain text, captions, albums counted once.

An album (several media messages sharing a `grouped_id`) becomes ONE post. Its `post_id` is
the album's highest message id, so that the stored cursor ("newest stored post id") lies past
every message of the album and a later catch-up never hands the album's tail again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from telethon import utils
from telethon.tl import types

from monitor.sources.base import IncomingPost


def is_post(message: Any) -> bool:
    """True for a real post; service messages (pins, title changes) and gaps are not posts."""
    return isinstance(message, types.Message)


def message_text(message: Any) -> str:
    """The post's plain text or media caption, plus the question and answers of a poll.

    `message.message` is the raw text without markup; `message.text` would be markdown.
    """
    parts = [message.message or ""]
    poll = getattr(getattr(message, "media", None), "poll", None)
    if poll is not None:
        parts.append(_text_of(poll.question))
        parts.extend(_text_of(answer.text) for answer in poll.answers or ())
    return "\n".join(part for part in parts if part)


def _text_of(value: Any) -> str:
    # Layer 178 turned poll texts from str into TextWithEntities.
    return value if isinstance(value, str) else str(getattr(value, "text", "") or "")


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _forwarded_from(message: Any) -> str | None:
    header = getattr(message, "fwd_from", None)
    if header is None:
        return None
    if header.from_name:
        return str(header.from_name)
    if header.from_id is not None:
        return str(utils.get_peer_id(header.from_id))
    return None


def to_post(
    messages: Sequence[Any],
    *,
    channel: str,
    channel_title: str | None = None,
    is_edit: bool = False,
) -> IncomingPost:
    """One post from one message, or from all messages of one album (any order)."""
    if not messages:
        raise ValueError("to_post needs at least one message")
    ordered = sorted(messages, key=lambda m: m.id)
    first, last = ordered[0], ordered[-1]
    texts: list[str] = []
    for message in ordered:
        text = message_text(message)
        if text and text not in texts:
            texts.append(text)
    edit_dates = [d for d in (_aware(m.edit_date) for m in ordered) if d is not None]
    date = _aware(first.date)
    if date is None:
        raise ValueError(f"message {first.id} of {channel} has no date")
    return IncomingPost(
        channel=channel,
        post_id=last.id,
        date=date,
        text="\n\n".join(texts),
        edit_date=max(edit_dates) if edit_dates else None,
        is_edit=is_edit,
        forwarded_from=_forwarded_from(first),
        views=max((m.views for m in ordered if m.views is not None), default=None),
        grouped_id=first.grouped_id,
        channel_title=channel_title,
    )


def group_albums(messages: Iterable[Any]) -> list[list[Any]]:
    """Consecutive posts sharing a `grouped_id` form one group; others stand alone.

    Input in id order (either direction); service messages are dropped.
    """
    groups: list[list[Any]] = []
    for message in messages:
        if not is_post(message):
            continue
        group_id = message.grouped_id
        if group_id is not None and groups and groups[-1][0].grouped_id == group_id:
            groups[-1].append(message)
        else:
            groups.append([message])
    return groups


def to_posts(
    messages: Iterable[Any], *, channel: str, channel_title: str | None = None
) -> list[IncomingPost]:
    """Posts, oldest first, from messages in either order, each album once."""
    ordered = sorted(messages, key=lambda m: m.id)
    return [
        to_post(group, channel=channel, channel_title=channel_title)
        for group in group_albums(ordered)
    ]
