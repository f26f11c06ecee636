"""Daily and weekly digests: one APScheduler job per subscriber, queued through the outbox.

A digest covers the matches stored after the chat's `last_digest_at` and up to SETTLE
seconds before it is made; queueing it and moving `last_digest_at` there happen in one
transaction. The windows therefore follow each other without gaps or overlaps: a match is
in exactly one digest, even across crashes and restarts. An empty window sends nothing
but still moves the mark.

Digests are written in the chat's stored language and dated in its time zone. A weekly
digest starts with a chart of its week (matching posts per day per topic), queued with the
list in the same transaction; the outbox row holds what to draw, and the sender draws it.

Weekly digests go out on Mondays at the chat's digest time. When the bot was down across
one or more digest times, `start()` sends one digest covering the whole gap (not one per
missed day).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.clock import Clock
from bot.dates import day, days, zone
from bot.delivery import Delivery
from bot.i18n import Catalogs, load_i18n, speaking
from bot.i18n import gettext as _
from bot.render import render_digest
from bot.trends import Period, topic_trend, trend_chart
from storage import Store
from storage.models import NewMessage, StoredPost, Subscriber

logger = logging.getLogger(__name__)

WEEKLY_DAY: Final = 0
"""Weekly digests go out on Mondays (datetime.weekday() numbering)."""
SETTLE: Final = 10.0
"""A digest covers matches stored up to this many seconds before it is made. Storage keeps
whole seconds and stamps a batch's matches when its transaction starts; a match stamped
right as a digest is made may commit a moment later, so it goes into the next digest
instead of possibly into neither. Ten seconds is far longer than any batch commit."""
WEEK_DAYS: Final = 7
MISFIRE_GRACE: Final = 3600
"""A job that could not run at its time (event loop busy, clock jump) still runs this late."""


def digest_clock_time(value: str) -> time:
    """The subscriber's HH:MM; 09:00 when the stored value is unreadable."""
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        logger.warning("unreadable digest time %r; using 09:00", value)
        return time(9, 0)


def job_id(chat_id: int) -> str:
    return f"digest:{chat_id}"


def trigger_for(subscriber: Subscriber) -> CronTrigger:
    at = digest_clock_time(subscriber.digest_time)
    return CronTrigger(
        day_of_week="mon" if subscriber.digest_period == "weekly" else "*",
        hour=at.hour,
        minute=at.minute,
        timezone=zone(subscriber.timezone),
    )


def last_scheduled(subscriber: Subscriber, now: datetime) -> datetime:
    """The subscriber's most recent digest time at or before `now` (aware, their zone)."""
    tz = zone(subscriber.timezone)
    at = digest_clock_time(subscriber.digest_time)
    day: date = now.astimezone(tz).date()
    while True:
        candidate = datetime.combine(day, at, tzinfo=tz)
        weekly_ok = subscriber.digest_period != "weekly" or day.weekday() == WEEKLY_DAY
        if candidate <= now and weekly_ok:
            return candidate
        day -= timedelta(days=1)


def missed(subscriber: Subscriber, now: datetime, settle: float = 0.0) -> bool:
    """True when a digest time passed since the chat's last digest (the bot was down).

    A digest made at its time closes its window `settle` seconds earlier (see SETTLE), so
    the mark it leaves is up to that much (and a truncated second) before the time.
    """
    last = subscriber.last_digest_at
    slack = timedelta(seconds=settle + 1)
    return last is None or last < last_scheduled(subscriber, now) - slack


def digest_title(subscriber: Subscriber, since: datetime | None, now: datetime) -> str:
    """The digest's heading, in the current language, its dates in the chat's zone."""
    tz = zone(subscriber.timezone)
    today = now.astimezone(tz).date()
    if subscriber.digest_period == "weekly" and since is not None:
        first = min(since.astimezone(tz).date(), today)
        return _("Weekly digest · {days}").format(days=days(first, today))
    return _("Digest · {day}").format(day=day(today))


class DigestScheduler:
    def __init__(
        self,
        store: Store,
        delivery: Delivery,
        *,
        clock: Clock | None = None,
        scheduler: AsyncIOScheduler | None = None,
        settle: float = SETTLE,
        i18n: Catalogs | None = None,
    ) -> None:
        self._settle = settle
        self._i18n = i18n or load_i18n()
        self._store = store
        self._delivery = delivery
        self._clock = clock or delivery.clock
        self._scheduler = scheduler or AsyncIOScheduler(timezone=UTC)

    async def start(self) -> None:
        """Schedule every digest subscriber, start the scheduler, and send missed digests.

        It may start again after `shutdown()` (a process elected to the bot office again,
        chanwatch/office.py): the schedule is then read afresh from the database, where
        another process may have changed it meanwhile."""
        self._scheduler.remove_all_jobs()
        for subscriber in await self._store.subscribers.all_active():
            self._schedule(subscriber)
        self._scheduler.start()
        await self.catch_up()

    async def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback

    async def reschedule(self, chat_id: int) -> None:
        """Bring the chat's job in line with its settings (call after they change).

        A chat that starts getting digests gets its first one for matches from now on, not
        for everything since it subscribed.
        """
        subscriber = await self._store.subscribers.get(chat_id)
        had_job = self._scheduler.get_job(job_id(chat_id)) is not None
        scheduled = subscriber is not None and self._schedule(subscriber)
        if scheduled and not had_job:
            start = self._clock.now() - timedelta(seconds=self._settle)
            await self._store.subscribers.set_last_digest(chat_id, start)
        if not scheduled and self._scheduler.get_job(job_id(chat_id)) is not None:
            self._scheduler.remove_job(job_id(chat_id))

    def job(self, chat_id: int) -> Job | None:
        """The chat's scheduled job (its `next_run_time` is in the chat's zone)."""
        job: Job | None = self._scheduler.get_job(job_id(chat_id))
        return job

    async def catch_up(self) -> int:
        """Send one digest now to every chat whose digest time passed unsent; returns how
        many chats got one (empty windows send nothing but are still closed)."""
        now = self._clock.now()
        sent = 0
        for subscriber in await self._store.subscribers.all_active():
            if subscriber.wants_digest and missed(subscriber, now, self._settle):
                logger.info("chat %d missed its digest; sending it now", subscriber.chat_id)
                sent += bool(await self.send_digest(subscriber.chat_id))
        return sent

    async def send_digest(self, chat_id: int) -> int:
        """Queue the chat's digest of everything matched since its last one, and close that
        window. Returns the number of messages queued (0 when nothing matched)."""
        subscriber = await self._store.subscribers.get(chat_id)
        if subscriber is None or not subscriber.active or not subscriber.wants_digest:
            return 0
        now = self._clock.now()
        until = (now - timedelta(seconds=self._settle)).replace(microsecond=0)
        since = subscriber.last_digest_at
        if since is not None and until <= since:
            return 0  # a digest was just made (a restart right after one)
        posts = await self._store.posts.matched_between(chat_id, since, until)
        start = since.isoformat() if since else "start"
        with speaking(self._i18n, subscriber.language):
            parts = render_digest(
                posts, title=digest_title(subscriber, since, now), tz=zone(subscriber.timezone)
            )
            chart = await self._week_chart(
                subscriber, posts, now, key=f"digest:{chat_id}:{start}:chart"
            )
        messages = [
            NewMessage(
                chat_id=chat_id,
                kind="digest",
                dedup_key=f"digest:{chat_id}:{start}:{index}",
                text=text,
                disable_notification=subscriber.quiet,
            )
            for index, text in enumerate(parts)
        ]
        if chart is not None:
            # First in the outbox, so the chart arrives above the list.
            messages.insert(0, chart)
        queued = await self._store.outbox.enqueue_digest(chat_id, messages, until)
        if queued:
            logger.info("chat %d: digest of %d posts queued", chat_id, len(posts))
            self._delivery.wake()
        return queued

    async def _week_chart(
        self, subscriber: Subscriber, posts: list[StoredPost], now: datetime, *, key: str
    ) -> NewMessage | None:
        """A weekly digest's chart of the seven days before it (None: not weekly, or an
        empty week). Made inside the chat's language."""
        if subscriber.digest_period != "weekly" or not posts:
            return None
        tz = zone(subscriber.timezone)
        period = Period.ending(now.astimezone(tz).date() - timedelta(days=1), WEEK_DAYS, tz)
        followed = await self._store.subscribers.topic_ids(subscriber.chat_id)
        topics = [topic for topic in await self._store.topics.live() if topic.id in followed]
        trend = await topic_trend(self._store, topics, period)
        if trend.total == 0:
            return None
        spec, caption = trend_chart(trend, week=True)
        return NewMessage(
            chat_id=subscriber.chat_id,
            kind="digest",
            dedup_key=key,
            text=caption,
            disable_notification=subscriber.quiet,
            chart=spec.to_json(),
        )

    def _schedule(self, subscriber: Subscriber) -> bool:
        if not (subscriber.active and subscriber.wants_digest):
            return False
        self._scheduler.add_job(
            self._run_job,
            trigger_for(subscriber),
            args=(subscriber.chat_id,),
            id=job_id(subscriber.chat_id),
            name=f"digest for chat {subscriber.chat_id}",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE,
        )
        return True

    async def _run_job(self, chat_id: int) -> None:
        try:
            await self.send_digest(chat_id)
        except Exception:
            logger.exception("digest for chat %d failed; the next one covers its posts", chat_id)
