"""Drawing a ChartSpec as a PNG with matplotlib's Agg backend (no display, no pyplot state).

Sized for a phone: 1080 px wide (Telegram shows photos up to 1280), large type, thick lines,
whole-number axis, every day on the axis even when its count is zero. Runs in the chart
worker process (bot/charts/worker.py), never in the bot's event loop.
"""

from __future__ import annotations

import math
import warnings
from io import BytesIO
from typing import Final

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.charts.spec import ChartSpec, Series

WIDTH_INCHES: Final = 7.2
DPI: Final = 150
"""7.2 in at 150 dpi: 1080 px wide."""
# Colour-blind-safe qualitative palette (Okabe & Ito), darkest first.
PALETTE: Final = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
MAX_TICKS: Final = 8


def _ticks(days: int) -> list[int]:
    """Positions of the day labels: about MAX_TICKS, evenly spaced, the last day included."""
    step = max(1, math.ceil(days / MAX_TICKS))
    positions = list(range(days - 1, -1, -step))[::-1]
    return positions


def _style(axes: Axes, labels: tuple[str, ...]) -> None:
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=2))
    positions = _ticks(len(labels))
    axes.set_xticks(positions, [labels[i] for i in positions])
    axes.tick_params(labelsize=11)
    axes.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _line(axes: Axes, series: Series, color: str, markers: bool) -> None:
    axes.plot(
        range(len(series.counts)),
        series.counts,
        color=color,
        linewidth=2.4,
        marker="o" if markers else None,
        markersize=4.5,
        label=f"{series.name} ({series.total})",
    )


def draw(spec: ChartSpec) -> bytes:
    """The chart as PNG bytes."""
    days = len(spec.days)
    markers = days <= 31
    panels = len(spec.series) if spec.panels else 1
    height = 2.3 + 1.9 * panels if spec.panels else 5.0
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    figure.suptitle(spec.title, fontsize=15, fontweight="bold")
    if spec.panels:
        axes_list = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
        for axes, series, color in zip(axes_list, spec.series, PALETTE, strict=False):
            _line(axes, series, color, markers)
            axes.set_title(f"{series.name}: {series.total}", fontsize=12, loc="left")
            _style(axes, spec.days)
    else:
        axes = figure.subplots()
        for series, color in zip(spec.series, PALETTE, strict=False):
            _line(axes, series, color, markers)
        _style(axes, spec.days)
        axes.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            ncols=min(len(spec.series), 2),
            fontsize=11,
            frameon=False,
        )
    buffer = BytesIO()
    with warnings.catch_warnings():
        # A glyph missing from the font (an emoji in a topic name) shows as a box; that
        # is no reason to fail the chart.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
