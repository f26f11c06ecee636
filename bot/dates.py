"""Moments and days as a chat reads them: in its time zone and its language."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_interval, format_skeleton

from bot.i18n import current_language

logger = logging.getLogger(__name__)


def zone(name: str) -> ZoneInfo:
    """The IANA zone; UTC (with a warning) when the stored name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r; using UTC", name)
        return ZoneInfo("UTC")


def moment(value: datetime, tz: tzinfo | None) -> str:
    """ "2026-01-05 14:03 MSK": numeric, in the chat's zone, with the zone's abbreviation."""
    local = value.astimezone(tz or UTC)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def day(value: date) -> str:
    """ "January 5, 2026" / "5 января 2026 г." in the current language."""
    return format_date(value, "long", locale=current_language())


def short_day(value: date) -> str:
    """A chart's tick label: "Jan 5" / "5 янв."."""
    return format_skeleton("MMMd", value, locale=current_language())


def days(first: date, last: date) -> str:
    """A span of days: "Jan 5 – 11, 2026" / "5–11 янв. 2026 г."."""
    if first == last:
        return day(first)
    return format_interval(first, last, "yMMMd", locale=current_language())
