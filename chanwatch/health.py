"""Is this process doing its job? The answer `/healthz` gives probes, with a one-line reason.

Healthy means: every long-lived part of the process (delivery, bot, sources...) is running
rather than waiting to be restarted after a crash, a monitor's leases were renewed within
their period, and (in a process with a bot) the bot's latest poll for updates reached the
Bot API recently. A channel that fails on its own is not a sick process (the
source goes on with the others; metrics and /stats show it).

A process standing by for the bot office (another process polls and sends, see
chanwatch/office.py) is healthy too: alive and ready to take over, which is what a probe
should know. `/healthz` answers it 200 and says "standby" in the body, so a load balancer
or an orchestrator does not restart a standby for doing its job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

POLL_STALE_SECONDS: Final = 90.0
"""A long poll answers within aiogram's polling timeout (10 s) even when nothing happens;
this long without an answer means the bot no longer hears its users (a hung connection)."""


@dataclass(slots=True)
class _Poll:
    last_ok: float | None = None  # wall clock (time.time()) of the last successful poll
    failing_since: float | None = None
    failure: str = ""
    last_answer: float | None = None  # of any successful Bot API call, polls included


class Health:
    """State reported by the process's parts; `problem()` judges it."""

    def __init__(self, clock: Callable[[], float] = time.time, *, bot: bool = True) -> None:
        """`bot`: the process polls the Bot API (roles all and bot; a monitor does not)."""
        self._clock = clock
        self._bot = bot
        self._leases: tuple[float, float] | None = None  # last renewal, lease period
        self._crashed: dict[str, str] = {}
        self._parts: set[str] = set()
        self._poll = _Poll()
        self._standby = False

    # Reported by the app's supervisor

    def part_running(self, name: str) -> None:
        self._parts.add(name)
        self._crashed.pop(name, None)

    def part_crashed(self, name: str, reason: str) -> None:
        self._parts.add(name)
        self._crashed[name] = reason

    def part_stopped(self, name: str) -> None:
        """The part ended on purpose (its process left the bot office)."""
        self._parts.discard(name)
        self._crashed.pop(name, None)

    # Reported by the bot office (chanwatch/office.py)

    def standing_by(self) -> None:
        """Another process holds the bot office, or this one is campaigning for it."""
        self._standby = True

    def elected(self) -> None:
        """This process polls and sends from now on; its polls are judged afresh."""
        self._standby = False
        self._poll = _Poll()

    @property
    def standby(self) -> bool:
        return self._standby

    @property
    def holds_office(self) -> bool:
        """This process is the bot that polls and sends (not a standby, not a monitor)."""
        return self._bot and not self._standby

    # Reported by the lease keeper of a monitor sharing the database with others

    def leases_renewed(self, lease_seconds: float) -> None:
        self._leases = (self._clock(), lease_seconds)

    # Reported by the bot (through the app's BotObserver)

    def bot_polled(self) -> None:
        now = self._clock()
        self._poll = _Poll(last_ok=now, last_answer=now)

    def bot_poll_failed(self, reason: str) -> None:
        poll = self._poll
        poll.failing_since = poll.failing_since or self._clock()
        poll.failure = reason

    def bot_answered(self) -> None:
        # Only a poll clears a failing poll: sends may work while polling does not (another
        # process polling with the same token gets 409 Conflict).
        self._poll.last_answer = self._clock()

    @property
    def last_poll(self) -> float | None:
        """Wall-clock time of the last successful poll for updates (None: none yet)."""
        return self._poll.last_ok

    def problem(self) -> str | None:
        """Why the process is unhealthy, in one line; None when it is healthy."""
        if self._crashed:
            name = min(self._crashed)
            return f"{name} crashed and is restarting: {_one_line(self._crashed[name])}"
        poll, now = self._poll, self._clock()
        if self._leases is not None and now - self._leases[0] > self._leases[1]:
            # Past the lease period the other monitors take this one's channels over.
            return (
                f"leases not renewed for {now - self._leases[0]:.0f} s (they last "
                f"{self._leases[1]:g} s): the database does not answer this process"
            )
        if not self._bot or self._standby:
            return None
        if poll.failing_since is not None:
            return (
                f"bot cannot poll the Bot API for {now - poll.failing_since:.0f} s: "
                f"{_one_line(poll.failure)}"
            )
        if poll.last_answer is None:
            return "bot has not reached the Bot API yet (starting)"
        if now - poll.last_answer > POLL_STALE_SECONDS:
            return f"bot has had no answer from the Bot API for {now - poll.last_answer:.0f} s"
        return None

    def summary(self) -> str:
        """The healthy answer: what runs and when the bot last heard from Telegram."""
        parts = ", ".join(sorted(self._parts)) or "nothing"
        if not self._bot:
            return f"ok: running {parts}; no bot in this process (role monitor)"
        if self._standby:
            return (
                f"ok: standby, running {parts}; another process holds the bot office "
                "(polls Telegram and sends), this one takes over when it stops"
            )
        last = self._poll.last_answer
        since = "never" if last is None else f"{self._clock() - last:.0f} s ago"
        return f"ok: running {parts}; Bot API last answered {since}"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:299] + "…"
