"""Delivery: everything the bot sends on its own, through the outbox and one sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from aiogram import Bot

from bot.charts.renderer import ChartRenderer
from bot.clock import Clock, SystemClock
from bot.fanout import fan_out
from bot.i18n import Catalogs, load_i18n
from bot.notices import queue_operator_notice
from bot.observer import BotObserver
from bot.sender import GLOBAL_RATE, Sender
from storage import Store

logger = logging.getLogger(__name__)


class Delivery:
    """Queues alerts for new matches and sends the outbox, within Telegram's limits.

    `run()` runs until cancelled. Everything owed is in the database before it is sent, so
    a restart (or kill -9) resumes where it stopped: pending rows are sent, sent ones never.
    """

    def __init__(
        self,
        bot: Bot,
        store: Store,
        *,
        admins: Sequence[int],
        clock: Clock | None = None,
        observer: BotObserver | None = None,
        global_rate: float = GLOBAL_RATE,
        per_chat_interval: float = 1.0,
        group_interval: float = 3.0,
        backoff_base: float = 2.0,
        backoff_max: float = 600.0,
        poll_interval: float = 30.0,
        i18n: Catalogs | None = None,
        charts: ChartRenderer | None = None,
    ) -> None:
        """`charts` draws the charts of queued messages (weekly digests); without one, a
        renderer of Delivery's own is made and stopped when `run()` ends."""
        self._store = store
        self._i18n = i18n or load_i18n()
        self._own_charts = charts is None
        self._charts = charts or ChartRenderer()
        self._admins = tuple(dict.fromkeys(admins))
        self._clock = clock or SystemClock()
        self._poll = poll_interval
        self._backoff = backoff_base
        self._fanout_wake = asyncio.Event()
        self._sender = Sender(
            bot,
            store,
            clock=self._clock,
            observer=observer,
            global_rate=global_rate,
            per_chat_interval=per_chat_interval,
            group_interval=group_interval,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            poll_interval=poll_interval,
            charts=self._charts,
        )

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def i18n(self) -> Catalogs:
        return self._i18n

    async def run(self) -> None:
        """Queue alerts and send, until cancelled (in-flight sends finish and are recorded)."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._fan_out_loop(), name="alert fan-out")
                tasks.create_task(self._sender.run(), name="outbox sender")
        finally:
            if self._own_charts:
                await self._charts.close()

    def wake(self) -> None:
        """New matches or outbox rows exist: handle them now, not at the next poll."""
        self._fanout_wake.set()
        self._sender.wake()

    async def notify_operators(self, write: Callable[[], str], *, key: str) -> None:
        """Queue an HTML notice to every operator, `write()` making it in each one's
        language; the same `key` is only ever queued once per operator (put a date or an
        incident id in it to repeat a notice)."""
        if await queue_operator_notice(self._store, self._i18n, self._admins, write, key=key):
            self._sender.wake()

    async def _fan_out_loop(self) -> None:
        while True:
            self._fanout_wake.clear()
            delay = self._poll
            try:
                if await fan_out(self._store, self._i18n):
                    self._sender.wake()
            except Exception:
                logger.exception("queueing alerts failed; retrying")
                delay = self._backoff
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._fanout_wake.wait()
