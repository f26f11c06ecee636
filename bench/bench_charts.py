"""Chart rendering: the worker process against drawing in the bot's own process.

    .venv/bin/python bench/bench_charts.py [--charts 20]

Draws /trend-sized charts (30 days, 4 topics, Russian labels) through bot.charts.renderer
(JSON to the worker, PNG back over a pipe) and, as the baseline, with the same draw()
called directly in this process, which is what an in-loop or in-thread renderer would cost
(and could not be stopped). Prints the worker's start-up, per-chart times, PNG sizes and
the worker's peak memory. Every spec differs, so the renderer's cache never answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.charts.renderer import ChartRenderer  # noqa: E402
from bot.charts.spec import ChartSpec, Series  # noqa: E402

TOPICS = ("визит", "приглашение", "санкции", "Южная Корея")


def spec(index: int) -> ChartSpec:
    days = tuple(f"{day} нояб." for day in range(1, 31))
    series = tuple(
        Series(name, tuple((index * 7 + day * (n + 3)) % (11 + n * 5) for day in range(30)))
        for n, name in enumerate(TOPICS)
    )
    return ChartSpec(f"Подходящие посты по дням, график {index}", days, series)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def through_worker(count: int) -> tuple[float, list[float], list[int], float]:
    renderer = ChartRenderer()
    try:
        started = time.perf_counter()
        first = await renderer.render(spec(0))
        startup = time.perf_counter() - started
        assert first is not None
        times, sizes = [], []
        for index in range(1, count + 1):
            started = time.perf_counter()
            png = await renderer.render(spec(index))
            times.append(time.perf_counter() - started)
            assert png is not None
            sizes.append(len(png))
        process = renderer._process  # a benchmark may look inside
        peak = peak_rss_mib(process.pid) if process is not None else float("nan")
    finally:
        await renderer.close()
    return startup, times, sizes, peak


def in_process(count: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    from bot.charts.draw import draw

    draw(spec(0))
    startup = time.perf_counter() - started
    times = []
    for index in range(1, count + 1):
        started = time.perf_counter()
        draw(spec(index))
        times.append(time.perf_counter() - started)
    return startup, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--charts", type=int, default=20)
    args = parser.parse_args()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average: {load}; {args.charts} charts of 30 days x {len(TOPICS)} topics")
    startup, times, sizes, peak = asyncio.run(through_worker(args.charts))
    base_startup, base_times = in_process(args.charts)
    print("| renderer | first chart (start-up) | median | max | PNG size |")
    print("|---|---|---|---|---|")
    print(
        f"| worker process | {startup:.2f} s | {statistics.median(times) * 1000:.0f} ms | "
        f"{max(times) * 1000:.0f} ms | {statistics.median(sizes) / 1024:.0f} KiB |"
    )
    print(
        f"| baseline: draw() in this process | {base_startup:.2f} s | "
        f"{statistics.median(base_times) * 1000:.0f} ms | {max(base_times) * 1000:.0f} ms | — |"
    )
    print(f"worker peak RSS: {peak:.0f} MiB (address space capped at 768 MiB)")


if __name__ == "__main__":
    main()
