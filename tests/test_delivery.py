"""Alerts and the outbox sender: real databases, real aiogram Bot, fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.delivery import Delivery
from bot.fanout import fan_out
from bot.i18n import load_i18n
from storage import Location, Store, TopicSpec
from storage.models import NewMatch, NewMessage, PostRecord
from storage.outbox import OutboxRecord

if TYPE_CHECKING:
    from tests.fakes.bot_api import FakeBotAPI

ALICE, BOB, CAROL = 101, 102, 103


@pytest.fixture
async def store(database: Location) -> AsyncIterator[Store]:
    store = await Store.open(database)
    await store.channels.add("news_ch", "web")
    await store.posts.save("news_ch", [], history=True)  # first sight: later posts are live
    await store.topics.put(TopicSpec("Rates", ("ставка",)))
    await store.topics.put(TopicSpec("Banks", ("банк",)))
    yield store
    await store.close()


def fake_api(*, enforce_limits: bool = False) -> FakeBotAPI:
    # The fake Bot API is written alongside; until it lands only these tests are skipped.
    module = pytest.importorskip("tests.fakes.bot_api")
    api: FakeBotAPI = module.FakeBotAPI(enforce_limits=enforce_limits)
    return api


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    api = fake_api()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api)
    yield bot
    await bot.session.close()


def make_bot(api: FakeBotAPI) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    return Bot("42:TEST", session=session)


async def subscribe(store: Store, chat_id: int, *topics: str, mode: str = "instant") -> None:
    await store.subscribers.ensure(
        chat_id, chat_type="private", title=None, digest_time="09:00", timezone="UTC"
    )
    await store.subscribers.update(chat_id, mode=mode)
    ids = {topic.name: topic.id for topic in await store.topics.live()}
    await store.subscribers.subscribe(chat_id, [ids[name] for name in topics])


def match(text: str, topic: str, word: str) -> NewMatch:
    start = text.index(word)
    return NewMatch(topic, (word,), ((start, start + len(word)),))


async def save(
    store: Store, post_id: int, text: str, *matches: NewMatch, history: bool = False
) -> None:
    record = PostRecord(post_id, datetime.now(UTC), text, "", tuple(matches))
    await store.posts.save("news_ch", [record], history=history)


async def rows(store: Store, chat_id: int) -> list[OutboxRecord]:
    return await store.outbox.for_chat(chat_id)


@asynccontextmanager
async def running(delivery: Delivery) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(delivery.run())
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def drained(store: Store) -> None:
    """Until nothing is pending: every send has been answered and recorded."""
    async with asyncio.timeout(10):
        while await store.outbox.pending_count():  # noqa: ASYNC110 - state is in SQLite
            await asyncio.sleep(0.02)


def fast(bot: Bot, store: Store, *, per_chat_interval: float = 0.01) -> Delivery:
    """Delivery with short waits, for tests that are not about the limits themselves."""
    return Delivery(
        bot,
        store,
        admins=(ALICE,),
        per_chat_interval=per_chat_interval,
        group_interval=0.01,
        backoff_base=0.05,
        poll_interval=0.5,
    )


# Fan-out alone: which alerts are owed.


async def test_one_alert_per_post_per_subscriber_naming_only_their_topics(store: Store) -> None:
    await subscribe(store, ALICE, "Rates", "Banks")
    await subscribe(store, BOB, "Banks")
    await subscribe(store, CAROL, "Rates", mode="digest")
    text = "Банк поднял ставку"
    await save(store, 5, text, match(text, "Rates", "ставку"), match(text, "Banks", "Банк"))

    assert await fan_out(store, load_i18n()) == 2
    (alice,) = await rows(store, ALICE)
    assert alice.dedup_key.startswith(f"alert:{ALICE}:")
    assert "Rates, Banks" in alice.text
    assert "<b>Банк</b>" in alice.text and "<b>ставку</b>" in alice.text
    assert '<a href="https://t.me/news_ch/5">' in alice.text
    (bob,) = await rows(store, BOB)
    assert "🏷 Banks\n" in bob.text and "Rates" not in bob.text
    assert "<b>Банк</b>" in bob.text and "<b>ставку</b>" not in bob.text
    assert await rows(store, CAROL) == []  # digest only
    assert await fan_out(store, load_i18n()) == 0  # nothing owed twice


async def test_history_posts_raise_no_alerts(store: Store) -> None:
    await subscribe(store, ALICE, "Rates")
    text = "старая ставка"
    await save(store, 1, text, match(text, "Rates", "ставка"), history=True)
    assert await fan_out(store, load_i18n()) == 0
    assert await rows(store, ALICE) == []


async def test_an_edit_that_newly_matches_never_alerts_twice(store: Store) -> None:
    await subscribe(store, ALICE, "Rates", "Banks")
    await subscribe(store, BOB, "Banks")
    text = "ставка выросла"
    await save(store, 9, text, match(text, "Rates", "ставка"))
    assert await fan_out(store, load_i18n()) == 1
    edited = "ставка выросла, банк доволен"
    await save(store, 9, edited, match(edited, "Rates", "ставка"), match(edited, "Banks", "банк"))
    assert await fan_out(store, load_i18n()) == 1  # Bob's first alert; Alice already had hers
    assert len(await rows(store, ALICE)) == 1
    assert len(await rows(store, BOB)) == 1


async def test_quiet_subscribers_get_silent_alerts(store: Store) -> None:
    await subscribe(store, ALICE, "Rates")
    await store.subscribers.update(ALICE, quiet=True)
    text = "ставка"
    await save(store, 1, text, match(text, "Rates", "ставка"))
    await fan_out(store, load_i18n())
    (item,) = await store.outbox.heads(10)
    assert item.disable_notification


# Through the fake Bot API.


async def test_alert_is_delivered_once_with_bold_terms_and_link(
    store: Store, api: FakeBotAPI, bot: Bot
) -> None:
    await subscribe(store, ALICE, "Rates", "Banks")
    text = "Банк поднял <ставку> & всё"
    await save(store, 5, text, match(text, "Rates", "ставку"), match(text, "Banks", "Банк"))
    delivery = fast(bot, store)
    async with running(delivery):
        delivery.wake()
        (message,) = await api.wait_for_messages(1)
        await drained(store)
    assert message.chat_id == ALICE
    assert message.parse_mode == "HTML"
    assert "<b>Банк</b>" in message.text and "&lt;<b>ставку</b>&gt; &amp;" in message.text
    assert 'href="https://t.me/news_ch/5"' in message.text
    assert len(api.sent) == 1
    (row,) = await rows(store, ALICE)
    assert row.status == "sent" and row.message_id is not None


async def queue_notes(store: Store, chats: list[int], per_chat: int = 1) -> None:
    """Plain outbox rows, oldest first: `n{i}:{chat}` to each chat in turn."""
    messages = [
        NewMessage(chat_id=chat, kind="notice", dedup_key=f"n{i}:{chat}", text=f"n{i}:{chat}")
        for i in range(per_chat)
        for chat in chats
    ]
    await store.outbox.enqueue(messages)


def texts(api: FakeBotAPI, chat_id: int | None = None) -> list[str]:
    return [m.text for m in api.sent if chat_id is None or m.chat_id == chat_id]


async def test_retry_after_is_honoured_then_the_message_is_delivered_once(
    store: Store, api: FakeBotAPI, bot: Bot
) -> None:
    await queue_notes(store, [ALICE])
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    started = asyncio.get_running_loop().time()
    async with running(fast(bot, store)):
        await api.wait_for_messages(1)
        await drained(store)
    assert texts(api) == ["n0:101"]
    assert api.sent[0].at - started >= 1.0  # not before Telegram said it may
    (row,) = await rows(store, ALICE)
    assert row.status == "sent"


async def test_a_chat_that_blocked_the_bot_is_deactivated_and_others_still_get_theirs(
    store: Store, api: FakeBotAPI, bot: Bot
) -> None:
    await subscribe(store, ALICE, "Rates")
    await subscribe(store, BOB, "Rates")
    api.block(ALICE)
    text = "ставка"
    await save(store, 1, text, match(text, "Rates", "ставка"))
    await save(store, 2, text, match(text, "Rates", "ставка"))
    async with running(fast(bot, store)):
        await api.wait_for_messages(2)
        await drained(store)
    assert {m.chat_id for m in api.sent} == {BOB}
    alice = await store.subscribers.get(ALICE)
    assert alice is not None and not alice.active
    assert [row.status for row in await rows(store, ALICE)] == ["failed", "failed"]
    assert all("blocked" in (row.last_error or "") for row in await rows(store, ALICE))


async def test_server_errors_are_retried_with_backoff_and_delivered_once(
    store: Store, api: FakeBotAPI, bot: Bot
) -> None:
    await queue_notes(store, [ALICE, BOB])
    api.fail_next("sendMessage", 502, "Bad Gateway", times=3)
    async with running(fast(bot, store)):
        await api.wait_for_messages(2)
        await drained(store)
    assert sorted(texts(api)) == ["n0:101", "n0:102"]
    assert all(row.status == "sent" for row in await rows(store, ALICE) + await rows(store, BOB))


async def test_bad_request_fails_that_message_logs_it_and_others_continue(
    store: Store, api: FakeBotAPI, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    await queue_notes(store, [ALICE, BOB])
    api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with caplog.at_level(logging.WARNING, logger="bot.sender"):
        async with running(fast(bot, store)):
            await api.wait_for_messages(1)
            await drained(store)
    (failed,) = [
        r for r in await rows(store, ALICE) + await rows(store, BOB) if r.status != "sent"
    ]
    assert failed.status == "failed" and failed.last_error == "Bad Request: chat not found"
    assert len(api.sent) == 1 and api.sent[0].chat_id != failed.chat_id
    (record,) = [r for r in caplog.records if "chat not found" in r.getMessage()]
    assert str(failed.id) in record.getMessage() and str(failed.chat_id) in record.getMessage()
    assert record.levelno == logging.WARNING


async def test_restart_mid_queue_sends_the_rest_and_nothing_twice(
    database: Location, store: Store, api: FakeBotAPI
) -> None:
    chats = [ALICE, BOB, CAROL]
    await queue_notes(store, chats, per_chat=4)
    first = make_bot(api)
    async with running(fast(first, store, per_chat_interval=0.3)):
        await api.wait_for_messages(4)
    await first.session.close()
    stopped_at = len(api.sent)
    assert stopped_at < 12
    # What was sent before the stop is recorded as sent: the in-flight sends finished.
    sent_rows = [r for chat in chats for r in await rows(store, chat) if r.status == "sent"]
    assert len(sent_rows) == stopped_at

    reopened = await Store.open(database)
    second = make_bot(api)
    try:
        async with running(fast(second, reopened)):
            await api.wait_for_messages(12)
            await drained(reopened)
    finally:
        await second.session.close()
        await reopened.close()
    assert sorted(texts(api)) == sorted(f"n{i}:{chat}" for i in range(4) for chat in chats)
    for chat in chats:  # and each chat's messages in the order they were queued
        assert texts(api, chat) == [f"n{i}:{chat}" for i in range(4)]


async def test_operator_notices_go_to_every_admin_once_per_key(
    store: Store, api: FakeBotAPI, bot: Bot
) -> None:
    delivery = Delivery(bot, store, admins=(ALICE, BOB, ALICE), per_chat_interval=0.01)
    await delivery.notify_operators(lambda: "<b>source down</b>", key="down:news_ch")
    await delivery.notify_operators(lambda: "<b>source down</b>", key="down:news_ch")
    async with running(delivery):
        await api.wait_for_messages(2)
        await drained(store)
    assert sorted(m.chat_id for m in api.sent) == [ALICE, BOB]
    assert {m.text for m in api.sent} == {"<b>source down</b>"}


async def test_a_burst_stays_within_telegram_limits(store: Store) -> None:
    """40 chats with one alert each and one chat with four: default limits, no 429."""
    api = fake_api(enforce_limits=True)
    await api.start()
    bot = make_bot(api)
    busy = 500
    try:
        await queue_notes(store, [busy], per_chat=4)
        await queue_notes(store, list(range(1000, 1040)))
        async with running(Delivery(bot, store, admins=())):
            await api.wait_for_messages(44)
            await drained(store)
    finally:
        await bot.session.close()
        await api.stop()
    assert len(api.sent) == 44
    every_row = [r for chat in [busy, *range(1000, 1040)] for r in await rows(store, chat)]
    assert all(r.status == "sent" and r.attempts == 1 for r in every_row)
    times = [m.at for m in api.sent if m.chat_id == busy]
    assert all(later - earlier >= 1.0 for earlier, later in pairwise(times))
    every = sorted(m.at for m in api.sent)
    assert all(every[i + 30] - every[i] > 1.0 for i in range(len(every) - 30))
    # The busy chat did not hold up the others: they were done before its last message.
    others = [m.at for m in api.sent if m.chat_id != busy]
    assert max(others) < times[-1]


async def test_cancelling_lets_the_send_in_flight_finish_and_be_recorded(store: Store) -> None:
    """A Bot API that answers slowly: stop the delivery while a request is in flight."""
    received = asyncio.Event()

    async def slow_send(request: web.Request) -> web.Response:
        data = await request.post()
        received.set()
        await asyncio.sleep(0.3)
        chat = {"id": int(str(data["chat_id"])), "type": "private"}
        result = {"message_id": 77, "date": 0, "chat": chat, "text": str(data["text"])}
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", slow_send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    bot = Bot(
        "42:TEST",
        session=AiohttpSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")),
    )
    try:
        await queue_notes(store, [ALICE], per_chat=3)
        task = asyncio.create_task(fast(bot, store).run())
        await received.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await bot.session.close()
        await runner.cleanup()
    first, *rest = await rows(store, ALICE)
    assert first.status == "sent" and first.message_id == 77
    assert [row.status for row in rest] == ["pending", "pending"]
