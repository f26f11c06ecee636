"""Prometheus metrics of one `chanwatch run` process.

Counters are fed by the parts as things happen (through the ingest listener and the bot's
observer, so neither monitor/ nor bot/ knows Prometheus); what the database knows (the
outbox backlog, each channel's newest post) is read when Prometheus scrapes. Each process
has its own registry, so every process serves only its own numbers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

from bot.observer import FAILURE_KINDS
from chanwatch.health import Health
from storage import Store

SOURCES: Final = ("web", "telegram")
MESSAGE_KINDS: Final = ("alert", "edit", "digest", "notice")


class Metrics:
    """The process's metrics; also the BotObserver the bot reports to."""

    def __init__(self, health: Health) -> None:
        self._health = health
        registry = self.registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.posts = Counter(
            "chanwatch_posts_ingested",
            "New posts stored, by the kind of source that read them.",
            ["source"],
            registry=registry,
        )
        self.matches = Counter(
            "chanwatch_matches",
            "Topic matches stored (a post matching two topics counts once for each).",
            ["topic"],
            registry=registry,
        )
        self.sent = Counter(
            "chanwatch_messages_sent",
            "Messages Telegram accepted, by kind (alert, digest, notice).",
            ["kind"],
            registry=registry,
        )
        self.send_failures = Counter(
            "chanwatch_send_failures",
            "Sends Telegram refused or that failed on the way: 429 flood control, 403 "
            "blocked, 400 refused message (404 and 413 included), 401 bad token, 5xx "
            "Telegram's server error, network (no answer).",
            ["failure"],
            registry=registry,
        )
        self.source_errors = Counter(
            "chanwatch_source_errors",
            "Failed reads of a channel (every failed poll or request, not once per outage).",
            ["channel"],
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "chanwatch_outbox_pending",
            "Messages owed to chats and not yet sent (retries included).",
            registry=registry,
        )
        self.outbox_oldest = Gauge(
            "chanwatch_outbox_oldest_pending_age_seconds",
            "How long the oldest owed message has waited (0 when none is owed).",
            registry=registry,
        )
        self.last_post_age = Gauge(
            "chanwatch_channel_last_post_age_seconds",
            "Seconds since the newest stored post of each watched channel was published.",
            ["channel"],
            registry=registry,
        )
        self.last_poll = Gauge(
            "chanwatch_bot_last_poll_timestamp_seconds",
            "Unix time of the bot's last successful poll for updates (0: none yet).",
            registry=registry,
        )
        self.channels = Gauge(
            "chanwatch_channels_held",
            "Channels this process reads, by source (on PostgreSQL: those it holds leases "
            "on, web channels directly and telegram channels through its accounts).",
            ["source"],
            registry=registry,
        )
        self.office = Gauge(
            "chanwatch_bot_office",
            "1 while this process holds the bot office (polls Telegram and sends); 0 while "
            "it stands by for another process, or has no bot (role monitor).",
            registry=registry,
        )
        self.healthy = Gauge(
            "chanwatch_healthy",
            "1 when /healthz answers 200, 0 when it answers 503.",
            registry=registry,
        )
        for source in SOURCES:
            self.posts.labels(source)
        for kind in MESSAGE_KINDS:
            self.sent.labels(kind)
        for failure in FAILURE_KINDS:
            self.send_failures.labels(failure)

    def known_topics(self, names: Iterable[str]) -> None:
        """Show these topics' match counters from the start (0), so rate() works at once."""
        for name in names:
            self.matches.labels(name)

    # Ingest (through the app's IngestListener)

    def posts_stored(self, source: str, new_posts: int, new_matches: Sequence[str]) -> None:
        if new_posts:
            self.posts.labels(source).inc(new_posts)
        for topic in new_matches:
            self.matches.labels(topic).inc()

    def source_error_seen(self, channel: str) -> None:
        self.source_errors.labels(channel).inc()

    # Leases (monitor processes)

    def channels_held(self, *, web: int, telegram: int) -> None:
        self.channels.labels("web").set(web)
        self.channels.labels("telegram").set(telegram)

    # BotObserver

    def message_sent(self, kind: str) -> None:
        self.sent.labels(kind).inc()

    def send_failed(self, kind: str, failure: str) -> None:
        self.send_failures.labels(failure).inc()

    def bot_polled(self) -> None:
        self._health.bot_polled()

    def bot_poll_failed(self, reason: str) -> None:
        self._health.bot_poll_failed(reason)

    def bot_answered(self) -> None:
        self._health.bot_answered()

    # Scrapes

    async def refresh(self, store: Store) -> None:
        """Read what the database knows into the gauges (called on each scrape)."""
        now = time.time()
        pending, oldest = await store.outbox.backlog()
        self.outbox_pending.set(pending)
        self.outbox_oldest.set(0 if oldest is None else max(0.0, now - oldest.timestamp()))
        self.last_post_age.clear()  # channels removed since the last scrape disappear
        for handle, newest in await store.channels.newest_posts():
            if newest is not None:
                self.last_post_age.labels(handle).set(max(0.0, now - newest.timestamp()))
        self.last_poll.set(self._health.last_poll or 0)
        self.office.set(1 if self._health.holds_office else 0)
        self.healthy.set(0 if self._health.problem() else 1)

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition in the format the scraper asks for, and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
