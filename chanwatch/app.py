"""`chanwatch run`: every part in one asyncio process, started and stopped in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from bot import texts
from bot.i18n import load_i18n
from bot.notices import queue_operator_notice
from chanwatch import heap
from chanwatch.config import Config
from chanwatch.errors import ConfigError
from chanwatch.health import Health
from chanwatch.membership import Membership
from chanwatch.metrics import Metrics
from chanwatch.office import hold_office
from chanwatch.retention import run_retention
from chanwatch.status_server import StatusServer
from monitor.errors import AccountUnusable
from monitor.ingest import Ingest
from monitor.leases import MONITOR_ROLES, LeaseKeeper
from storage import Store, TopicSpec
from storage.coordination import BOT_OFFICE, CHANNELS, DELIVERY, TOPICS
from storage.errors import ChanwatchError
from storage.models import ROLES, Assignment

if TYPE_CHECKING:
    from bot.delivery import Delivery
    from bot.digests import DigestScheduler
    from monitor.sources.base import WatchList
    from monitor.sources.telegram_accounts import AccountPool
    from monitor.sources.telegram_login import ClientFactory
    from monitor.sources.web import WebSource

logger = logging.getLogger("chanwatch.app")

_RESTART_PAUSE: Final = (1.0, 60.0)
"""First and longest pause before restarting a part that crashed."""
_STOPPING_TOO_LONG: Final = 10.0
"""Every this many seconds after the stop, the parts still running are named in the log:
the stop waits for them (a send in flight is recorded before the process exits), and an
operator whose process does not exit sees which part it waits for."""


class _Listener:
    """Ingestion's news, passed on to delivery (which owns every message sent) and counted.

    In a process without a bot (role monitor) operator notices are queued in the outbox
    (`notices`) for the bot process to send."""

    def __init__(self, metrics: Metrics) -> None:
        self.delivery: Any = None
        self.notices: Callable[[Callable[[], str], str], Awaitable[None]] | None = None
        self._metrics = metrics

    def new_matches(self) -> None:
        if self.delivery is not None:
            self.delivery.wake()

    async def _notify(self, write: Callable[[], str], key: str) -> None:
        """Tell the operators `write()` (made in each one's language)."""
        if self.delivery is not None:
            await self.delivery.notify_operators(write, key=key)
        elif self.notices is not None:
            await self.notices(write, key)

    async def source_failed(self, channel: str, message: str) -> None:
        await self._notify(
            lambda: texts.source_failed_notice(channel, message),
            # Storage already says this is a new outage; the key only has to be unique
            # (the monotonic clock restarts with the process, wall time does not).
            f"source-error:{channel}:{time.time_ns()}",
        )

    async def source_recovered(self, channel: str) -> None:
        await self._notify(
            lambda: texts.source_recovered_notice(channel),
            f"source-ok:{channel}:{time.time_ns()}",
        )

    def posts_stored(self, source: str, new_posts: int, new_matches: Sequence[str]) -> None:
        self._metrics.posts_stored(source, new_posts, new_matches)

    def source_error_seen(self, channel: str) -> None:
        self._metrics.source_error_seen(channel)

    async def account_down(
        self, account: str, reason: str, moves: Sequence[Assignment], *, final: bool
    ) -> None:
        # Storage said this account was working until now, so this is news once.
        await self._notify(
            lambda: texts.account_down_notice(account, reason, moves, final=final),
            f"account-down:{account}:{time.time_ns()}",
        )

    async def account_recovered(self, account: str, moves: Sequence[Assignment]) -> None:
        await self._notify(
            lambda: texts.account_recovered_notice(account, moves),
            f"account-ok:{account}:{time.time_ns()}",
        )


class _Controls:
    """What operator commands change while running: topics recompile, sources look again
    (in this process; the parts of other processes hear of it through the database)."""

    def __init__(self, runtime: _Runtime) -> None:
        self._runtime = runtime

    async def topics_changed(self) -> None:
        if self._runtime.ingest is not None:
            await self._runtime.ingest.reload_topics()

    async def channels_changed(self) -> None:
        await self._runtime.wake_sources()


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
    # A process that never loaded aiogram (a monitor) has none of its errors to tell apart,
    # and importing it to check would cost seconds.
    aiogram_errors: Any = sys.modules.get("aiogram.exceptions")
    refused = aiogram_errors.TelegramUnauthorizedError if aiogram_errors else ()
    unreachable = (aiogram_errors.TelegramNetworkError,) if aiogram_errors else ()
    if isinstance(error, ChanwatchError):
        logger.error("%s stopped error=%s restart_in=%.0fs", name, error, pause)
    elif isinstance(error, refused):
        logger.error(
            "%s: Telegram refused the bot token (%s): check bot.token restart_in=%.0fs",
            name,
            error.message,
            pause,
        )
    elif isinstance(error, (*unreachable, aiohttp.ClientError, OSError)):
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


def web_source(config: Config, ingest: Ingest, watchlist: WatchList | None = None) -> WebSource:
    """The web preview source as configured, feeding `ingest` (run and backfill); it reads
    the channels `watchlist` gives (by default every watched web channel)."""
    from monitor.sources.web import WebSource

    return WebSource(
        base_url=config.web.base_url,
        poll_seconds=config.web.poll_seconds,
        timeout_seconds=config.web.timeout_seconds,
        sink=ingest.sink_for("web"),
        cursor=ingest,
        watchlist=watchlist or ingest,
    )


def check_role(config: Config, role: str) -> None:
    """Refuse a role this configuration cannot run, in one line (ConfigError)."""
    if role not in ROLES:
        raise ConfigError(f"--role {role}: expected one of {', '.join(ROLES)}")
    if role != "all" and config.storage_url is None:
        raise ConfigError(
            f"--role {role} needs PostgreSQL (storage.url): with SQLite one process does "
            "everything, so run it with --role all (the default)"
        )
    if role != "monitor" and not config.bot.token:
        raise ChanwatchError(
            f"bot.token is empty: set it in {config.path} or in CHANWATCH_BOT_TOKEN"
        )


async def run(
    config: Config,
    *,
    role: str = "all",
    client_factory: ClientFactory | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run `role`'s parts until SIGINT/SIGTERM (or until `stop` is set).

    `all` runs everything; `monitor` reads channels and stores matches; `bot` talks to
    Telegram's Bot API (polls, sends, digests). `client_factory` builds the Telethon clients
    (TelegramClient unless given): the seam through which tests run the real wiring against
    an in-memory Telegram.
    """
    check_role(config, role)
    # The collector's settings are the process's, so the program sets them, not a library
    # layer: see chanwatch.heap (the story detector's containers made it walk the heap).
    restore_gc = heap.tune()
    try:
        store = await prepare_store(config)
    except BaseException:
        restore_gc()
        raise
    status: StatusServer | None = None
    try:
        health = Health(bot=role != "monitor")
        metrics = Metrics(health)
        status = _status_server(config, metrics, health, store)
        if status is not None:
            # Before the runtime, whose bot imports aiogram (seconds): a port in use is
            # said at once.
            await status.start()
        runtime = _Runtime(config, store, health, metrics, role)
    except BaseException:
        # Before the block below, whose `finally` would put these back.
        restore_gc()
        if status is not None:
            await status.stop()
        await store.close()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks: list[asyncio.Task[None]] = []
    try:
        parts: dict[str, Callable[[], Awaitable[None]]] = {}
        await runtime.membership.start()
        parts["heartbeat"] = runtime.membership.run
        # The bot first: what the sources report while they start goes through delivery.
        if role != "monitor":
            parts.update(await runtime.bot_parts())
        if role in MONITOR_ROLES:
            parts.update(await runtime.monitor_parts(client_factory))
        # Start-up is done (the story detector rebuilt): what lives now lives long.
        heap.settle()
        for name, start in parts.items():
            tasks.append(asyncio.create_task(_supervise(name, start, health), name=name))
        logger.info(
            "started role=%s process=%d channels=%d topics=%d database=%s",
            role,
            runtime.membership.id,
            runtime.channels_held(),
            runtime.topic_count(),
            store.db.name,
        )
        await stop.wait()
        logger.info("stopping")
    finally:
        restore_gc()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runtime.stop_polling()
        for task in tasks:
            task.cancel()
        # Delivery shields its in-flight send, so cancellation waits for it to be recorded.
        running = set(tasks)
        while running:
            _, running = await asyncio.wait(running, timeout=_STOPPING_TOO_LONG)
            if running:
                logger.warning(
                    "stopping: still waiting for %s",
                    ", ".join(sorted(task.get_name() for task in running)),
                )
        # All ended: this collects what they ended with, so none is logged as never retrieved.
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.close()
        if status is not None:
            await status.stop()
        await runtime.membership.stop()
        await store.close()
        logger.info("stopped")
    return 0


class _Runtime:
    """The parts of one process, by role: built by `monitor_parts()` and `bot_parts()`,
    closed by `close()` whatever was built."""

    def __init__(
        self, config: Config, store: Store, health: Health, metrics: Metrics, role: str
    ) -> None:
        self.config = config
        self.store = store
        self.health = health
        self.metrics = metrics
        self.role = role
        self.i18n = load_i18n()
        self.listener = _Listener(metrics)
        self.listener.notices = self._queue_notice
        self.ingest: Ingest | None = None
        self.web: WebSource | None = None
        self.telegram: AccountPool | None = None
        self.keeper: LeaseKeeper | None = None
        self.bot: Any = None
        self.charts: Any = None
        self.digests: Any = None
        self.dispatcher: Any = None
        self._telegram_count = 0  # telegram channels of the accounts this process runs
        self._all_count = 0  # without leases: every channel
        # Leases only where other processes may share the database: on SQLite this one
        # process reads every channel, as it always did.
        self.shared = config.storage_url is not None and role in MONITOR_ROLES
        self.membership = Membership(
            store,
            role,
            renew_seconds=config.cluster.renew_seconds,
            capacity=config.cluster.web_channels if role in MONITOR_ROLES else 0,
            channels=self.channels_held,
        )

    async def _queue_notice(self, write: Callable[[], str], key: str) -> None:
        """An operator notice from a process without a bot: queued for the bot process."""
        await queue_operator_notice(self.store, self.i18n, self.config.bot.admins, write, key=key)

    def channels_held(self) -> int:
        if self.keeper is not None:
            return self.keeper.held() + self._telegram_count
        if self.role in MONITOR_ROLES:
            return self._all_count
        return 0

    def topic_count(self) -> int:
        return len(self.ingest.matcher.topics) if self.ingest is not None else 0

    async def monitor_parts(
        self, client_factory: ClientFactory | None
    ) -> dict[str, Callable[[], Awaitable[None]]]:
        """Ingestion and the sources (roles all and monitor)."""
        config, store = self.config, self.store
        ingest = self.ingest = await Ingest.open(
            store,
            self.listener,
            story_window_hours=config.stories.window,
            # On SQLite no other `chanwatch run` writes; on PostgreSQL another monitor
            # may, whenever it starts (the story detector then reads theirs first).
            others=self.shared,
        )
        self.metrics.known_topics(ingest.matcher.topics)
        parts: dict[str, Callable[[], Awaitable[None]]] = {}
        telegram_handles = await store.channels.handles("telegram")
        if self.shared:
            keeper = self.keeper = LeaseKeeper(
                store,
                self.membership.id,
                lease_seconds=config.cluster.lease_seconds,
                capacity=config.cluster.web_channels,
                # A machine lists the accounts whose sessions it has; another may run others.
                accounts=[a.name for a in config.telegram.accounts if a.configured],
                on_change=lambda: self.web.wake() if self.web is not None else None,
                on_round=self._leases_renewed,
            )
            await keeper.hold()
            parts["leases"] = keeper.run
        web = self.web = web_source(config, ingest, watchlist=self.keeper)
        if self.shared:

            async def leased_accounts() -> None:
                await self._run_leased_accounts(client_factory)

            parts["telegram"] = leased_accounts
        elif telegram_handles:
            telegram = self.telegram = telegram_pool(
                config, store, ingest, self.listener, client_factory
            )
            await telegram.start()
        self._all_count = len(await store.channels.handles("web")) + len(telegram_handles)
        if self.keeper is None:
            self.metrics.channels_held(
                web=self._all_count - len(telegram_handles), telegram=len(telegram_handles)
            )
        parts["web"] = web.run
        if self.telegram is not None:
            parts["telegram"] = self.telegram.run
        if self.shared:
            parts["changes"] = self._hear_changes
        return parts

    async def _run_leased_accounts(self, client_factory: ClientFactory | None) -> None:
        """Run the Telegram accounts this process holds leases on, reading the channels
        assigned to them; started again whenever the accounts held change (one taken over
        from a monitor that died, one given back)."""
        keeper = self.keeper
        assert keeper is not None and self.ingest is not None
        while True:
            keeper.accounts_changed.clear()
            accounts = list(keeper.accounts)
            if not accounts or not await self.store.channels.handles("telegram"):
                await keeper.accounts_changed.wait()
                continue
            pool = self.telegram = telegram_pool(
                self.config,
                self.store,
                self.ingest,
                self.listener,
                client_factory,
                accounts=accounts,
            )
            try:
                await pool.start()
                self._telegram_count = sum(
                    [len(await self.store.accounts.handles(name)) for name in accounts]
                )
                reading = asyncio.create_task(pool.run())
                changed = asyncio.create_task(keeper.accounts_changed.wait())
                try:
                    await asyncio.wait({reading, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (reading, changed):
                        task.cancel()
                    await asyncio.gather(reading, changed, return_exceptions=True)
                if not reading.cancelled() and reading.exception() is not None:
                    raise reading.exception()  # type: ignore[misc]
            finally:
                self.telegram = None
                self._telegram_count = 0
                await pool.close()
            if not changed.cancelled():
                logger.info("Telegram accounts held changed; restarting the Telegram source")
            else:  # every account it had stopped working: wait for a change
                await keeper.accounts_changed.wait()

    async def _hear_changes(self) -> None:
        """Topics and channels changed by any process (an operator's command in the bot
        process) reach this monitor within a moment of the commit, through the database."""
        ingest = self.ingest
        assert ingest is not None
        topics, channels, either = asyncio.Event(), asyncio.Event(), asyncio.Event()

        def heard(channel: str, payload: str | None) -> None:
            # None: notifications may have been missed while the connection was down.
            if channel == TOPICS or payload is None:
                topics.set()
            if channel == CHANNELS or payload is None:
                channels.set()
            either.set()

        async with self.store.db.listen((TOPICS, CHANNELS), heard):
            while True:
                await either.wait()
                either.clear()
                if topics.is_set():
                    topics.clear()
                    await ingest.reload_topics()
                    self.metrics.known_topics(ingest.matcher.topics)
                if channels.is_set():
                    channels.clear()
                    await self.wake_sources()

    def _leases_renewed(self) -> None:
        self.health.leases_renewed(self.config.cluster.lease_seconds)
        if self.keeper is not None:
            self.metrics.channels_held(web=self.keeper.held(), telegram=self._telegram_count)

    async def wake_sources(self) -> None:
        store = self.store
        if self.web is not None:
            self.web.wake()
        if self.keeper is not None:
            self.keeper.wake()
        if self.telegram is not None:
            await self.telegram.channels_changed()
        elif self.keeper is not None:
            self.keeper.accounts_changed.set()  # telegram channels may be there to read now
        elif self.ingest is not None:
            for handle in await store.channels.handles("telegram"):
                await self.ingest.source_error(
                    handle,
                    "the Telethon user client is not running: run `chanwatch login`, "
                    "then restart chanwatch",
                )

    async def bot_parts(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The bot: polling, delivery, digests and retention (roles all and bot)."""
        from bot.api_outcomes import watch_polling
        from bot.charts.renderer import ChartRenderer
        from bot.clock import SystemClock
        from bot.delivery import Delivery
        from bot.digests import DigestScheduler
        from bot.dispatcher import build_dispatcher, make_bot, register_commands
        from bot.settings import BotSettings

        config, store = self.config, self.store
        bot = self.bot = make_bot(config.bot.token, config.bot.api_base)
        watch_polling(bot, self.metrics)
        charts = self.charts = ChartRenderer()
        clock = SystemClock()
        delivery = Delivery(
            bot,
            store,
            admins=config.bot.admins,
            clock=clock,
            observer=self.metrics,
            i18n=self.i18n,
            charts=charts,
        )
        self.listener.delivery = delivery
        digests = self.digests = DigestScheduler(store, delivery, clock=clock, i18n=self.i18n)
        controls = _Controls(self)
        dispatcher = self.dispatcher = build_dispatcher(
            store=store,
            settings=BotSettings(
                admins=frozenset(config.bot.admins),
                digest_time=config.digest.time,
                timezone=config.digest.timezone,
                retention=config.retention,
                live_seconds=config.cluster.lease_seconds,
            ),
            delivery=delivery,
            digests=digests,
            topics=controls,
            channels=controls,
            charts=charts,
        )
        i18n = self.i18n

        async def poll_bot() -> None:
            languages = {
                admin: subscriber.language
                for admin in config.bot.admins
                if (subscriber := await store.subscribers.get(admin)) is not None
            }
            await register_commands(bot, i18n, config.bot.admins, languages)
            await dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)

        # Once per cluster, by the process holding the bot office (chanwatch/office.py).
        duties: dict[str, Callable[[], Awaitable[None]]] = {
            "delivery": delivery.run,
            "bot": poll_bot,
            "retention": lambda: run_retention(store, config.retention),
        }

        async def serve() -> None:
            await self._serve_office(duties, delivery, digests)

        election = store.db.election(BOT_OFFICE)
        return {"bot office": lambda: hold_office(election, self.health, serve)}

    async def _serve_office(
        self,
        duties: dict[str, Callable[[], Awaitable[None]]],
        delivery: Delivery,
        digests: DigestScheduler,
    ) -> None:
        """The bot's duties during one term in office, until cancelled (the term ended)."""
        tasks: list[asyncio.Task[None]] = []

        def heard(channel: str, payload: str | None) -> None:
            # A monitor stored a match or queued a notice (None: news may have been missed).
            delivery.wake()

        try:
            async with self.store.db.listen([DELIVERY], heard):
                await self.store.processes.set_office(self.membership.id, BOT_OFFICE)
                await digests.start()
                for name, start in duties.items():
                    tasks.append(
                        asyncio.create_task(_supervise(name, start, self.health), name=name)
                    )
                await asyncio.Event().wait()
        finally:
            await self.stop_polling()
            for task in tasks:
                task.cancel()
            # Delivery shields its in-flight sends, so cancelling waits for them to be recorded.
            await asyncio.gather(*tasks, return_exceptions=True)
            for name in duties:
                self.health.part_stopped(name)
            with contextlib.suppress(Exception):
                await digests.shutdown()
            # The database may be what ended the term; the next office holder corrects it.
            with contextlib.suppress(Exception):
                await self.store.processes.set_office(self.membership.id, None)

    async def stop_polling(self) -> None:
        if self.dispatcher is not None:
            # Cancelling start_polling from outside would leave aiogram's own polling task
            # running into the closed session; its stop signal ends it in order.
            with contextlib.suppress(RuntimeError):  # polling not (or no longer) running
                await self.dispatcher.stop_polling()

    async def close(self) -> None:
        if self.digests is not None:
            with contextlib.suppress(Exception):
                await self.digests.shutdown()
        if self.charts is not None:
            with contextlib.suppress(Exception):
                await self.charts.close()
        if self.bot is not None:
            with contextlib.suppress(Exception):
                await self.bot.session.close()
        if self.telegram is not None:
            await self.telegram.close()


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
    *,
    accounts: Sequence[str] | None = None,
) -> AccountPool:
    """One Telethon source per configured account (or per one of `accounts`), placed by the
    assignment in storage."""
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
        list(accounts) if accounts is not None else [a.name for a in config.telegram.accounts],
        opener=opener,
        book=store.accounts,
        sink=ingest.sink_for("telegram"),
        cursor=ingest,
        listener=listener,
        reconcile_seconds=config.telegram.reconcile_seconds,
        join_pause_seconds=config.telegram.join_pause_seconds,
    )
