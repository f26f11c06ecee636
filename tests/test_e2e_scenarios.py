"""`chanwatch run` as a whole, driven only from outside: an operator adds a channel from the
chat, subscribers get alerts, `/recent` and `/search` answer, and a digest fires.

One process serves every step: the digest needs a wall-clock minute to come round, so the
other scenarios run while it does (that keeps this file's runtime near one minute).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from tests.e2e_harness import OPERATOR, TOKEN, ask, running, subscribe, write_config
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.tme_server import TmeServer

READER: Final = 5
"""Subscribes and sets a daily digest (mode becomes `both`)."""
INSTANT: Final = 7
"""Subscribes and keeps instant alerts only: gets alerts, never a digest."""
SETTLE: Final = 10
"""bot.digests.SETTLE: a digest covers matches stored up to this many seconds before it."""
DIGEST_LEAD: Final = 25.0
"""Seconds needed between `/digest` and the digest minute: the alerting steps take a few
seconds, then their matches must be stored more than SETTLE (plus a truncated second)
before the minute."""
ALERT_TIMEOUT: Final = 15.0
GRACE: Final = 1.5
"""Time for a wrong extra message to show up before counting."""

ALERT: Final = "📢"
DIGEST: Final = "🗞"


def link(handle: str, post_id: int) -> str:
    return f"https://t.me/{handle}/{post_id}"


def digest_minute(now: datetime) -> datetime:
    """The first whole minute at least DIGEST_LEAD seconds after `now`."""
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (minute - now).total_seconds() < DIGEST_LEAD:
        minute += timedelta(minutes=1)
    return minute


def starting_with(messages: list[SentMessage], marker: str) -> list[str]:
    return [message.text for message in messages if message.text.startswith(marker)]


async def wait_for_alerts(api: FakeBotAPI, chat_id: int, count: int) -> list[str]:
    await api.wait_until(
        lambda: len(starting_with(api.messages_to(chat_id), ALERT)) >= count,
        f"sent {count} alerts to {chat_id}",
        timeout=ALERT_TIMEOUT,
    )
    return starting_with(api.messages_to(chat_id), ALERT)


async def test_added_channel_alerts_recent_search_answer_and_the_digest_fires_once(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост про визит")  # 1: history, matches
        # pul_2 exists on t.me but not in the config: the operator adds it from the chat.
        tme.add_channel("pul_2", "Второй канал")
        tme.add_post("pul_2", "Архивная заметка: визит делегации в Пхеньян")  # 1: history
        tme.add_post("pul_2", "Прогноз погоды на выходные")  # 2: history, no match
        config = write_config(tmp_path, api, tme)

        async with running(config, api) as app:
            await tme.wait_served(["pul_1"])
            await subscribe(api, READER)
            await subscribe(api, INSTANT)
            assert "Subscribed to <b>visit</b>" in api.messages_to(INSTANT)[-1].text

            # A daily digest (UTC by default) at an upcoming minute; from here every step
            # runs while that minute comes round.
            minute = digest_minute(datetime.now(UTC))
            hhmm = f"{minute:%H:%M}"
            answer = await ask(api, READER, f"/digest {hhmm}")
            assert f"Digest set: every day at {hhmm} (UTC)." in answer, answer
            assert "Per-post alerts stay on too" in answer, answer

            # A new matching post on the configured channel, and one that does not match.
            tme.add_post("pul_1", "Лидер КНДР пригласил Первого посетить его страну")  # 2
            tme.add_post("pul_1", "Ничего интересного про погоду")  # 3
            await wait_for_alerts(api, READER, 1)
            await wait_for_alerts(api, INSTANT, 1)

            # 1. The operator adds the second channel from the chat.
            answer = await ask(api, OPERATOR, "/addchannel https://t.me/pul_2 web")
            assert answer.startswith("Now watching @pul_2 (web)."), answer
            assert "history without alerts" in answer, answer
            await tme.wait_served(["pul_2"])
            tme.add_post("pul_2", "Министр прибыл с визитом в Сеул")  # 3: new, matches
            tme.add_post("pul_2", "Курс валют не изменился")  # 4: new, no match
            reader_alerts = await wait_for_alerts(api, READER, 2)
            await wait_for_alerts(api, INSTANT, 2)
            matches_stored_by = datetime.now(UTC)

            channels = await ask(api, OPERATOR, "/channels")
            assert "<b>Watched channels: 2</b>" in channels, channels
            assert "<b>@pul_1</b>" in channels and "source: web, from config;" in channels
            assert "<b>@pul_2</b>" in channels and "source: web;" in channels, channels

            # 2. /recent lists the chat's matches, newest first, and no non-matching post.
            recent = await ask(api, READER, "/recent")
            assert recent.startswith("<b>Latest "), recent
            assert link("pul_2", 3) in recent and link("pul_1", 2) in recent, recent
            assert recent.index(link("pul_2", 3)) < recent.index(link("pul_1", 2)), recent
            # History is stored and matched (README: "in /recent"), it only never alerts.
            assert link("pul_1", 1) in recent and link("pul_2", 1) in recent, recent
            assert link("pul_2", 2) not in recent, recent

            # /search finds stored posts by other inflected forms of their words.
            found = await ask(api, READER, "/search визиты")
            assert found.startswith("🔎 Search: визиты\n3 posts found, page 1 of 1"), found
            for post in (link("pul_2", 3), link("pul_2", 1), link("pul_1", 1)):
                assert post in found, (post, found)
            found = await ask(api, READER, "/search странами")  # stored: "страну"
            assert found.startswith("🔎 Search: странами\n1 post found"), found
            assert link("pul_1", 2) in found, found
            nothing = await ask(api, READER, "/search жирафами")
            assert nothing == "🔎 Search: жирафами\nNothing found. Try fewer or other words."

            # 3. The digest: the matches must have been stored well before its cut-off.
            cut = minute - timedelta(seconds=SETTLE + 1)
            assert matches_stored_by < cut, (
                f"the alerting steps ended at {matches_stored_by:%H:%M:%S}, after the "
                f"digest's cut-off {cut:%H:%M:%S}: the machine is too slow for DIGEST_LEAD"
            )
            wait = (minute - datetime.now(UTC)).total_seconds() + ALERT_TIMEOUT
            await api.wait_until(
                lambda: bool(starting_with(api.messages_to(READER), DIGEST)),
                f"sent the {hhmm} digest to {READER}",
                timeout=wait,
            )
            await asyncio.sleep(GRACE)
        assert app.exit_codes == [0]

    # Exactly one alert per new matching post per subscriber, with the post's link.
    assert len(reader_alerts) == 2
    for chat_id in (READER, INSTANT):
        alerts = starting_with(api.messages_to(chat_id), ALERT)
        assert len(alerts) == 2, alerts
        assert link("pul_1", 2) in alerts[0] and "<b>посетить</b>" in alerts[0], alerts
        assert link("pul_2", 3) in alerts[1] and "<b>визитом</b>" in alerts[1], alerts
        assert "📢 <b>Второй канал</b>" in alerts[1], alerts

    digests = starting_with(api.messages_to(READER), DIGEST)
    assert len(digests) == 1, digests
    assert "2 new posts" in digests[0], digests
    assert link("pul_1", 2) in digests[0] and link("pul_2", 3) in digests[0], digests
    # History never reaches a digest.
    assert link("pul_1", 1) not in digests[0] and link("pul_2", 1) not in digests[0]
    assert not starting_with(api.messages_to(INSTANT), DIGEST)

    # A non-matching post, and history, never produce a message of their own.
    everything = [m.text for chat in (READER, INSTANT, OPERATOR) for m in api.messages_to(chat)]
    for silent in (link("pul_1", 3), link("pul_2", 2), link("pul_2", 4)):
        assert not [text for text in everything if silent in text], silent

    log = app.log_text()
    assert "post matched channel=pul_2 post_id=3" in log
    assert "Traceback" not in log
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
