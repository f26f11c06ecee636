"""What a chart shows, as plain data: built in the bot, stored in the outbox as JSON, drawn by
the worker. Every word on it is already in the chat's language; the worker knows none.

`from_json` checks everything, so a damaged outbox row or a careless caller cannot make the
worker draw something huge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

MAX_SERIES: Final = 8
"""Lines on one chart: more are not told apart on a phone (callers keep the busiest)."""
MAX_DAYS: Final = 120
MAX_LABEL: Final = 120
MAX_COUNT: Final = 10**9


class SpecError(ValueError):
    """The JSON does not describe a chart this module would have made."""


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """Counts per day: one line per series on one plot, or one panel per series."""

    title: str
    days: tuple[str, ...]
    """The x-axis label of each day (the worker shows a readable subset)."""
    series: tuple[Series, ...]
    panels: bool = False
    """One panel per series with its own scale (for series of very different sizes)."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                "days": list(self.days),
                "series": [{"name": s.name, "counts": list(s.counts)} for s in self.series],
                "panels": self.panels,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ChartSpec:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise SpecError(f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise SpecError("not a JSON object")
        days = tuple(_label(day) for day in _list(data.get("days"), MAX_DAYS, "days"))
        if not days:
            raise SpecError("no days")
        series = tuple(
            _series(item, len(days)) for item in _list(data.get("series"), MAX_SERIES, "series")
        )
        if not series:
            raise SpecError("no series")
        return cls(_label(data.get("title")), days, series, bool(data.get("panels", False)))


def _list(value: Any, limit: int, what: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise SpecError(f"{what}: a list of at most {limit} items is needed")
    return value


def _label(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_LABEL:
        raise SpecError(f"labels are text of at most {MAX_LABEL} characters")
    return value


def _series(value: Any, days: int) -> Series:
    if not isinstance(value, dict):
        raise SpecError("a series is an object")
    counts = value.get("counts")
    if (
        not isinstance(counts, list)
        or len(counts) != days
        or not all(isinstance(c, int) and 0 <= c <= MAX_COUNT for c in counts)
    ):
        raise SpecError("a series has one count (0 or more) per day")
    return Series(_label(value.get("name")), tuple(counts))
