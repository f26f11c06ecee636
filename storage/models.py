"""What storage hands back: plain frozen records, never rows or cursors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    handle: str
    source: str
    title: str | None
    last_post_id: int | None
    from_config: bool
    last_error: str | None
    last_error_at: datetime | None
    last_ok_at: datetime | None
    post_count: int = 0
    account: str | None = None
    """The Telegram account that reads it (telegram channels only; None: none does)."""
    unassigned: str | None = None
    """Why no account reads a telegram channel: UNASSIGNED_FULL or UNASSIGNED_NO_ACCOUNT."""

    @property
    def display_name(self) -> str:
        return self.title or self.handle


UNASSIGNED_FULL: Final = "full"
"""Every working account already reads as many channels as it may."""
UNASSIGNED_NO_ACCOUNT: Final = "no_account"
"""No configured account is working."""


@dataclass(frozen=True, slots=True)
class Account:
    """A Telegram account and its load, as /stats shows it."""

    name: str
    capacity: int
    channels: int
    down_reason: str | None
    down_at: datetime | None

    @property
    def working(self) -> bool:
        return self.down_reason is None


@dataclass(frozen=True, slots=True)
class Assignment:
    """A telegram channel whose account changed: `after` None means no account has it now."""

    handle: str
    before: str | None
    after: str | None
    unassigned: str | None = None
    """Why `after` is None (UNASSIGNED_FULL or UNASSIGNED_NO_ACCOUNT)."""


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    name: str
    terms: tuple[str, ...]
    require: tuple[str, ...]
    exclude: tuple[str, ...]
    from_config: bool


@dataclass(frozen=True, slots=True)
class TopicHit:
    """One topic a stored post matched, with the words to highlight."""

    topic: str
    terms: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class NewMatch:
    """A match to store: topic by name, matched words and their offsets into the text."""

    topic: str
    terms: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class StoredPost:
    """A post as delivery sees it, with the topics it matched (when asked for)."""

    id: int
    channel_handle: str
    channel_title: str | None
    post_id: int
    date: datetime
    text: str
    edit_date: datetime | None
    hits: tuple[TopicHit, ...] = ()
    story: int | None = None
    """The id of the first post of this post's story when it is a copy; None: it starts one."""
    copies: int = 0
    """How many other stored posts share its story (filled only where lists show it)."""

    @property
    def story_key(self) -> int:
        """The story's id: the id of its first post."""
        return self.id if self.story is None else self.story

    @property
    def link(self) -> str:
        if self.channel_handle.lstrip("-").isdigit():
            # Numeric ids have no public link; t.me/c/ works for members of the channel.
            internal = self.channel_handle.removeprefix("-100").lstrip("-")
            return f"https://t.me/c/{internal}/{self.post_id}"
        return f"https://t.me/{self.channel_handle}/{self.post_id}"

    @property
    def channel_name(self) -> str:
        return self.channel_title or self.channel_handle


@dataclass(frozen=True, slots=True)
class SaveResult:
    new_posts: int
    edited_posts: int
    new_matches: int
    demoted: int = 0
    """Posts handed as live that were at or below the channel's first sight: kept as history."""
    first_sight: int | None = None
    """The channel's first-sight post id (the mark `demoted` posts were at or below)."""
    created: tuple[int, ...] = ()
    """Row ids of the new posts, ascending (the story detector's catch-up sees from them
    whether another process stored posts in between: see monitor.ingest)."""


@dataclass(frozen=True, slots=True)
class Subscriber:
    chat_id: int
    chat_type: str
    title: str | None
    active: bool
    mode: str
    quiet: bool
    digest_time: str
    digest_period: str
    timezone: str
    last_digest_at: datetime | None
    created_at: datetime
    language: str | None = None
    """'en', 'ru'…; None until a user's Telegram language decides it."""
    group_copies: bool = True
    """/copies on (the default): a copy of a post already alerted edits that alert."""

    @property
    def wants_instant(self) -> bool:
        return self.mode in ("instant", "both")

    @property
    def wants_digest(self) -> bool:
        return self.mode in ("digest", "both")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    chat_id: int
    kind: str
    text: str
    disable_notification: bool
    attempts: int
    chart: str | None = None
    """JSON of a chart to send as a photo, `text` being its caption (None: a text message)."""
    target: int | None = None
    """Kind 'edit': the outbox id of the alert whose message this rewrites."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message owed to a chat; `dedup_key` makes queueing it twice a no-op."""

    chat_id: int
    kind: str
    dedup_key: str
    text: str
    disable_notification: bool = False
    chart: str | None = None
    """JSON of a chart to draw at send time; `text` is then the photo's caption."""
    post: int | None = None
    """The post an alert or an edit is about (alerts and edits only)."""
    story: int | None = None
    """That post's story (see StoredPost.story_key)."""
    target: int | None = None
    """Kind 'edit': the outbox id of the alert whose message this rewrites."""


@dataclass(frozen=True, slots=True)
class Stats:
    channels: int
    posts: int
    matches: int
    subscribers: int
    active_subscribers: int
    queued: int
    failed: int
    sent: int


@dataclass(frozen=True, slots=True)
class Tally:
    """How many of something happened in one minute (UTC) — of one topic when `key` says."""

    minute: datetime
    count: int
    key: int = 0


@dataclass(frozen=True, slots=True)
class PostRecord:
    """A post to store, already matched, with its FTS lemma string."""

    post_id: int
    date: datetime
    text: str
    lemmas: str
    matches: tuple[NewMatch, ...]
    edit_date: datetime | None = None
    story: tuple[str, int] | None = None
    """The first post of its story (channel handle, post id) when it is a copy of an earlier
    post; None: it starts a story."""
    restory: bool = False
    """For an edit: its text changed substantially, so its story is set anew from `story`.
    Otherwise an edited post keeps the story it has."""


@dataclass(frozen=True, slots=True)
class ChannelBatch:
    """One channel's posts of a delivery, for `Posts.save_many`."""

    handle: str
    records: Sequence[PostRecord]
    title: str | None = None
    history: bool = False
    """As `Posts.save`'s `history`."""


class StoryPost(NamedTuple):
    """A stored post as the story detector is rebuilt from it: (channel, message id, date,
    text), the detector's own row."""

    handle: str
    post_id: int
    date: datetime
    text: str


@dataclass(slots=True)
class StoryAlert:
    """A chat's alert of a story: its outbox row, the post it shows, and the text its
    message has last been given (the alert's, or that of its latest edit)."""

    id: int
    post: int
    text: str
    edits: int = 0
    """Edits queued of it so far."""


ROLES: Final = ("all", "monitor", "bot")
"""What a `chanwatch run` process does: everything, or reading channels, or the bot."""


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A running `chanwatch run` process as its heartbeat last recorded it (/stats)."""

    id: int
    role: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    channels: int
    """Channels it read at its last heartbeat (monitor and all roles; 0 for a bot)."""
    capacity: int = 0
    """Web channels it may take (`cluster.web_channels` of a monitor; 0 for a bot)."""
    office: str | None = None
    """What it was elected to ("bot": the bot process that polls and sends), else None."""
