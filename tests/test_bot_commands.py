"""User commands: parsing tested directly, then the conversation through the real dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import CommandError
from bot.parsing import (
    DigestRequest,
    TrendRequest,
    find_topics,
    parse_channel,
    parse_count,
    parse_digest,
    parse_language,
    parse_mode,
    parse_search,
    parse_timezone,
    parse_topic,
    parse_trend,
    split_terms,
)
from monitor.errors import SourceError, TermError
from monitor.matching import validate_term
from storage import Location, Store, TopicSpec
from storage.models import Topic
from tests.bot_helpers import ALICE, BOT_USERNAME, conversation, store_post


def test_count_defaults_and_bounds() -> None:
    assert parse_count(None) == 10
    assert parse_count(" 50 ") == 50
    for bad in ("0", "51", "-3", "ten", "1 2"):
        with pytest.raises(CommandError, match="from 1 to 50"):
            parse_count(bad)


def test_search_query_is_collapsed_and_bounded() -> None:
    assert parse_search("  выборы \n в   думу ") == "выборы в думу"
    with pytest.raises(CommandError, match="/search выборы"):
        parse_search("   ")
    with pytest.raises(CommandError, match="10000 characters long"):
        parse_search("а" * 10_000)


def test_digest_forms() -> None:
    assert parse_digest(None) is None
    assert parse_digest("off") == DigestRequest(time=None)
    assert parse_digest("8:05") == DigestRequest(time="08:05", period=None)
    assert parse_digest("08:30 Weekly") == DigestRequest(time="08:30", period="weekly")
    for bad in ("25:00", "8:75", "noon", "08:30 monthly", "08:30 daily extra"):
        with pytest.raises(CommandError, match="/digest"):
            parse_digest(bad)


def test_mode_and_timezone() -> None:
    assert parse_mode("Digest") == "digest"
    assert parse_mode("") is None
    with pytest.raises(CommandError, match="instant"):
        parse_mode("loud")
    assert parse_timezone("Europe/Moscow") == "Europe/Moscow"
    for bad in ("Mars/Olympus", "../../etc/passwd", "Europe/Moscow extra"):
        with pytest.raises(CommandError, match="Europe/Moscow"):
            parse_timezone(bad)


def test_channel_argument_forms() -> None:
    assert parse_channel("https://t.me/Pul_1") == ("pul_1", "telegram")
    assert parse_channel("@pul_1 web") == ("pul_1", "web")
    with pytest.raises(CommandError, match="/addchannel"):
        parse_channel("@pul_1 rss")
    with pytest.raises(SourceError, match="private invite"):
        parse_channel("https://t.me/+abcdef")


def test_split_terms_keeps_regex_commas() -> None:
    assert split_terms("выборы, re:\\d{1,3} голос, re:(a,b)\n=ЦИК") == [
        "выборы",
        r"re:\d{1,3} голос",
        "re:(a,b)",
        "=ЦИК",
    ]
    assert split_terms("a,\nb") == ["a", "b"]


def test_topic_definition_with_sections() -> None:
    spec = parse_topic(
        "Выборы: выборы, избирком, выборы | require: россия | exclude: школьный, re:a|b",
        validate_term,
    )
    assert spec.name == "Выборы"
    assert spec.terms == ("выборы", "избирком")
    assert spec.require == ("россия",)
    assert spec.exclude == ("школьный", "re:a|b")


def test_topic_definition_errors() -> None:
    with pytest.raises(CommandError, match="/addtopic NAME: term"):
        parse_topic("no colon here", validate_term)
    with pytest.raises(CommandError, match="at least one term"):
        parse_topic("Пусто:  , ", validate_term)
    with pytest.raises(CommandError, match="name before the colon"):
        parse_topic(": слово", validate_term)
    with pytest.raises(TermError, match="re:\\("):
        parse_topic("Плохо: re:(", validate_term)


def test_find_topics_case_insensitive_and_unknown() -> None:
    topics = [
        Topic(1, "Выборы", ("выборы",), (), (), False),
        Topic(2, "Погода", ("мороз",), (), (), False),
    ]
    assert find_topics(None, topics, "subscribe") == topics
    assert find_topics("выборы, ПОГОДА", topics, "subscribe") == topics
    with pytest.raises(CommandError, match="Topics: Выборы, Погода"):
        find_topics("Спорт", topics, "subscribe")


# The conversation, through the real dispatcher polling a Bot API on 127.0.0.1.


async def _topics(store: Store) -> None:
    await store.topics.put(TopicSpec("Выборы", ("выборы",)))
    await store.topics.put(TopicSpec("Погода", ("мороз", "снег")))


async def test_start_creates_the_subscriber_with_defaults(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        assert "Hello" in await c.ask("/start")
        subscriber = await c.store.subscribers.get(ALICE)
        assert subscriber is not None
        assert (subscriber.timezone, subscriber.digest_time) == ("Europe/Moscow", "09:00")


async def test_topic_buttons_toggle_subscription_and_edit_the_message(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await _topics(c.store)
        (listing,) = await c.say("/topics")
        assert [label for label, _ in listing.buttons()] == ["➕ Выборы", "➕ Погода"]
        answer = await c.press(listing, listing.button("Погода"))
        assert answer.text == "Subscribed to Погода"
        weather = await c.store.topics.get("погода")
        assert weather is not None
        assert await c.store.subscribers.topic_ids(ALICE) == {weather.id}
        listing = c.latest(listing)
        assert listing.edits == 1
        assert "✅ Погода" in [label for label, _ in listing.buttons()]
        assert "Subscribed: 1 of 2" in listing.text
        answer = await c.press(listing, listing.button("Погода"))
        assert answer.text == "Unsubscribed from Погода"
        assert await c.store.subscribers.topic_ids(ALICE) == set()
        assert "➕ Погода" in [label for label, _ in c.latest(listing).buttons()]


async def test_subscribe_by_name_all_and_unknown(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await _topics(c.store)
        assert "Subscribed to <b>Погода</b>" in await c.ask("/subscribe погода")
        assert len(await c.store.subscribers.topic_ids(ALICE)) == 1
        refusal = await c.ask("/subscribe Спорт")
        assert "no topic “Спорт”" in refusal and "Выборы, Погода" in refusal
        await c.ask("/subscribe")
        assert len(await c.store.subscribers.topic_ids(ALICE)) == 2
        assert "Unsubscribed from <b>Выборы</b>" in await c.ask("/unsubscribe ВЫБОРЫ")
        assert "Unsubscribed from 1 topic." in await c.ask("/unsubscribe")
        assert await c.store.subscribers.topic_ids(ALICE) == set()


async def test_recent_lists_matches_newest_first(tmp_path: Path, database: Location) -> None:
    async with conversation(tmp_path, database) as c:
        await _topics(c.store)
        await c.store.channels.add("news_ch", "web")
        assert "not subscribed" in await c.ask("/recent")
        await c.ask("/subscribe Погода")
        assert "Nothing yet" in await c.ask("/recent")
        await store_post(c.store, "news_ch", 1, "Ночью ударит мороз", topic="Погода", word="мороз")
        await store_post(c.store, "news_ch", 2, "Завтра снег и ветер", topic="Погода", word="снег")
        await store_post(c.store, "news_ch", 3, "Итоги выборы", topic="Выборы", word="выборы")
        text = await c.ask("/recent")
        assert "Latest 2 matching posts" in text
        assert text.index("news_ch/2") < text.index("news_ch/1")
        assert "news_ch/3" not in text
        assert "news_ch/1" not in await c.ask("/recent 1")
        assert "from 1 to 50" in await c.ask("/recent 0")


async def test_search_finds_inflected_forms_and_pages(tmp_path: Path, database: Location) -> None:
    async with conversation(tmp_path, database) as c:
        await c.store.channels.add("news_ch", "web")
        for post_id in range(1, 8):
            await store_post(c.store, "news_ch", post_id, f"Сообщение {post_id} о выборах в думу")
        await store_post(c.store, "news_ch", 8, "Про погоду")
        (first,) = await c.say("/search выборы")
        assert "7 posts found, page 1 of 2" in first.text
        assert "news_ch/7" in first.text and "news_ch/3" in first.text
        assert "news_ch/2" not in first.text
        assert [label for label, _ in first.buttons()] == ["▶"]
        await c.press(first, first.button("▶"))
        second = c.latest(first)
        assert "page 2 of 2" in second.text
        assert "news_ch/2" in second.text and "news_ch/1" in second.text
        assert "news_ch/7" not in second.text
        assert [label for label, _ in second.buttons()] == ["◀"]
        await c.press(second, second.button("◀"))
        assert "page 1 of 2" in c.latest(first).text
        assert "Nothing found" in await c.ask("/search метель")


async def test_search_refuses_empty_and_huge_queries(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        assert "/search выборы" in await c.ask("/search")
        answer = await c.ask("/search " + "выборы " * 1430)
        assert "at most 200" in answer


async def test_digest_settings_reschedule(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        answer = await c.ask("/digest 08:30 weekly")
        assert "every Monday at 08:30 (Europe/Moscow)" in answer
        subscriber = await c.store.subscribers.get(ALICE)
        assert subscriber is not None
        assert (subscriber.digest_time, subscriber.digest_period) == ("08:30", "weekly")
        assert subscriber.mode == "both"
        job = c.digests.job(ALICE)
        assert job is not None
        assert (job.next_run_time.hour, job.next_run_time.minute) == (8, 30)
        assert job.next_run_time.weekday() == 0
        assert "Digest off" in await c.ask("/digest off")
        assert c.digests.job(ALICE) is None
        assert "“25:61” is not a time of day" in await c.ask("/digest 25:61")


async def test_mode_timezone_and_quiet(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        assert "Mode: <b>digest</b>" in await c.ask("/mode digest")
        assert c.digests.job(ALICE) is not None
        assert "instant" in await c.ask("/mode loud")
        assert "Asia/Almaty" in await c.ask("/timezone asia/almaty")  # any case
        refusal = await c.ask("/timezone Mars/Base")
        assert "do not know the time zone “Mars/Base”" in refusal
        assert "Europe/Moscow" in refusal
        subscriber = await c.store.subscribers.get(ALICE)
        assert subscriber is not None
        assert (subscriber.mode, subscriber.timezone) == ("digest", "Asia/Almaty")
        assert "Quiet on" in await c.ask("/quiet")
        assert "Quiet off" in await c.ask("/quiet")
        subscriber = await c.store.subscribers.get(ALICE)
        assert subscriber is not None and not subscriber.quiet


async def test_unknown_command_and_plain_text_get_a_hint(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        assert "/help" in await c.ask("/frobnicate")
        assert "/help" in await c.ask("hello there")
        assert "Hello" in await c.ask(f"/start@{BOT_USERNAME}")


async def test_user_text_is_escaped(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        answer = await c.ask("/subscribe <b>x</b>")
        assert "&lt;b&gt;x&lt;/b&gt;" in answer


def test_trend_arguments_name_topics_of_several_words_and_a_period() -> None:
    topics = [
        Topic(1, "Kim Jong Un", ("Ким Чен Ын",), (), (), True),
        Topic(2, "Kim", ("Ким",), (), (), True),
        Topic(3, "visit", ("визит",), (), (), True),
    ]
    request = parse_trend("kim jong un, VISIT kim 90D", topics)
    assert [t.id for t in request.topics] == [1, 3, 2] and request.days == 90
    assert parse_trend(None, topics) == TrendRequest((), 30)
    assert parse_trend("7d", topics).days == 7
    with pytest.raises(CommandError, match="no topic “jong”"):
        parse_trend("jong", topics)
    with pytest.raises(CommandError, match="period once"):
        parse_trend("7d visit 30d", topics)


def test_language_argument() -> None:
    assert parse_language(None) is None
    assert parse_language("RU") == parse_language("русский") == "ru"
    assert parse_language("english") == "en"
    for bad in ("de", "ru en"):
        with pytest.raises(CommandError, match="/language ru"):
            parse_language(bad)
