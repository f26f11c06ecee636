"""The process's HTTP endpoint for operators' tools: /metrics (Prometheus) and /healthz.

It runs on the process's own event loop (aiohttp, which aiogram already brings) rather than
prometheus_client's server thread, because a scrape first reads the database through the
process's one connection, and that is an awaitable.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from chanwatch.health import Health
from chanwatch.metrics import Metrics
from storage import Store
from storage.errors import ChanwatchError, StorageError

logger = logging.getLogger(__name__)

INDEX: Final = "chanwatch: /metrics (Prometheus), /healthz (200 ok, 503 with the reason)\n"


class StatusServer:
    """Serves /metrics and /healthz on `host:port` while the process runs."""

    def __init__(
        self, host: str, port: int, *, metrics: Metrics, health: Health, store: Store
    ) -> None:
        self._host = host
        self._port = port
        self._metrics = metrics
        self._health = health
        self._store = store
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    async def start(self) -> None:
        """Start listening; ChanwatchError with the reason when the address is unusable."""
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as error:
            await runner.cleanup()
            raise ChanwatchError(
                f"metrics.listen {self.address}: cannot listen there: {error.strerror or error}"
            ) from None
        self._runner = runner
        logger.info("metrics and health at http://%s/metrics and /healthz", self.address)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=INDEX)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        try:
            await self._metrics.refresh(self._store)
        except StorageError as error:
            # The counters are still worth having; the database's own numbers are stale.
            logger.warning("metrics: reading the database failed: %s", error)
        body, content_type = self._metrics.render(request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def _healthz(self, request: web.Request) -> web.Response:
        problem = self._health.problem()
        if problem is None:
            return web.Response(text=self._health.summary() + "\n")
        return web.Response(status=503, text=problem + "\n")
