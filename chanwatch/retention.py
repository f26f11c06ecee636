"""The daily retention pass of `chanwatch run` (what it deletes is decided in storage)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Final

from storage import RetentionPolicy, Store
from storage.database import now_utc

logger = logging.getLogger(__name__)

INTERVAL: Final = timedelta(days=1)
FIRST_DELAY: Final = timedelta(minutes=10)
"""After a start, the first pass waits this long at least: a process restarted in a loop
does not run one each time, and start-up (catching up on channels) comes first."""


async def run_retention(
    store: Store,
    policy: RetentionPolicy,
    *,
    interval: timedelta = INTERVAL,
    first_delay: timedelta = FIRST_DELAY,
) -> None:
    """Run a retention pass a day, until cancelled. The schedule follows the last pass
    recorded in the database, so restarts neither skip a day nor repeat one."""
    delay = first_delay
    while True:
        last = await store.retention.last_run()
        if last is not None:
            delay = max(delay, last.ran_at + interval - now_utc())
        logger.info("retention: next pass in %.0f s", delay.total_seconds())
        await asyncio.sleep(delay.total_seconds())
        await store.retention.run(policy)
        delay = interval
