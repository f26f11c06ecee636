"""`chanwatch run`: every part in one asyncio process, started and stopped in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

from bot import texts
from chanwatch.config import Config
from chanwatch.health import Health
from chanwatch.metrics import Metrics
from chanwatch.retention import run_retention
from chanwatch.status_server import StatusServer
from monitor.errors import AccountUnusable
from monitor.ingest import Ingest
from storage import Store, TopicSpec
from storage.errors import ChanwatchError
from storage.models import Assignment

if TYPE_CHECKING:
    from monitor.sources.telegram_accounts import AccountPool
    from monitor.sources.telegram_login import ClientFactory
    from monitor.sources.web import WebSource

logger = logging.getLogger("chanwatch.app")

_RESTART_PAUSE: Final = (1.0, 60.0)
"""First and longest pause before restarting a part that crashed."""


class _Listener:
    """Ingestion's news, passed on to delivery (which owns every message sent) and counted."""

    def __init__(self, metrics: Metrics) -> None:
        self.delivery: Any = None
        self._metrics = metrics

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

    def posts_stored(self, source: str, new_posts: int, new_matches: Sequence[str]) -> None:
        self._metrics.posts_stored(source, new_posts, new_matches)

    def source_error_seen(self, channel: str) -> None:
        self._metrics.source_error_seen(channel)

    async def account_down(
        self, account: str, reason: str, moves: Sequence[Assignment], *, final: bool
    ) -> None:
        if self.delivery is not None:
            # Storage said this account was working until now, so this is news once.
            await self.delivery.notify_operators(
                lambda: texts.account_down_notice(account, reason, moves, final=final),
                key=f"account-down:{account}:{time.time_ns()}",
            )

    async def account_recovered(self, account: str, moves: Sequence[Assignment]) -> None:
        if self.delivery is not None:
            await self.delivery.notify_operators(
                lambda: texts.account_recovered_notice(account, moves),
                key=f"account-ok:{account}:{time.time_ns()}",
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


async def _supervise(name: str, start: Callable[[], Awaitable[None]], health: Health) -> None:
    """Run a long-lived part; if it crashes, log it and start it again with a pause."""
    pause = _RESTART_PAUSE[0]
    while True:
        health.part_running(name)
        try:
            await start()
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            health.part_crashed(name, f"{type(error).__name__}: {error}")
            _log_crash(name, error, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, _RESTART_PAUSE[1])


def _log_crash(name: str, error: Exception, pause: float) -> None:
    if isinstance(error, ChanwatchError):
        logger.error("%s stopped error=%s restart_in=%.0fs", name, error, pause)
    elif isinstance(error, TelegramUnauthorizedError):
        logger.error(
            "%s: Telegram refused the bot token (%s): check bot.token restart_in=%.0fs",
            name,
            error.message,
            pause,
        )
    elif isinstance(error, (TelegramNetworkError, aiohttp.ClientError, OSError)):
        # Telegram or the network being away is expected weather, not a crash.
        logger.warning("%s cannot reach its server error=%s restart_in=%.0fs", name, error, pause)
    else:
        logger.error("%s crashed restart_in=%.0fs", name, pause, exc_info=error)


async def prepare_store(config: Config) -> Store:
    """Open the database and bring config channels and topics into it."""
    from monitor.matching import LEMMA_VERSION, Lemmatizer

    store = await Store.open(config.database, lemmatizer=Lemmatizer())
    try:
        await store.topics.sync_config(
            [TopicSpec(t.name, t.terms, t.require, t.exclude) for t in config.topics]
        )
        await store.channels.sync_config([(c.handle, c.source) for c in config.channels])
        index = await store.search_index.state()
        if index.version != LEMMA_VERSION:
            logger.warning(
                "the search index was built by morphology version %d and this chanwatch "
                "indexes with version %d: run `chanwatch reindex` (searches work meanwhile, "
                "some inflected forms are not found until then)",
                index.version,
                LEMMA_VERSION,
            )
        await store.accounts.sync_config(
            [account.name for account in config.telegram.accounts],
            config.telegram.channels_per_account,
        )
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
        sink=ingest.sink_for("web"),
        cursor=ingest,
        watchlist=ingest,
    )


async def run(
    config: Config,
    *,
    client_factory: ClientFactory | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (or until `stop` is set).

    `client_factory` builds the Telethon clients (TelegramClient unless given): the seam
    through which tests run the real wiring against an in-memory Telegram.
    """
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
    from bot.observer import watch_polling
    from bot.settings import BotSettings

    store = await prepare_store(config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    bot = make_bot(config.bot.token, config.bot.api_base)
    health = Health()
    metrics = Metrics(health)
    watch_polling(bot, metrics)
    status = _status_server(config, metrics, health, store)
    i18n = load_i18n()
    charts = ChartRenderer()
    tasks: list[asyncio.Task[None]] = []
    digests: Any = None
    dispatcher: Any = None
    telegram: AccountPool | None = None
    try:
        if status is not None:
            await status.start()
        telegram_handles = await store.channels.handles("telegram")
        listener = _Listener(metrics)
        ingest = await Ingest.open(store, listener, story_window_hours=config.stories.window)
        metrics.known_topics(ingest.matcher.topics)
        clock = SystemClock()
        delivery = Delivery(
            bot,
            store,
            admins=config.bot.admins,
            clock=clock,
            observer=metrics,
            i18n=i18n,
            charts=charts,
        )
        listener.delivery = delivery
        digests = DigestScheduler(store, delivery, clock=clock, i18n=i18n)

        web = web_source(config, ingest)
        if telegram_handles:
            telegram = telegram_pool(config, store, ingest, listener, client_factory)
            await telegram.start()

        async def wake_sources() -> None:
            web.wake()
            if telegram is not None:
                await telegram.channels_changed()
            else:
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
                retention=config.retention,
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
            "retention": lambda: run_retention(store, config.retention),
        }
        if telegram is not None:
            parts["telegram"] = telegram.run
        for name, start in parts.items():
            tasks.append(asyncio.create_task(_supervise(name, start, health), name=name))
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
        if status is not None:
            await status.stop()
        if telegram is not None:
            await telegram.close()
        await store.close()
        logger.info("stopped")
    return 0


def _status_server(
    config: Config, metrics: Metrics, health: Health, store: Store
) -> StatusServer | None:
    if config.metrics.listen is None:
        return None
    host, port = config.metrics.listen
    return StatusServer(host, port, metrics=metrics, health=health, store=store)


def telegram_pool(
    config: Config,
    store: Store,
    ingest: Ingest,
    listener: _Listener,
    client_factory: ClientFactory | None,
) -> AccountPool:
    """One Telethon source per configured account, placed by the assignment in storage."""
    from chanwatch.telegram import credentials_missing, open_account
    from monitor.sources.telegram_accounts import AccountPool

    async def opener(name: str) -> Any:
        account = config.telegram.account(name)
        assert account is not None
        problem = credentials_missing(config, account)
        if problem:
            raise AccountUnusable(problem)
        return await open_account(config, account, client_factory)

    return AccountPool(
        [account.name for account in config.telegram.accounts],
        opener=opener,
        book=store.accounts,
        sink=ingest.sink_for("telegram"),
        cursor=ingest,
        listener=listener,
        reconcile_seconds=config.telegram.reconcile_seconds,
        join_pause_seconds=config.telegram.join_pause_seconds,
    )
