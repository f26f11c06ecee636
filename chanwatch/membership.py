"""This process's row among the running processes (storage/processes.py), kept alive.

Every `chanwatch run` registers, whatever its role: operators see the processes in /stats,
and monitors count the live ones to take their share of the channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from storage import Store
from storage.processes import FORGET_AFTER

logger = logging.getLogger(__name__)


class Membership:
    """Registers on `start()`, renews the heartbeat in `run()`, leaves in `stop()`."""

    def __init__(
        self,
        store: Store,
        role: str,
        *,
        renew_seconds: float,
        capacity: int = 0,
        channels: Callable[[], int] = lambda: 0,
    ) -> None:
        self._store = store
        self.role = role
        self._renew = renew_seconds
        self._capacity = capacity
        self._channels = channels
        self.id = 0

    async def start(self) -> int:
        host = socket.gethostname()
        # A predecessor on this machine that was killed (its pid runs no more) lets go of
        # its leases now rather than when they expire: a restarted process resumes at once.
        for process in await self._store.processes.live(FORGET_AFTER.total_seconds()):
            if process.host == host and process.pid != os.getpid() and not _running(process.pid):
                logger.info(
                    "process %d (pid %d) is gone; freeing its leases", process.id, process.pid
                )
                await self._store.processes.retire(process.id)
        self.id = await self._store.processes.register(
            self.role, host, os.getpid(), capacity=self._capacity
        )
        logger.info("registered process=%d role=%s", self.id, self.role)
        return self.id

    async def run(self) -> None:
        """Renew the heartbeat every `renew_seconds` until cancelled."""
        while True:
            await asyncio.sleep(self._renew)
            if not await self._store.processes.heartbeat(self.id, channels=self._channels()):
                # Forgotten after a stall of a day: come back as a new process.
                logger.warning("process %d was forgotten; registering again", self.id)
                await self.start()

    async def stop(self) -> None:
        """Leave: the row goes and every lease of this process is free for the others."""
        if self.id:
            with contextlib.suppress(Exception):
                await self._store.processes.retire(self.id)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True
