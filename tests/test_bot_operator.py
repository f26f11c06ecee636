"""Operator commands and the error handler, through the real dispatcher and a real store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from storage import TopicSpec
from tests.bot_helpers import ALICE, OPERATOR, WAIT_LIMIT, conversation, store_post


async def test_addchannel_link_form_then_channels_lists_it(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        answer = await c.ask("/addchannel https://t.me/Pul_1", chat_id=OPERATOR)
        assert "Now watching @pul_1 (telegram)" in answer
        assert "history without alerts" in answer
        assert c.controls.channels == 1
        assert await c.store.channels.handles("telegram") == ["pul_1"]
        await c.ask("/addchannel @news_ch web", chat_id=OPERATOR)
        await store_post(c.store, "news_ch", 41, "Первый пост")
        await c.store.channels.record_error("news_ch", "t.me answered 404")
        listing = await c.ask("/channels", chat_id=OPERATOR)
        assert "@pul_1" in listing and "source: telegram" in listing
        assert "posts stored: 1" in listing and "last post seen: 41" in listing
        assert "t.me answered 404" in listing
        stats = await c.ask("/stats", chat_id=OPERATOR)
        assert "Posts stored: 1" in stats and "Channels with errors: 1" in stats
        assert "already watched" in await c.ask("/addchannel pul_1", chat_id=OPERATOR)
        assert c.controls.channels == 2


async def test_bad_channel_names_are_explained(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        assert "private invite link" in await c.ask("/addchannel t.me/+AbCd", chat_id=OPERATOR)
        assert "Which channel?" in await c.ask("/addchannel", chat_id=OPERATOR)
        assert "is not watched" in await c.ask("/removechannel @nobody_here", chat_id=OPERATOR)
        assert c.controls.channels == 0


async def test_removechannel(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await c.ask("/addchannel @pul_1", chat_id=OPERATOR)
        assert "Stopped watching @pul_1" in await c.ask("/removechannel pul_1", chat_id=OPERATOR)
        assert await c.store.channels.handles("telegram") == []
        assert c.controls.channels == 2


async def test_addtopic_appears_in_topics_and_recompiles(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        answer = await c.ask(
            "/addtopic Выборы: выборы, избирком | exclude: школьный", chat_id=OPERATOR
        )
        assert "Topic <b>Выборы</b> added with 3 terms" in answer
        assert c.controls.topics == 1
        topic = await c.store.topics.get("выборы")
        assert topic is not None
        assert (topic.terms, topic.exclude) == (("выборы", "избирком"), ("школьный",))
        (listing,) = await c.say("/topics", chat_id=ALICE)
        assert [label for label, _ in listing.buttons()] == ["➕ Выборы"]
        assert "Topic <b>Выборы</b> updated" in await c.ask(
            "/addtopic выборы: выборы", chat_id=OPERATOR
        )
        assert "removed" in await c.ask("/removetopic ВЫБОРЫ", chat_id=OPERATOR)
        assert c.controls.topics == 3
        assert await c.store.topics.live() == []


async def test_malformed_addtopic_gets_usage(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        usage = await c.ask("/addtopic just words", chat_id=OPERATOR)
        assert "/addtopic NAME: term, term" in usage
        bad_regex = await c.ask("/addtopic Плохо: re:(", chat_id=OPERATOR)
        assert "not a valid regular expression" in bad_regex
        assert c.controls.topics == 0
        assert await c.store.topics.live() == []


async def test_non_operator_is_refused(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        for command in ("/addchannel @pul_1", "/addtopic X: y", "/stats", "/channels"):
            assert "only the bot's operators" in await c.ask(command, chat_id=ALICE)
        assert await c.store.channels.watched() == []
        assert c.controls.channels == 0


async def test_operator_help_lists_operator_commands(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await c.store.topics.put(TopicSpec("Погода", ("мороз",)))
        assert "/addtopic" in await c.ask("/help", chat_id=OPERATOR)
        user_help = await c.ask("/help", chat_id=ALICE)
        assert "/addtopic" not in user_help and "<b>Погода</b>: мороз" in user_help


async def test_unexpected_error_is_answered_politely_and_reported(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        c.controls.fail_with = RuntimeError("matcher exploded")
        answer = await c.ask("/addtopic Погода: мороз", chat_id=OPERATOR)
        assert "something went wrong" in answer and "operators have been told" in answer
        assert "matcher exploded" not in answer and "Traceback" not in answer
        # The notice reaches the operators through the real delivery service.
        delivery = asyncio.create_task(c.delivery.run())
        try:
            sent = await c.api.wait_for_messages(2, chat_id=OPERATOR, timeout=WAIT_LIMIT)
            (notice,) = sent[1:]
        finally:
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)
        assert "RuntimeError: matcher exploded" in notice.text


async def test_closed_database_gives_a_polite_answer(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await c.store.close()
        answer = await c.ask("/topics", chat_id=ALICE)
        assert "something went wrong" in answer


async def test_register_commands_sets_public_and_operator_menus(tmp_path: Path) -> None:
    from bot.dispatcher import register_commands

    async with conversation(tmp_path) as c:
        await register_commands(c.bot, c.delivery.i18n, admins=[OPERATOR])
        menus = {
            json.loads(scope).get("chat_id", "everyone"): [entry["command"] for entry in menu]
            for scope, menu in c.api.commands.items()
        }
        assert set(menus) == {"everyone", OPERATOR}
        assert "subscribe" in menus["everyone"] and "addtopic" not in menus["everyone"]
        assert {"subscribe", "addtopic", "stats"} <= set(menus[OPERATOR])


async def test_stats_lists_the_live_processes_and_which_bot_is_active(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        processes = c.store.processes
        monitor = await processes.register("monitor", "m1.example", 101, capacity=100)
        await processes.heartbeat(monitor, channels=21)
        first = await processes.register("bot", "b1.example", 201)
        second = await processes.register("bot", "b2.example", 202)
        await processes.set_office(first, "bot")
        # The standby took over: the first, cut off, could not say it lost the office.
        await processes.set_office(second, "bot")
        stats = await c.ask("/stats", chat_id=OPERATOR)
        assert "Processes" in stats
        assert "on m1.example, pid 101: 21 channels, heartbeat" in stats
        assert "on b1.example, pid 201: standby bot, 0 channels" in stats
        assert "on b2.example, pid 202: active bot, 0 channels" in stats
        await c.ask("/language ru", chat_id=OPERATOR)
        russian = await c.ask("/stats", chat_id=OPERATOR)
        assert "Процессы" in russian
        assert "на m1.example, pid 101: 21 канал, отклик" in russian
        assert "на b2.example, pid 202: активный бот, 0 каналов" in russian
