"""`chanwatch run`: every part in one asyncio process, started and stopped in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

from bot import texts
from chanwatch.config import Config
from monitor.errors import SourceError
from monitor.ingest import Ingest
from storage import Store, TopicSpec
from storage.errors import ChanwatchError

if TYPE_CHECKING:
    from monitor.sources.web import WebSource

logger = logging.getLogger("chanwatch.app")

_RESTART_PAUSE: Final = (1.0, 60.0)
"""First and longest pause before restarting a part that crashed."""


class _Listener:
    """Ingestion's news, passed on to delivery (which owns every message sent)."""

    def __init__(self) -> None:
        self.delivery: Any = None

    def new_matches(self) -> None:
        if self.delivery is not None:
            self.delivery.wake()

    async def source_failed(self, channel: str, message: str) -> None:
        if self.delivery is not None:
            await self.delivery.notify_operators(
                lambda: texts.source_failed_notice(channel, message),
                # Storage already says this is a new outage; the key only has to be unique
                # (the monotonic clock restarts with the process, wall time does not).
                key=f"source-error:{channel}:{time.time_ns()}",
            )

    async def source_recovered(self, channel: str) -> None:
        if self.delivery is not None:
            await self.delivery.notify_operators(
                lambda: texts.source_recovered_notice(channel),
                key=f"source-ok:{channel}:{time.time_ns()}",
            )


class _Controls:
    """What operator commands change while running: topics recompile, sources look again."""

    def __init__(self, ingest: Ingest, wake_sources: Callable[[], Awaitable[None]]) -> None:
        self._ingest = ingest
        self._wake_sources = wake_sources

    async def topics_changed(self) -> None:
        await self._ingest.reload_topics()

    async def channels_changed(self) -> None:
        await self._wake_sources()


async def _supervise(name: str, start: Callable[[], Awaitable[None]]) -> None:
    """Run a long-lived part; if it crashes, log it and start it again with a pause."""
    pause = _RESTART_PAUSE[0]
    while True:
        try:
            await start()
            return
        except asyncio.CancelledError:
            raise
        except ChanwatchError as error:
            logger.error("%s stopped error=%s restart_in=%.0fs", name, error, pause)
        except TelegramUnauthorizedError as error:
            logger.error(
                "%s: Telegram refused the bot token (%s): check bot.token restart_in=%.0fs",
                name,
                error.message,
                pause,
            )
        except (TelegramNetworkError, aiohttp.ClientError, OSError) as error:
            # Telegram or the network being away is expected weather, not a crash.
            logger.warning(
                "%s cannot reach its server error=%s restart_in=%.0fs", name, error, pause
            )
        except Exception:
            logger.exception("%s crashed restart_in=%.0fs", name, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, _RESTART_PAUSE[1])


async def prepare_store(config: Config) -> Store:
    """Open the database and bring config channels and topics into it."""
    store = await Store.open(config.database)
    try:
        await store.topics.sync_config(
            [TopicSpec(t.name, t.terms, t.require, t.exclude) for t in config.topics]
        )
        await store.channels.sync_config([(c.handle, c.source) for c in config.channels])
    except BaseException:
        await store.close()
        raise
    return store


def web_source(config: Config, ingest: Ingest) -> WebSource:
    """The web preview source as configured, feeding `ingest` (run and backfill)."""
    from monitor.sources.web import WebSource

    return WebSource(
        base_url=config.web.base_url,
        poll_seconds=config.web.poll_seconds,
        timeout_seconds=config.web.timeout_seconds,
        sink=ingest,
        cursor=ingest,
        watchlist=ingest,
    )


async def run(config: Config) -> int:
    if not config.bot.token:
        raise ChanwatchError(
            f"bot.token is empty: set it in {config.path} or in CHANWATCH_BOT_TOKEN"
        )
    from bot.charts.renderer import ChartRenderer
    from bot.clock import SystemClock
    from bot.delivery import Delivery
    from bot.digests import DigestScheduler
    from bot.dispatcher import build_dispatcher, make_bot, register_commands
    from bot.i18n import load_i18n
    from bot.settings import BotSettings

    store = await prepare_store(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    telegram_client: Any = None
    bot = make_bot(config.bot.token, config.bot.api_base)
    i18n = load_i18n()
    charts = ChartRenderer()
    tasks: list[asyncio.Task[None]] = []
    digests: Any = None
    dispatcher: Any = None
    try:
        telegram_handles = await store.channels.handles("telegram")
        if telegram_handles:
            telegram_client = await _open_telegram(config)
        listener = _Listener()
        ingest = await Ingest.open(store, listener)
        clock = SystemClock()
        delivery = Delivery(
            bot, store, admins=config.bot.admins, clock=clock, i18n=i18n, charts=charts
        )
        listener.delivery = delivery
        digests = DigestScheduler(store, delivery, clock=clock, i18n=i18n)

        web = web_source(config, ingest)
        telegram: Any = None
        if telegram_client is not None:
            from monitor.sources.telegram import TelegramSource

            telegram = TelegramSource(
                telegram_client,
                sink=ingest,
                cursor=ingest,
                watchlist=ingest,
                reconcile_seconds=config.telegram.reconcile_seconds,
                join_pause_seconds=config.telegram.join_pause_seconds,
            )

        async def wake_sources() -> None:
            web.wake()
            # The Telethon source re-reads the watch list on its next reconciliation pass.
            if telegram is None:
                for handle in await store.channels.handles("telegram"):
                    await ingest.source_error(
                        handle,
                        "the Telethon user client is not running: run `chanwatch login`, "
                        "then restart chanwatch",
                    )

        controls = _Controls(ingest, wake_sources)
        dispatcher = build_dispatcher(
            store=store,
            settings=BotSettings(
                admins=frozenset(config.bot.admins),
                digest_time=config.digest.time,
                timezone=config.digest.timezone,
            ),
            delivery=delivery,
            digests=digests,
            topics=controls,
            channels=controls,
            charts=charts,
        )
        await digests.start()

        async def poll_bot() -> None:
            languages = {
                admin: subscriber.language
                for admin in config.bot.admins
                if (subscriber := await store.subscribers.get(admin)) is not None
            }
            await register_commands(bot, i18n, config.bot.admins, languages)
            await dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)

        parts: dict[str, Callable[[], Awaitable[None]]] = {
            "delivery": delivery.run,
            "bot": poll_bot,
            "web": web.run,
        }
        if telegram is not None:
            parts["telegram"] = telegram.run
        for name, start in parts.items():
            tasks.append(asyncio.create_task(_supervise(name, start), name=name))
        logger.info(
            "started channels=%d topics=%d database=%s",
            len(await store.channels.handles("web")) + len(telegram_handles),
            len(ingest.matcher.topics),
            store.db.name,
        )
        await stop.wait()
        logger.info("stopping")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if dispatcher is not None:
            # Cancelling start_polling from outside would leave aiogram's own polling task
            # running into the closed session; its stop signal ends it in order.
            with contextlib.suppress(RuntimeError):  # polling not (or no longer) running
                await dispatcher.stop_polling()
        for task in tasks:
            task.cancel()
        # Delivery shields its in-flight send, so cancellation waits for it to be recorded.
        await asyncio.gather(*tasks, return_exceptions=True)
        if digests is not None:
            with contextlib.suppress(Exception):
                await digests.shutdown()
        with contextlib.suppress(Exception):
            await charts.close()
        with contextlib.suppress(Exception):
            await bot.session.close()
        if telegram_client is not None:
            with contextlib.suppress(Exception):
                await telegram_client.disconnect()
        await store.close()
        logger.info("stopped")
    return 0


async def _open_telegram(config: Config) -> Any:
    if not config.telegram.configured:
        raise SourceError(
            "telegram channels are configured but telegram.api_id/api_hash are not set: "
            "get them at https://my.telegram.org, then run `chanwatch login`"
        )
    from monitor.sources.telegram_login import open_client

    return await open_client(
        api_id=config.telegram.api_id,
        api_hash=config.telegram.api_hash,
        session_path=config.telegram.session,
    )
