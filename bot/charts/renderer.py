"""Asking the chart worker for PNGs, off the event loop, with bounded time and memory.

One worker process at a time draws one chart at a time. It is started at the first chart
and reused (importing matplotlib takes a second or more). A chart that takes longer than
`timeout`, a worker that dies, or one that answers garbage is logged and the worker is
killed (SIGKILL: a process can be stopped whatever it is doing); the next chart starts a
fresh one. Memory is capped inside the worker (RLIMIT_AS). A failed chart returns None and
the caller sends its text instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from bot.charts.spec import ChartSpec
from bot.charts.worker import DEFAULT_MEMORY_MB

logger = logging.getLogger(__name__)

RENDER_TIMEOUT: Final = 20.0
"""Seconds for one chart once the worker runs (a chart takes about 0.2 s; several times
that on a loaded machine)."""
START_TIMEOUT: Final = 60.0
"""Seconds for a worker to start: importing matplotlib takes about 0.6 s, but its very first
import on a machine builds a font cache, which can take many seconds."""
MAX_PNG_BYTES: Final = 10 * 1024 * 1024
"""Telegram's limit for a photo; the worker's answer is not believed beyond it."""
MAX_WAITING: Final = 32
"""Charts waiting for the worker before more are refused at once (a burst of /trend)."""
CACHE_SIZE: Final = 16
"""Recent charts kept: a weekly digest draws the same chart for every chat with the same
topics, and a retried send draws its chart again."""
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


class ChartRenderer:
    def __init__(
        self,
        *,
        command: Sequence[str] | None = None,
        timeout: float = RENDER_TIMEOUT,
        start_timeout: float = START_TIMEOUT,
        memory_mb: int = DEFAULT_MEMORY_MB,
    ) -> None:
        """`command` starts a worker speaking bot/charts/worker.py's protocol (tests pass
        misbehaving ones); by default this Python runs that module."""
        self._command = list(command or ())
        if not self._command:
            self._command = [
                sys.executable,
                "-m",
                "bot.charts.worker",
                "--memory-mb",
                str(memory_mb),
            ]
        self._timeout = timeout
        self._start_timeout = start_timeout
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._process: asyncio.subprocess.Process | None = None
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self.workers_started = 0
        """How many worker processes were started (a test reads it after a kill)."""

    async def render(self, spec: ChartSpec) -> bytes | None:
        """The chart as PNG, or None (logged) when it could not be drawn in time."""
        request = spec.to_json()
        cached = self._cache.get(request)
        if cached is not None:
            self._cache.move_to_end(request)
            return cached
        if self._waiting >= MAX_WAITING:
            logger.warning("chart refused: %d charts already waiting", self._waiting)
            return None
        self._waiting += 1
        try:
            async with self._lock:
                png = await self._draw(request)
        finally:
            self._waiting -= 1
        if png is not None:
            self._cache[request] = png
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return png

    async def close(self) -> None:
        """Stop the worker (a later chart starts a new one)."""
        async with self._lock:
            await self._stop(kill=False)

    async def _draw(self, request: str) -> bytes | None:
        finished = False
        try:
            async with asyncio.timeout(self._start_timeout):
                process = await self._worker()
            async with asyncio.timeout(self._timeout):
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(request.encode() + b"\n")
                await process.stdin.drain()
                header = json.loads(await process.stdout.readline() or b"null")
                if not isinstance(header, dict) or "ok" not in header:
                    raise ValueError(f"unexpected answer {header!r}")
                if not header["ok"]:
                    logger.error("chart failed in the worker: %s", header.get("error"))
                    finished = True
                    return None
                size = int(header["size"])
                if not 0 < size <= MAX_PNG_BYTES:
                    raise ValueError(f"a PNG of {size} bytes")
                png = await process.stdout.readexactly(size)
            if not png.startswith(PNG_SIGNATURE):
                raise ValueError("the answer is not a PNG")
            finished = True
            return png
        except TimeoutError:
            logger.error("chart worker did not answer in time: killed")
            return None
        except (OSError, ValueError, KeyError, TypeError, asyncio.IncompleteReadError) as error:
            logger.error("chart worker failed (%s): worker killed", error)
            return None
        finally:
            if not finished:
                # Also on cancellation: a half-read answer would desynchronise the next one.
                await self._stop(kill=True)

    async def _worker(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is not None and process.returncode is None:
            return process
        if process is not None:
            logger.warning("chart worker had exited with %s; starting another", process.returncode)
        process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=MAX_PNG_BYTES,
        )
        self._process = process
        self.workers_started += 1
        assert process.stdout is not None
        ready = json.loads(await process.stdout.readline() or b"null")
        if ready != {"ready": True}:
            raise ValueError(f"the worker did not start: {ready!r}")
        return process

    async def _stop(self, *, kill: bool) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        if kill:
            process.kill()
        elif process.stdin is not None:
            process.stdin.close()  # the worker exits at the end of its input
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.kill()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
