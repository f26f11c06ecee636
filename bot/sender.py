"""The one place messages leave for Telegram: the outbox, rate limits and Bot API errors.

Limits, by design rather than by reacting to 429s:

* overall, at most `global_rate` messages a second, spaced evenly: the limiter is a leaky
  bucket holding one message (`AsyncLimiter(1, 1 / rate)`), so it never allows the burst of
  `rate` messages at once that `AsyncLimiter(rate, 1)` would;
* to one chat, one message at a time and then `per_chat_interval` (groups: `group_interval`,
  Telegram allows 20 a minute there) after Telegram answered, before the next;
* a chat that is waiting never holds up the others: each round looks at the oldest pending
  message of every chat and starts those whose chat is free, up to `concurrency` at a time.

Errors: 429 waits `retry_after` (that chat, or everyone when several chats are refused at
once) and retries; 403 marks the chat blocked; 400/404 fail that message with Telegram's
reason; 5xx, network and other errors retry with exponential backoff. Nothing is dropped
silently. On cancellation the requests in flight finish and are recorded; the rest stay in
the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import timedelta
from typing import Final

import aiohttp
from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, LinkPreviewOptions
from aiolimiter import AsyncLimiter

from bot.api_outcomes import failure_kind
from bot.charts.renderer import ChartRenderer
from bot.charts.spec import ChartSpec, SpecError
from bot.clock import Clock
from bot.observer import BotObserver, NoObserver
from storage import Store
from storage.models import OutboxItem

logger = logging.getLogger(__name__)

GLOBAL_RATE: Final = 29.0
"""Messages a second overall: Telegram's 30, less a margin, because sends spaced exactly
1/30 s apart reach Telegram with network jitter and now and then put a 31st in one second
(the 10,000-subscriber benchmark saw 4 such 429s at 30.0)."""

NO_PREVIEW: Final = LinkPreviewOptions(is_disabled=True)
FLOOD_WINDOW: Final = 1.0
"""Two different chats refused with 429 within this many seconds: the bot as a whole is over
its limit (not one chat), so every send pauses."""

_FORGET_AFTER: Final = 10_000
"""Chats remembered for pacing before those whose wait is over are forgotten."""
_TRANSIENT: Final = (TelegramAPIError, ClientDecodeError, aiohttp.ClientError, TimeoutError)
_PERMANENT: Final = (
    TelegramBadRequest,
    TelegramNotFound,
    TelegramMigrateToChat,
    TelegramEntityTooLarge,
)


class _Unsendable(Exception):
    """An edit with nothing to edit: recorded as failed with the reason, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(error: BaseException) -> str:
    if isinstance(error, TelegramAPIError):
        return error.message
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Sender:
    def __init__(
        self,
        bot: Bot,
        store: Store,
        *,
        clock: Clock,
        observer: BotObserver | None = None,
        global_rate: float = GLOBAL_RATE,
        per_chat_interval: float = 1.0,
        group_interval: float = 3.0,
        backoff_base: float = 2.0,
        backoff_max: float = 600.0,
        concurrency: int = 8,
        poll_interval: float = 30.0,
        batch: int = 200,
        charts: ChartRenderer | None = None,
    ) -> None:
        if global_rate <= 0 or per_chat_interval < 0 or concurrency < 1:
            raise ValueError("global_rate and concurrency must be positive")
        self._bot = bot
        self._store = store
        self._charts = charts
        self._clock = clock
        self._observer = observer or NoObserver()
        self._limiter = AsyncLimiter(1, 1 / global_rate)
        self._per_chat = per_chat_interval
        self._per_group = max(per_chat_interval, group_interval)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._concurrency = concurrency
        self._poll = poll_interval
        self._batch = batch
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._chat_free_at: dict[int, float] = {}  # event-loop time
        self._paused_until = 0.0
        self._floods: deque[tuple[float, int]] = deque()

    def wake(self) -> None:
        """New rows are in the outbox: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled; then let the requests in flight finish and be recorded."""
        try:
            while True:
                self._wake.clear()
                try:
                    delay = await self._start_due()
                except Exception:
                    logger.exception("reading the outbox failed; retrying")
                    delay = self._backoff_base
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(delay, 0.0)):
                        await self._wake.wait()
        finally:
            if self._in_flight:
                # These tasks are not cancelled: each finishes its request and records it.
                await asyncio.wait(list(self._in_flight.values()))

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _interval(self, chat_id: int) -> float:
        return self._per_group if chat_id < 0 else self._per_chat

    async def _start_due(self) -> float:
        """Start every due message whose chat is free; returns seconds until the next look."""
        if self._paused_until > self._now():
            return self._paused_until - self._now()
        # Chats busy before the read: their head row may be the one in flight right now.
        busy = set(self._in_flight)
        heads = await self._store.outbox.heads(self._batch, self._clock.now())
        waits = [self._poll]
        for item in heads:
            if item.chat_id in busy or item.chat_id in self._in_flight:
                continue  # its task wakes us when done
            free_at = self._chat_free_at.get(item.chat_id, 0.0)
            if free_at > self._now():
                waits.append(free_at - self._now())
                continue
            if len(self._in_flight) >= self._concurrency:
                break  # a finishing task wakes us
            await self._limiter.acquire()
            if self._paused_until > self._now():
                break  # a flood was reported while we waited for the limiter
            self._in_flight[item.chat_id] = asyncio.create_task(
                self._deliver(item), name=f"send outbox {item.id}"
            )
        if len(self._chat_free_at) > _FORGET_AFTER:
            now = self._now()
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}
        retry_at = await self._store.outbox.next_retry_at(self._clock.now())
        if retry_at is not None:
            waits.append((retry_at - self._clock.now()).total_seconds())
        return min(waits)

    async def _deliver(self, item: OutboxItem) -> None:
        try:
            await self._send(item)
        except Exception:
            # Storage failed while recording the outcome: the row stays pending.
            logger.exception(
                "outbox %d to chat %d: recording the outcome failed", item.id, item.chat_id
            )
            self._chat_free_at[item.chat_id] = self._now() + self._backoff_base
        finally:
            del self._in_flight[item.chat_id]
            self._wake.set()

    async def _send_counted(self, item: OutboxItem) -> int:
        """The Bot API call, its outcome counted for the observer; the message's id."""
        try:
            sent = await self._send_item(item)
        except Exception as error:
            # An edit with nothing to edit is counted by Telegram's refusal, if it made one.
            cause = error.__cause__ if isinstance(error, _Unsendable) else None
            self._observer.send_failed(item.kind, failure_kind(cause or error))
            raise
        self._observer.message_sent(item.kind)
        return sent

    async def _send(self, item: OutboxItem) -> None:
        chat = item.chat_id
        try:
            sent = await self._send_counted(item)
        except _Unsendable as error:
            logger.info("outbox %d to chat %d not sent: %s", item.id, chat, error.reason)
            await self._store.outbox.mark_failed(item.id, error.reason)
            return
        except TelegramRetryAfter as error:
            self._flood(chat, error.retry_after)
            logger.warning(
                "outbox %d to chat %d: flood control, retrying in %d s",
                item.id,
                chat,
                error.retry_after,
            )
            return
        except TelegramForbiddenError as error:
            logger.warning("chat %d blocked the bot or left (%s): stopped", chat, error.message)
            await self._store.subscribers.mark_blocked(chat, error.message)
            return
        except _PERMANENT as error:
            logger.warning(
                "outbox %d to chat %d refused, not retried: %s", item.id, chat, _reason(error)
            )
            await self._store.outbox.mark_failed(item.id, _reason(error))
            self._chat_free_at[chat] = self._now() + self._interval(chat)
            return
        except _TRANSIENT as error:
            delay = min(self._backoff_base * 2**item.attempts, self._backoff_max)
            log = logger.error if isinstance(error, TelegramUnauthorizedError) else logger.warning
            log(
                "outbox %d to chat %d failed (%s); retry %d in %.1f s",
                item.id,
                chat,
                _reason(error),
                item.attempts + 1,
                delay,
            )
            until = self._clock.now() + timedelta(seconds=delay)
            await self._store.outbox.postpone(item.id, until, _reason(error))
            self._chat_free_at[chat] = self._now() + delay
            return
        # Recorded even if run() is being cancelled: this task is not the one cancelled.
        await self._store.outbox.mark_sent(item.id, sent)
        logger.info("sent kind=%s chat=%d outbox=%d message_id=%d", item.kind, chat, item.id, sent)
        self._chat_free_at[chat] = self._now() + self._interval(chat)

    async def _send_item(self, item: OutboxItem) -> int:
        """A text message, or a chart with the text as its caption, or the edit of an alert
        sent before; the id of the message. A chart that cannot be drawn (logged by the
        renderer) goes as its caption alone: the figures still arrive."""
        if item.kind == "edit":
            return await self._edit(item)
        png = await self._chart(item) if item.chart is not None else None
        if png is not None:
            sent = await self._bot.send_photo(
                chat_id=item.chat_id,
                photo=BufferedInputFile(png, filename="chart.png"),
                caption=item.text,
                parse_mode=ParseMode.HTML,
                disable_notification=item.disable_notification,
            )
            return sent.message_id
        sent = await self._bot.send_message(
            chat_id=item.chat_id,
            text=item.text,
            parse_mode=ParseMode.HTML,
            disable_notification=item.disable_notification,
            link_preview_options=NO_PREVIEW,
        )
        return sent.message_id

    async def _edit(self, item: OutboxItem) -> int:
        """Rewrite the alert the edit names (a later copy of its story arrived).

        The alert is the chat's earlier outbox row, so it was sent (or given up) before:
        one chat's rows go out in order. An edit never becomes a message of its own: when
        its alert never reached the chat, or the chat deleted it, there is nothing to edit
        and nothing is sent, so a chat never gets a story twice."""
        status, message_id = await self._store.outbox.edited_message(item.id)
        if status != "sent" or message_id is None:
            raise _Unsendable("the alert it edits was not delivered")
        try:
            await self._bot.edit_message_text(
                chat_id=item.chat_id,
                message_id=message_id,
                text=item.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            )
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return message_id  # it already says this: done
            if "message to edit not found" in error.message:
                raise _Unsendable("the alert was deleted in the chat") from error
            if "message can't be edited" in error.message:
                raise _Unsendable("Telegram no longer lets the alert be edited") from error
            raise
        return message_id

    async def _chart(self, item: OutboxItem) -> bytes | None:
        if self._charts is None or item.chart is None:
            logger.warning("outbox %d: no chart renderer; sending the caption only", item.id)
            return None
        try:
            spec = ChartSpec.from_json(item.chart)
        except SpecError as error:
            logger.error(
                "outbox %d: unreadable chart (%s); sending the caption only", item.id, error
            )
            return None
        return await self._charts.render(spec)

    def _flood(self, chat_id: int, retry_after: float) -> None:
        now = self._now()
        until = now + max(retry_after, self._interval(chat_id))
        self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, 0.0), until)
        while self._floods and self._floods[0][0] < now - FLOOD_WINDOW:
            self._floods.popleft()
        if any(other != chat_id for _, other in self._floods):
            logger.warning("flood control across chats: pausing all sends for %s s", retry_after)
            self._paused_until = max(self._paused_until, now + retry_after)
        self._floods.append((now, chat_id))
