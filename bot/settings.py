"""What the conversation needs from the configuration, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage import RetentionPolicy


@dataclass(frozen=True, slots=True)
class BotSettings:
    admins: frozenset[int]
    """Telegram user ids of the operators (may manage channels and topics)."""
    digest_time: str
    """Default HH:MM for a new subscriber's digest."""
    timezone: str
    """Default IANA zone (Area/City) for a new subscriber."""
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    """How long posts are kept (for /stats)."""
    live_seconds: float = 30.0
    """A process whose heartbeat is older than this is gone (`cluster.lease_seconds`): /stats
    lists the others."""
