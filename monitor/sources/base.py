"""The one small interface between where posts come from and what is done with them.

Sources (Telethon, the public web preview, exports) produce `IncomingPost`s and hand them to
a `PostSink`; they never match, store or deliver anything themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class IncomingPost:
    channel: str
    """The channel's handle exactly as stored in the database (``channels.handle``)."""
    post_id: int
    date: datetime
    """Aware datetime (UTC) of publication."""
    text: str
    """Plain text of the post, or the caption of a media post; may be empty."""
    edit_date: datetime | None = None
    is_edit: bool = False
    """True when the source saw this post change after it was first published."""
    forwarded_from: str | None = None
    views: int | None = None
    grouped_id: int | None = None
    """Album id: the posts of one album share it and are counted once."""
    channel_title: str | None = None


class PostSink(Protocol):
    """What a source hands posts and its health to (implemented by `monitor.ingest`)."""

    async def handle_posts(self, posts: Sequence[IncomingPost], *, history: bool) -> None:
        """Match and store posts, oldest first. `history` posts are stored without alerts."""

    async def source_error(self, channel: str, message: str) -> None:
        """Record that a channel's source failed, with a message naming what went wrong."""

    async def source_ok(self, channel: str) -> None:
        """Record that a channel's source answered normally (clears its last error)."""


class ChannelCursor(Protocol):
    """Where each channel stands: the newest post id already stored."""

    async def last_post_id(self, channel: str) -> int | None:
        """The newest stored post id, or None when the channel was never read (first sight)."""

    async def known_post_ids(self, channel: str, post_ids: Sequence[int]) -> set[int]:
        """Which of these posts of the channel are already stored."""


class WatchList(Protocol):
    """Which channels a source must watch right now (operators change it while running)."""

    async def channels(self, source: str) -> list[str]:
        """Handles of the active channels whose `source` is "telegram" or "web"."""
