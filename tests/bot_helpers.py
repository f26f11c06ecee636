"""A running conversation for tests: the real dispatcher polling the shared fake Bot API
(tests/fakes/bot_api.py) on 127.0.0.1, over a real store (a SQLite file unless a PostgreSQL
URL is given), with the real Delivery and DigestScheduler.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiogram import Bot, Dispatcher

from bot.charts.renderer import ChartRenderer
from bot.delivery import Delivery
from bot.digests import DigestScheduler
from bot.dispatcher import build_dispatcher, make_bot
from bot.settings import BotSettings
from monitor.matching import index_lemmas
from storage import Location, Store
from storage.models import NewMatch, PostRecord
from tests.fakes.bot_api import CallbackAnswer, FakeBotAPI, SentMessage

OPERATOR: Final = 1001
ALICE: Final = 2002
BOB: Final = 3003
GROUP: Final = -100777
BOT_ID: Final = 4242
BOT_TOKEN: Final = f"{BOT_ID}:TEST"
BOT_USERNAME: Final = "chanwatch_test_bot"
# Only a guard against a hung test; every wait ends as soon as its condition holds.
WAIT_LIMIT: Final = 10.0


@dataclass
class Controls:
    """Stands in for the lead's pipeline: counts the change notices it gets."""

    topics: int = 0
    channels: int = 0
    fail_with: Exception | None = None

    async def topics_changed(self) -> None:
        self.topics += 1
        if self.fail_with is not None:
            raise self.fail_with

    async def channels_changed(self) -> None:
        self.channels += 1


@dataclass
class Conversation:
    api: FakeBotAPI
    store: Store
    bot: Bot
    dp: Dispatcher
    digests: DigestScheduler
    controls: Controls
    delivery: Delivery
    charts: ChartRenderer

    async def say(
        self,
        text: str,
        *,
        chat_id: int = ALICE,
        user_id: int | None = None,
        count: int = 1,
        language_code: str | None = None,
        timeout: float = WAIT_LIMIT,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Send `text` as a user (whose Telegram app is in `language_code`, if given) and
        return the bot's next `count` messages to that chat."""
        before = len(self.api.messages_to(chat_id))
        await self.api.user_sends(
            chat_id,
            text,
            user_id=chat_id if user_id is None else user_id,
            language_code=language_code,
        )
        sent = await self.api.wait_for_messages(before + count, chat_id=chat_id, timeout=timeout)
        return sent[before : before + count]

    async def ask(self, text: str, **kwargs: Any) -> str:
        """The text of the bot's one answer to `text`."""
        (message,) = await self.say(text, **kwargs)
        return message.text

    async def press(
        self, message: SentMessage, data: str, *, user_id: int | None = None
    ) -> CallbackAnswer:
        """Press a button and return the bot's callback answer (after any edit it made).

        `message` is a version of the bot's message; `latest` gives it as the press left it.
        """
        update = await self.api.user_presses(
            message.chat_id,
            message.message_id,
            data,
            user_id=message.chat_id if user_id is None else user_id,
        )
        return await self.api.wait_for_answer(update, timeout=WAIT_LIMIT)

    def latest(self, message: SentMessage) -> SentMessage:
        """The bot's message as it stands now, after its edits."""
        return self.api.message(message.chat_id, message.message_id)


async def store_post(
    store: Store,
    handle: str,
    post_id: int,
    text: str,
    *,
    topic: str | None = None,
    word: str | None = None,
    date: datetime | None = None,
) -> None:
    """Store a post as the pipeline would, matched to `topic` on `word` when given."""
    matches: tuple[NewMatch, ...] = ()
    if topic is not None and word is not None:
        start = text.index(word)
        matches = (NewMatch(topic, (word,), ((start, start + len(word)),)),)
    record = PostRecord(
        post_id=post_id,
        date=date or datetime(2026, 1, 1, 12, post_id % 60, tzinfo=UTC),
        text=text,
        lemmas=index_lemmas(text),
        matches=matches,
    )
    if await store.channels.last_post_id(handle) is None:
        await store.posts.save(handle, [], history=True)  # the first read comes first
    await store.posts.save(handle, [record], history=False)


@asynccontextmanager
async def conversation(
    tmp_path: Path,
    database: Location | None = None,
    *,
    charts: ChartRenderer | None = None,
) -> AsyncIterator[Conversation]:
    """The bot over `database` (default: `tmp_path`/bot.db): a second conversation on the same
    database is the bot after a restart. `charts` replaces the chart renderer (tests of
    failing charts)."""
    # Everything opened is closed in reverse order, also when a later step fails: a store left
    # open keeps an aiosqlite thread that outlives the test's event loop.
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(FakeBotAPI(token=BOT_TOKEN, username=BOT_USERNAME))
        store = await Store.open(database or tmp_path / "bot.db")
        stack.push_async_callback(store.close)
        bot = make_bot(BOT_TOKEN, api.base_url)
        stack.push_async_callback(bot.session.close)
        charts = charts or ChartRenderer()
        stack.push_async_callback(charts.close)
        delivery = Delivery(bot, store, admins=[OPERATOR], charts=charts)
        digests = DigestScheduler(store, delivery)
        controls = Controls()
        dp = build_dispatcher(
            store=store,
            settings=BotSettings(
                admins=frozenset({OPERATOR}), digest_time="09:00", timezone="Europe/Moscow"
            ),
            delivery=delivery,
            digests=digests,
            topics=controls,
            channels=controls,
            charts=charts,
        )
        await digests.start()
        stack.push_async_callback(digests.shutdown)
        await stack.enter_async_context(_polling(dp, bot))
        yield Conversation(api, store, bot, dp, digests, controls, delivery, charts)


@asynccontextmanager
async def _polling(dp: Dispatcher, bot: Bot) -> AsyncIterator[None]:
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        yield
    finally:
        try:
            await dp.stop_polling()
        except RuntimeError:  # polling has not started yet, so it cannot be stopped
            polling.cancel()
        await asyncio.wait([polling])
        if not polling.cancelled():
            polling.result()  # a crash of the polling loop fails the test
