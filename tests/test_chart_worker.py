"""The chart renderer against workers that hang, eat memory, talk nonsense or die: each is
stopped (a process can be killed, a thread cannot) and the next chart starts a fresh one."""

from __future__ import annotations

import sys
from io import BytesIO

from PIL import Image

from bot.charts.renderer import ChartRenderer
from bot.charts.spec import ChartSpec, Series

SPEC = ChartSpec("t", ("a",), (Series("s", (1,)),))


def misbehaving(behaviour: str, timeout: float = 20.0) -> ChartRenderer:
    """A renderer whose worker is tests/chart_workers.py acting out `behaviour`."""
    return ChartRenderer(
        command=[sys.executable, "-m", "tests.chart_workers", behaviour], timeout=timeout
    )


async def test_a_hung_or_memory_hungry_worker_is_stopped_and_replaced() -> None:
    hung = misbehaving("hang", timeout=2.0)
    try:
        assert await hung.render(SPEC) is None  # killed after 2 s
        assert await hung.render(SPEC) is None  # a new worker, killed too
        assert hung.workers_started == 2
    finally:
        await hung.close()
    hog = misbehaving("hog")
    try:
        assert await hog.render(SPEC) is None  # MemoryError inside the capped worker
        assert hog.workers_started == 1
    finally:
        await hog.close()
    real = ChartRenderer()
    try:
        png = await real.render(SPEC)
        assert png is not None
        with Image.open(BytesIO(png)) as image:
            assert image.format == "PNG" and image.size[0] == 1080
        assert await real.render(SPEC) is png  # drawn once: the second comes from the cache
    finally:
        await real.close()


async def test_garbage_or_a_dying_worker_gives_no_chart() -> None:
    for behaviour in ("garbage", "crash"):
        renderer = misbehaving(behaviour)
        try:
            assert await renderer.render(SPEC) is None
            assert await renderer.render(SPEC) is None
            assert renderer.workers_started == 2, behaviour
        finally:
            await renderer.close()
