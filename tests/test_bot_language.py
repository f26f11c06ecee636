"""The bot speaks each chat's language: chosen by the first user's Telegram app, changed
with /language, kept across restarts, and used for what the bot sends on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import texts
from bot.digests import DigestScheduler
from bot.dispatcher import register_commands
from bot.fanout import fan_out
from storage import TopicSpec
from storage.models import NewMatch, PostRecord
from tests.bot_helpers import ALICE, BOB, GROUP, OPERATOR, conversation, store_post

CAROL = 4004


async def test_a_russian_app_gets_russian_and_an_english_one_english(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        russian = await c.ask("/start", chat_id=ALICE, language_code="ru")
        assert "Я слежу за каналами Telegram" in russian and "English: /language en" in russian
        english = await c.ask("/start", chat_id=BOB, language_code="en")
        assert "I watch Telegram channels" in english
        assert "Русский: /language ru" in english
        # Ukrainian, Belarusian and Kazakh apps read Russian; others English.
        assert "Я слежу" in await c.ask("/start", chat_id=CAROL, language_code="uk")
        assert "I watch" in await c.ask("/help", chat_id=5005, language_code="de")
        # Errors are translated too, placeholders filled.
        assert "99 — вне допустимого диапазона" in await c.ask("/recent 99", chat_id=ALICE)
        assert "99 is out of range" in await c.ask("/recent 99", chat_id=BOB)


async def test_the_first_user_decides_and_later_users_do_not(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        c.api.add_group(GROUP, "Newsroom", admins=[ALICE], members=[BOB])
        await c.ask("/help", chat_id=GROUP, user_id=BOB, language_code="ru")
        answer = await c.ask("/help", chat_id=GROUP, user_id=ALICE, language_code="en")
        assert "<b>За чем я слежу</b>" in answer
        group = await c.store.subscribers.get(GROUP)
        assert group is not None and group.language == "ru"


async def test_language_switches_and_survives_a_restart(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        assert "I speak English here" in await c.ask("/language", language_code="en")
        changed = await c.ask("/language ru")
        assert changed.startswith("Теперь здесь мой язык — русский")
        assert "Не понял число" in await c.ask("/recent ten")

        def chat_menus() -> dict[str, list[str]]:
            return {
                language: [entry["description"] for entry in menu]
                for (scope, language), menu in c.api.commands_by_language.items()
                if json.loads(scope).get("chat_id") == ALICE
            }

        # The chat's own command menu follows, whatever its app's language (set one app
        # language after another once the answer is out).
        await c.api.wait_until(
            lambda: {"", "ru"} <= chat_menus().keys(), "the chat's menus set", timeout=10
        )
        menus = chat_menus()
        assert menus[""][0] == "Начало: что умеет бот" and menus["ru"] == menus[""]
        assert "addchannel" not in json.dumps(menus)  # Alice is no operator
    async with conversation(tmp_path) as c:  # the bot restarted on the same database
        answer = await c.ask("/help", language_code="en")
        assert "<b>Команды</b>" in answer
        assert "English" in await c.ask("/language en")
        assert "<b>Commands</b>" in await c.ask("/help")
        assert "что-то" not in await c.ask("/language xx")


async def test_in_a_group_only_admins_change_the_language(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        c.api.add_group(GROUP, "Newsroom", admins=[ALICE], members=[BOB])
        refusal = await c.ask("/language ru", chat_id=GROUP, user_id=BOB, language_code="en")
        assert "only this group's admins" in refusal
        done = await c.ask("/language ru", chat_id=GROUP, user_id=ALICE)
        assert done.startswith("Теперь здесь мой язык")


async def test_alerts_digests_and_notices_use_the_stored_language(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await c.store.channels.add("news_ch", "web")
        await c.store.topics.put(TopicSpec("Визит", ("визит",)))
        await c.ask("/language ru", chat_id=ALICE)
        await c.ask("/subscribe", chat_id=ALICE)
        await c.ask("/subscribe", chat_id=BOB, language_code="en")
        # A media post without text: the alert's fixed words are in each chat's language,
        # though fan-out runs outside any update (and after an English user's command).
        record = PostRecord(1, datetime.now(UTC), "", "", (NewMatch("Визит", ("визит",), ()),))
        await c.store.posts.save("news_ch", [], history=True)  # first sight: the next is live
        await c.store.posts.save("news_ch", [record], history=False)
        await c.ask("/help", chat_id=BOB)
        await fan_out(c.store, c.delivery.i18n)
        (alice,) = await c.store.outbox.for_chat(ALICE)
        (bob,) = [row for row in await c.store.outbox.for_chat(BOB) if row.kind == "alert"]
        assert "<i>(без текста)</i>" in alice.text and "<i>(no text)</i>" in bob.text
        await c.store.subscribers.update(ALICE, mode="digest", digest_period="weekly")
        await c.store.subscribers.update(BOB, mode="digest")
        since = datetime.now(UTC) - timedelta(days=2)
        for chat in (ALICE, BOB):
            await c.store.subscribers.set_last_digest(chat, since)
        await store_post(c.store, "news_ch", 2, "Визит и ещё визит", topic="Визит", word="Визит")
        digests = DigestScheduler(c.store, c.delivery, settle=0)
        await digests.send_digest(ALICE)
        await digests.send_digest(BOB)
        russian = [r.text for r in await c.store.outbox.for_chat(ALICE) if r.kind == "digest"]
        english = [r.text for r in await c.store.outbox.for_chat(BOB) if r.kind == "digest"]
        assert "Дайджест за неделю" in "".join(russian) and "2 новых поста" in "".join(russian)
        assert "Digest · " in english[0] and "2 new posts" in english[0]
        # Operator notices: each operator in their own language.
        await c.ask("/language ru", chat_id=OPERATOR)
        await c.delivery.notify_operators(
            lambda: texts.source_recovered_notice("pul_1"), key="ok:pul_1"
        )
        (notice,) = [r for r in await c.store.outbox.for_chat(OPERATOR) if r.kind == "notice"]
        assert notice.text == "✅ Канал <b>pul_1</b> снова работает."


async def test_dates_are_shown_in_the_chat_time_zone(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await c.store.channels.add("news_ch", "web")
        await c.store.topics.put(TopicSpec("Визит", ("визит",)))
        await c.ask("/subscribe")
        posted = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
        await store_post(c.store, "news_ch", 5, "визит", topic="Визит", word="визит", date=posted)
        await c.ask("/timezone Asia/Almaty")  # UTC+5
        assert "<b>2026-03-02 03:30</b>" in (await c.say("/recent"))[0].text
        await c.ask("/timezone UTC")
        assert "<b>2026-03-01 22:30</b>" in (await c.say("/recent"))[0].text


async def test_command_menus_are_registered_in_both_languages(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await register_commands(c.bot, c.delivery.i18n, [OPERATOR], {OPERATOR: "ru"})
        default = '{"type": "default"}'
        english = c.api.commands_by_language[(default, "")]
        assert {"command": "start", "description": "Start: what this bot does"} in english
        for code in ("ru", "uk", "be", "kk"):
            menu = c.api.commands_by_language[(default, code)]
            assert menu[0]["description"] == "Начало: что умеет бот"
            assert [e["command"] for e in menu] == [e["command"] for e in english]
        operator = json.dumps({"chat_id": OPERATOR, "type": "chat"}, sort_keys=True)
        full = c.api.commands_by_language[(operator, "")]
        assert full[-1]["command"] == "stats"
        assert full[-1]["description"].startswith("Посты, совпадения, подписчики, очередь")
