"""What the bot tells whoever watches it run (the app's metrics and health check).

The bot only reports through this Protocol; it never learns about Prometheus or HTTP. How
its Bot API calls went is read in bot/api_outcomes.py; this module imports no aiogram, so the
app's metrics can name the outcomes without the seconds aiogram's import takes.
"""

from __future__ import annotations

from typing import Final, Protocol

FAILURE_KINDS: Final = ("429", "403", "400", "401", "5xx", "network", "other")
"""How a send can fail, as `failure_kind` names it."""


class BotObserver(Protocol):
    """Told about every message the bot sends on its own and every poll for updates."""

    def message_sent(self, kind: str) -> None:
        """An outbox message ("alert", "edit", "digest", "notice") reached Telegram."""

    def send_failed(self, kind: str, failure: str) -> None:
        """An outbox message of `kind` was refused or lost; `failure` is a FAILURE_KINDS."""

    def bot_polled(self) -> None:
        """A getUpdates call succeeded: the bot hears its users."""

    def bot_poll_failed(self, reason: str) -> None:
        """A getUpdates call failed; aiogram retries it with a backoff."""

    def bot_answered(self) -> None:
        """Another Bot API call succeeded: Telegram is reachable (a long poll that waits
        for news answers only after its timeout)."""


class NoObserver:
    """Nobody is watching (tests, benchmarks, one-off commands)."""

    def message_sent(self, kind: str) -> None:
        return None

    def send_failed(self, kind: str, failure: str) -> None:
        return None

    def bot_polled(self) -> None:
        return None

    def bot_poll_failed(self, reason: str) -> None:
        return None

    def bot_answered(self) -> None:
        return None
