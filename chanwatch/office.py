"""The bot office: the one process of a cluster that polls Telegram and sends.

Telegram allows one getUpdates consumer per bot token (a second gets 409 Conflict) and
counts its rate limits per bot, so however many `bot` (or `all`) processes run, one at a
time holds the office, elected through the database (storage/coordination.py). The others
stand by and take over within seconds when it ends, even by `kill -9`. The jobs that must run
once per cluster go with the office too: digests, the daily retention pass (which also
purges old outbox rows).

Owed messages are in the outbox before they are sent, so a new office holder sends what its
predecessor left: nothing is lost, and only a send in flight at the moment the predecessor
died (at most one per chat) can arrive twice, when Telegram accepted it but the process
died before recording it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from chanwatch.health import Health
from storage.coordination import Election, cancel_and_wait

logger = logging.getLogger("chanwatch.office")

AFTER_FAILED_TERM: Final = 5.0
"""Pause before campaigning again when a term ended because its duties failed: a bug that
ends them at once must not spin."""
AFTER_LOST_TERM: Final = 3.0
"""Pause before campaigning again after losing the office: a standby (which asks every
second) takes it meanwhile, rather than the process whose connection just failed."""


async def hold_office(
    election: Election, health: Health, duties: Callable[[], Awaitable[None]]
) -> None:
    """Campaign for the office, run `duties` during each term, and stand by between terms;
    until cancelled.

    `duties` runs until cancelled; it is cancelled when the term is lost (the connection that
    holds it closed, or hangs), so a process cut off from the database stops polling and
    sending: at once when the connection closes, and before the server frees the office for
    another process when it hangs (storage/postgres_coordination.py has the timing)."""
    while True:
        health.standing_by()
        async with election.term() as term:
            health.elected()
            logger.info("bot office: elected; this process polls Telegram and sends")
            work = asyncio.create_task(_run(duties), name="bot office duties")
            lost = asyncio.create_task(term.lost(), name="bot office term")
            try:
                done, _ = await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                # The duties stop polling and let sends in flight be recorded.
                await cancel_and_wait(work)
            reason = lost.result() if lost in done else None
        if reason is not None:
            logger.warning(
                "bot office lost (%s): stopped polling and sending; standing by", reason
            )
        health.standing_by()
        await asyncio.sleep(AFTER_FAILED_TERM if reason is None else AFTER_LOST_TERM)


async def _run(duties: Callable[[], Awaitable[None]]) -> None:
    try:
        await duties()
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("bot office: the duties failed; leaving the office")
    else:
        logger.error("bot office: the duties ended; leaving the office")
