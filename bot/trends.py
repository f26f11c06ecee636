"""Counts per day for charts: topics' matching posts (/trend, weekly digests) and the
operators' 30 days of posts, matches and alerts (/stats chart).

A day is a day in the chat's time zone. Every day of the period has a count, zero when
nothing happened, so a chart shows quiet days as zero rather than skipping them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

from bot import texts
from bot.charts.spec import MAX_SERIES, ChartSpec, Series
from bot.dates import short_day
from storage import Store
from storage.models import Tally, Topic

STATS_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    days: int
    tz: tzinfo

    @classmethod
    def ending(cls, last: date, days: int, tz: tzinfo) -> Period:
        return cls(last - timedelta(days=days - 1), days, tz)

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.days - 1)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), self.tz)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.tz)

    def per_day(self, tallies: Sequence[Tally], key: int = 0) -> tuple[int, ...]:
        counts = [0] * self.days
        for tally in tallies:
            if tally.key != key:
                continue
            index = (tally.minute.astimezone(self.tz).date() - self.first).days
            if 0 <= index < self.days:
                counts[index] += tally.count
        return tuple(counts)

    def labels(self) -> tuple[str, ...]:
        return tuple(short_day(self.first + timedelta(days=i)) for i in range(self.days))


@dataclass(frozen=True, slots=True)
class TopicTrend:
    period: Period
    series: tuple[Series, ...]
    """The busiest topics (at most MAX_SERIES), busiest first."""
    hidden: int
    """Topics asked for but left off the chart."""

    @property
    def total(self) -> int:
        return sum(series.total for series in self.series)


async def topic_trend(store: Store, topics: Sequence[Topic], period: Period) -> TopicTrend:
    tallies = await store.activity.topic_matches(
        [topic.id for topic in topics], period.since, period.until
    )
    series = [Series(topic.name, period.per_day(tallies, topic.id)) for topic in topics]
    # The busiest first; a stable sort keeps the order asked for among equals.
    series.sort(key=lambda item: -item.total)
    return TopicTrend(period, tuple(series[:MAX_SERIES]), max(0, len(series) - MAX_SERIES))


def trend_chart(trend: TopicTrend, *, week: bool = False) -> tuple[ChartSpec, str]:
    """The chart of a trend and its caption (texts in the current language); a digest's
    week is titled with its dates rather than "the last 7 days"."""
    period = trend.period
    title = (
        texts.week_chart_title(period.first, period.last)
        if week
        else texts.trend_title(period.days)
    )
    spec = ChartSpec(title=title, days=period.labels(), series=trend.series)
    return spec, texts.trend_caption(title, trend.series, trend.hidden)


async def activity_chart(store: Store, period: Period) -> tuple[ChartSpec, str]:
    """Operators' chart: posts published, matches and alerts sent per day."""
    posts = period.per_day(await store.activity.posts(period.since, period.until))
    matches = period.per_day(await store.activity.matches(period.since, period.until))
    alerts = period.per_day(await store.activity.sent("alert", period.since, period.until))
    names = texts.activity_names()
    series = tuple(
        Series(name, counts) for name, counts in zip(names, (posts, matches, alerts), strict=True)
    )
    spec = ChartSpec(
        title=texts.activity_title(period.days), days=period.labels(), series=series, panels=True
    )
    return spec, texts.activity_caption(series, period.days)
