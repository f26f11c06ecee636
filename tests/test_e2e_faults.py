"""Faults end to end: `chanwatch run` as a subprocess while its Bot API and t.me misbehave.

Each test drives the process only from outside (users talk through the fake Bot API, posts
appear on the fake t.me server, the process is signalled or killed) and checks what a user
would see: every owed alert arrives once, the flood limits hold, a chat that blocked the bot
is left alone, a failing channel is reported while the others go on.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final

from tests.e2e_harness import (
    OPERATOR,
    TOKEN,
    Chanwatch,
    running,
    subscribe,
    write_config,
)
from tests.fakes.bot_api import ApiCall, FakeBotAPI, SentMessage
from tests.fakes.tme_server import TmeServer

HANDLE: Final = "pul_1"
ALERT_WAIT: Final = 20.0
GRACE: Final = 1.5
"""Time for a wrong extra message to show up before counting."""
STAMP_SLACK: Final = 0.01
"""The fake stamps a message a moment after its limit check let it through."""
_LINK: Final = re.compile(r"https://t\.me/(\w+)/(\d+)")

Post = tuple[str, int]
"""(channel handle, post id): what an alert is about."""


def post_of(message: SentMessage) -> Post | None:
    """The post an alert links (None: not an alert)."""
    if not message.text.startswith("📢"):
        return None
    found = _LINK.findall(message.text)
    if not found:
        return None
    handle, post_id = found[-1]
    return handle, int(post_id)


def alerted(api: FakeBotAPI, chat_id: int) -> list[Post]:
    """The posts alerted to a chat, in the order Telegram accepted the alerts."""
    return [post for m in api.messages_to(chat_id) if (post := post_of(m)) is not None]


def sends_to(api: FakeBotAPI, chat_id: int) -> list[ApiCall]:
    """Every sendMessage call to a chat, accepted or refused."""
    return [c for c in api.calls_of("sendMessage") if c.params.get("chat_id") == str(chat_id)]


async def wait_owed(api: FakeBotAPI, owed: dict[int, set[Post]], what: str) -> None:
    """Wait until every chat has been alerted about every post owed to it."""
    await api.wait_until(
        lambda: all(posts <= set(alerted(api, chat)) for chat, posts in owed.items()),
        what,
        timeout=ALERT_WAIT,
    )


async def ask_operator(api: FakeBotAPI, text: str, answer_starts: str) -> str:
    """The bot's answer to an operator command, skipping notices queued to the operator."""
    before = len(api.messages_to(OPERATOR))
    await api.user_sends(OPERATOR, text)

    def answers() -> list[str]:
        return [
            m.text for m in api.messages_to(OPERATOR)[before:] if m.text.startswith(answer_starts)
        ]

    await api.wait_until(lambda: bool(answers()), f"answered {text}", timeout=15)
    return answers()[0]


def check_log(app: Chanwatch) -> None:
    text = app.log_text()
    assert "Traceback" not in text, text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


_DELEGATIONS: Final = itertools.count(1)


def matching_posts(tme: TmeServer, handle: str, count: int) -> list[Post]:
    """New matching posts, each about another delegation: another event, never a copy of an
    earlier one (a copy would edit that alert instead, see README "Stories")."""
    return [
        (handle, tme.add_post(handle, f"Делегация №{next(_DELEGATIONS)} готовит визит в столицу"))
        for _ in range(count)
    ]


# ---------------------------------------------------------------------------------------------
# 1. kill -9 in the middle of a burst


async def test_kill_9_during_a_burst_then_restart_delivers_every_owed_alert_once(
    tmp_path: Path,
) -> None:
    readers = (5, 6, 7)
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_post(HANDLE, "Старый пост про визит")
        app = Chanwatch(write_config(tmp_path, api, tme), api, tmp_path / "stderr.log")
        await app.start()
        try:
            await tme.wait_served([HANDLE])
            for reader in readers:
                await subscribe(api, reader)
            # Enforced from here: the subscribe answers above came faster than 30/s.
            api.enforce_limits = True
            # A burst: many matching posts (and some that do not match) appear at once.
            posts = matching_posts(tme, HANDLE, 6)
            tme.add_post(HANDLE, "Прогноз погоды на выходные")
            tme.add_post(HANDLE, "Курс валют не изменился")
            owed = {reader: set(posts) for reader in readers}
            # Each chat gets an alert a second: after four, most of the burst is still owed.
            await api.wait_until(
                lambda: sum(len(alerted(api, r)) for r in readers) >= 4,
                "sent the first alerts of the burst",
                timeout=ALERT_WAIT,
            )
            await app.kill()
            # A request the dead process had sent may still be finishing in the fake.
            await asyncio.sleep(0.3)
            before = {reader: alerted(api, reader) for reader in readers}
            await app.start()
            await wait_owed(api, owed, "delivered the rest of the burst after the restart")
            await asyncio.sleep(GRACE)
        finally:
            if app.process is not None:
                await app.stop()

    assert app.exit_codes[0] == -9 and app.exit_codes[1:] == [0], app.exit_codes
    for reader in readers:
        got = alerted(api, reader)
        repeated = resent_of(before[reader], got[len(before[reader]) :])
        assert set(got) == owed[reader], (reader, got)
        assert len(got) == len(owed[reader]) + len(repeated), (reader, got)
    assert sum(len(b) for b in before.values()) < len(readers) * len(posts), before
    assert api.limit_violations == 0
    check_log(app)


def resent_of(before: Sequence[Post], after: Sequence[Post]) -> list[Post]:
    """Posts sent again after the restart: allowed only for the last one sent before the kill,
    and only as the first message after it."""
    repeated = [post for post in after if post in before]
    if repeated:
        assert repeated == [before[-1]] and after[0] == before[-1], (before, after)
    return repeated


# ---------------------------------------------------------------------------------------------
# 2. 429s, then 5xx, then recovery


async def test_flood_waits_then_server_errors_then_recovery_lose_nothing_and_keep_limits(
    tmp_path: Path,
) -> None:
    readers = tuple(range(100, 140))  # more chats than 30/s, so the global cap matters
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_post(HANDLE, "Старый пост про визит")
        async with running(write_config(tmp_path, api, tme), api) as app:
            await tme.wait_served([HANDLE])
            for reader in readers:
                await subscribe(api, reader)
            api.enforce_limits = True
            first_alert = len(api.sent)
            # Telegram refuses with flood waits for a while, then fails, then recovers.
            api.fail_next("sendMessage", 429, times=4, retry_after=2)
            api.fail_next("sendMessage", 502, times=6)
            api.fail_next("sendMessage", 500, times=4)
            posts = matching_posts(tme, HANDLE, 3)
            owed = {reader: set(posts) for reader in readers}
            await wait_owed(api, owed, "delivered every alert after the faults")
            await asyncio.sleep(GRACE)
        assert app.exit_codes == [0]

    statuses = Counter(call.status for call in api.calls_of("sendMessage"))
    assert statuses[429] >= 4 and statuses[502] == 6 and statuses[500] == 4, statuses
    for reader in readers:
        got = alerted(api, reader)
        assert sorted(got) == sorted(posts), (reader, got)  # each exactly once
    # Telegram's limits: the fake counts a send that came back before its retry_after ran
    # out; it refuses more than 30 a second overall and 1 a second to a chat.
    assert api.limit_violations == 0
    alerts = api.sent[first_alert:]
    assert max(per_second(message.at for message in alerts)) <= 30
    for reader in readers:
        times = [m.at for m in api.messages_to(reader) if post_of(m) is not None]
        assert all(b - a >= 1.0 - STAMP_SLACK for a, b in itertools.pairwise(times)), times
    # The injected 429s carry retry_after=2: that chat heard nothing sooner.
    for refused in (c for c in api.calls_of("sendMessage") if c.status == 429):
        chat = refused.params["chat_id"]
        later = [c.at for c in api.calls_of("sendMessage") if c.params.get("chat_id") == chat]
        later = [at for at in later if at > refused.at]
        assert not later or later[0] - refused.at >= 2 - 0.05, (chat, refused.at, later)
    check_log(app)


def per_second(moments: Iterable[float]) -> list[int]:
    """The most sends inside any one-second window starting at each send."""
    ordered = sorted(moments)
    counts = []
    end = 0
    for start, moment in enumerate(ordered):
        while end < len(ordered) and ordered[end] < moment + 1.0 - STAMP_SLACK:
            end += 1
        counts.append(end - start)
    return counts or [0]


# ---------------------------------------------------------------------------------------------
# 3. A subscriber blocks the bot


async def test_a_chat_that_blocked_the_bot_is_marked_inactive_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    blocker, others = 7, (5, 6)
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_post(HANDLE, "Старый пост про визит")
        async with running(write_config(tmp_path, api, tme), api) as app:
            await tme.wait_served([HANDLE])
            for reader in (*others, blocker):
                await subscribe(api, reader)
            stats = await ask_operator(api, "/stats", "<b>Statistics</b>")
            assert "Subscribers: 4 (4 active)" in stats, stats  # the operator too
            api.block(blocker)

            first = matching_posts(tme, HANDLE, 1)
            await wait_owed(api, {chat: set(first) for chat in others}, "alerted the others")
            await api.wait_until(
                lambda: any(c.status == 403 for c in sends_to(api, blocker)),
                f"tried {blocker}",
                timeout=ALERT_WAIT,
            )
            stats = await ask_operator(api, "/stats", "<b>Statistics</b>")
            assert "Subscribers: 4 (3 active)" in stats, stats

            # Later posts are not even tried on the blocked chat.
            second = [
                (HANDLE, tme.add_post(HANDLE, "Министр прибыл с визитом в Сеул")),
                (HANDLE, tme.add_post(HANDLE, "Лидер пригласил Первого посетить страну")),
            ]
            await wait_owed(
                api, {chat: set(first + second) for chat in others}, "alerted the later posts"
            )
            await asyncio.sleep(GRACE)
        assert app.exit_codes == [0]

    for reader in others:
        assert sorted(alerted(api, reader)) == sorted(first + second), alerted(api, reader)
    tries = sends_to(api, blocker)
    # The answer to /subscribe, then the one alert Telegram refused.
    assert [c.status for c in tries] == [200, 403], tries
    assert tries[-1].description == "Forbidden: bot was blocked by the user"
    assert not alerted(api, blocker)
    assert f"chat {blocker} blocked the bot" in app.log_text()
    check_log(app)


# ---------------------------------------------------------------------------------------------
# 4. The web preview fails in three ways for three channels


async def test_failing_previews_are_shown_in_channels_the_healthy_one_goes_on_then_recover(
    tmp_path: Path,
) -> None:
    healthy, garbled, missing, stalled = "okay_news", "garbled_ch", "missing_ch", "stalled_ch"
    failing = (garbled, missing, stalled)
    reader = 5
    async with FakeBotAPI() as api, TmeServer() as tme:
        for handle in (healthy, *failing):
            tme.add_post(handle, "Старый пост про визит")
        config = write_config(
            tmp_path, api, tme, channels=(healthy, *failing), timeout_seconds=0.5
        )
        async with running(config, api) as app:
            await tme.wait_served((healthy, *failing))
            await subscribe(api, reader)
            tme.serve_garbage(garbled, times=None)
            tme.fail(missing, status=404, times=None)
            tme.stall(stalled, 3.0, times=None)

            posts = {handle: matching_posts(tme, handle, 1)[0] for handle in (healthy, *failing)}
            await wait_owed(api, {reader: {posts[healthy]}}, "alerted the healthy channel")
            later = matching_posts(tme, healthy, 1)[0]
            await wait_owed(api, {reader: {later}}, "kept alerting the healthy channel")

            channels = await wait_channels(api, lambda text: errors_in(text) == set(failing))
            blocks = channel_blocks(channels)
            assert "404" in blocks[missing], blocks[missing]
            assert "did not answer within 0.5 s" in blocks[stalled], blocks[stalled]
            assert "⚠️ last error" in blocks[garbled], blocks[garbled]
            assert "⚠️" not in blocks[healthy], blocks[healthy]
            assert {handle for handle, _ in alerted(api, reader)} == {healthy}

            tme.clear_faults()
            owed = {reader: set(posts.values()) | {later}}
            await wait_owed(api, owed, "alerted the recovered channels' posts")
            await wait_channels(api, lambda text: not errors_in(text))
            # Notices to one chat leave at most one a second: wait for all three.
            await api.wait_until(
                lambda: (
                    len([m for m in api.messages_to(OPERATOR) if "works again" in m.text])
                    >= len(failing)
                ),
                "told the operator that every channel works again",
                timeout=ALERT_WAIT,
            )
            await asyncio.sleep(GRACE)
        assert app.exit_codes == [0]

    got = alerted(api, reader)
    assert sorted(got) == sorted(owed[reader]), got
    assert not [post for post in got if post[1] == 1]  # history never alerts
    # One notice per outage and one when it ends, however many polls failed in between.
    notices = [m.text for m in api.messages_to(OPERATOR) if "fails:" in m.text]
    assert sorted(h for h in failing for n in notices if h in n) == sorted(failing), notices
    recovered = [m.text for m in api.messages_to(OPERATOR) if "works again" in m.text]
    assert sorted(h for h in failing for n in recovered if h in n) == sorted(failing), recovered
    check_log(app)


async def wait_channels(api: FakeBotAPI, ready: Callable[[str], bool]) -> str:
    """Ask /channels until its answer satisfies `ready` (sources report on their own pace)."""
    async with asyncio.timeout(ALERT_WAIT):
        while True:
            text = await ask_operator(api, "/channels", "<b>Watched channels")
            if ready(text):
                return text
            await asyncio.sleep(0.3)


def channel_blocks(text: str) -> dict[str, str]:
    """/channels answer split by channel: handle -> its block."""
    parts = re.split(r"<b>@(\w+)</b>", text)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def errors_in(text: str) -> set[str]:
    return {handle for handle, block in channel_blocks(text).items() if "⚠️" in block}
