"""Alert latency: from a post appearing at the source to its alert reaching the Bot API.

    .venv/bin/python bench/bench_latency.py [--posts N] [--poll S] [--data DIR]

Starts `chanwatch run` as a subprocess (as the end-to-end tests do) against the fake Bot API
and the fake t.me server on 127.0.0.1, with one web channel, the topic "visit" and a temp
database; one chat subscribes. Then N matching posts (real corpus posts that mention
"визит", or a fixed sentence when the corpus is absent) are published one at a time. For
each post, latency = when the fake Bot API accepted the sendMessage of its alert − when the
t.me server first answered a page showing the post. Waiting for the next poll is therefore
excluded; fetching and parsing that page, matching, storing, fan-out, the outbox and the
send are included. The next post is published only once its chat may receive again
(1 message/s per chat), so Telegram's pacing is not counted either. Baseline in the same
run: the bench itself fetches the page and sends a message at once (two local HTTP round
trips, no chanwatch). Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.markdown import markdown_to_plain  # noqa: E402
from monitor.stories import StoryIndex  # noqa: E402
from tests.e2e_harness import TOKEN, running, subscribe, write_config  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.tme_server import TmeServer  # noqa: E402

DEFAULT_DATA: Final = ROOT.parent / "shared" / "data" / "telegram-news"
CHANNEL: Final = "pul_1"
CHAT: Final = 5
TOPICS: Final = '[[topics]]\nname = "visit"\nterms = ["визит", "посетить"]\n'
# Inflections of the lemma "визит" only: "визитка", "визитёр" are other words.
_VISIT: Final = re.compile(r"\bвизит(?:а|у|ом|е|ы|ов|ам|ами|ах)?\b", re.IGNORECASE)
FALLBACK_TEXT: Final = "Лидер КНДР пригласил Первого посетить его страну ({n})"
PER_CHAT_GAP: Final = 1.1
"""Seconds after an alert before the next post, so the 1 msg/s per-chat pacing never waits."""
ALERT_TIMEOUT: Final = 30.0


def load_texts(data: Path, wanted: int) -> tuple[list[str], str]:
    """`wanted` post texts that match the topic, and where they came from."""
    texts: list[str] = []
    # Copies of a post already published edit its alert instead of alerting (README,
    # "Stories"): only posts that start a story of their own are published here, judged by
    # the same detector over the posts in the order they will appear.
    stories = StoryIndex()
    start = datetime.now(UTC)
    for file in sorted(data.glob("*.json")):
        for n, item in enumerate(json.loads(file.read_text(encoding="utf-8"))):
            text = markdown_to_plain(item.get("text") or "")
            if _VISIT.search(text) and len(text) <= 3000:
                key = (file.name, n)
                if stories.assign(*key, start + timedelta(seconds=len(texts)), text) == key:
                    texts.append(text)
    if not texts:
        print(f"no corpus in {data}: using a fixed sentence (pass --data DIR for real posts)")
        return [FALLBACK_TEXT.format(n=n) for n in range(wanted)], "a fixed sentence"
    # A repeat carries a number its first showing lacked: another post, not a copy of it.
    return [
        texts[n % len(texts)] + (f"\n\n№{n}" if n >= len(texts) else "") for n in range(wanted)
    ], f"cycling {len(texts)} real posts that are no copies of each other"


async def measure(texts: list[str], poll_seconds: float) -> list[float]:
    """Latency in seconds of each post's alert, in publishing order."""
    latencies: list[float] = []
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel(CHANNEL, "Пул Первого")
        tme.add_post(CHANNEL, "Старый пост до начала замера")
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), api, tme, topics=TOPICS, poll_seconds=poll_seconds)
            async with running(config, api) as app:
                await subscribe(api, CHAT)
                for n, text in enumerate(texts, start=1):
                    before = len(api.messages_to(CHAT))
                    post_id = tme.add_post(CHANNEL, text)
                    try:
                        messages = await api.wait_for_messages(
                            before + 1, chat_id=CHAT, timeout=ALERT_TIMEOUT
                        )
                    except TimeoutError as error:
                        raise SystemExit(f"{error}; log:\n{app.log_text()[-3000:]}") from None
                    alert = messages[before]
                    if f"t.me/{CHANNEL}/{post_id}" not in alert.text:
                        raise SystemExit(f"post {post_id}: unexpected message {alert.text!r}")
                    shown = tme.first_served(CHANNEL, post_id)
                    assert shown is not None  # the alert came from a served page
                    latencies.append(alert.at - shown)
                    if n % 10 == 0:
                        print(f"  {n}/{len(texts)} posts", file=sys.stderr)
                    await asyncio.sleep(max(0.0, alert.at + PER_CHAT_GAP - time.monotonic()))
            alerts = [m for m in api.messages_to(CHAT) if f"t.me/{CHANNEL}/" in m.text]
            if len(alerts) != len(texts):
                print(f"warning: {len(alerts)} alerts for {len(texts)} posts")
    return latencies


async def floor(count: int) -> list[float]:
    """The same interval with no chanwatch in it: fetch the page, then send at once."""
    latencies: list[float] = []
    async with (
        FakeBotAPI(TOKEN) as api,
        TmeServer() as tme,
        aiohttp.ClientSession() as http,
    ):
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            for n in range(count):
                post_id = tme.add_post(CHANNEL, FALLBACK_TEXT.format(n=n))
                async with http.get(f"{tme.base_url}/s/{CHANNEL}") as response:
                    page = await response.text()
                link = f"https://t.me/{CHANNEL}/{post_id}"
                if link not in page:
                    raise SystemExit(f"baseline: post {post_id} is not on the page")
                sent = await bot.send_message(CHAT, link)
                shown = tme.first_served(CHANNEL, post_id)
                assert shown is not None
                latencies.append(api.message(CHAT, sent.message_id).at - shown)
        finally:
            await bot.session.close()
    return latencies


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: with 100 values p99 is the second largest."""
    ordered = sorted(values)
    rank = math.ceil(share * len(ordered) - 1e-9)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def summary(seconds: list[float]) -> str:
    ms = [1000 * value for value in seconds]
    return (
        f"p50 {percentile(ms, 0.50):.0f} ms   p99 {percentile(ms, 0.99):.0f} ms   "
        f"max {max(ms):.0f} ms   mean {statistics.fmean(ms):.0f} ms   min {min(ms):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=100, help="matching posts (default 100)")
    parser.add_argument(
        "--poll", type=float, default=0.5, help="web.poll_seconds of the run (default 0.5)"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.posts < 1:
        parser.error("--posts must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    texts, origin = load_texts(args.data, args.posts)
    started = time.perf_counter()
    latencies = asyncio.run(measure(texts, args.poll))
    elapsed = time.perf_counter() - started
    baseline = asyncio.run(floor(len(texts)))
    print(
        f"posts: {len(latencies)} matching ({origin}), published one at a time; "
        f"poll interval {args.poll:g} s (excluded); run took {elapsed:.0f} s"
    )
    print("latency, page served by t.me -> sendMessage accepted by the Bot API:")
    print(f"  chanwatch run (parse, match, store, fan-out, outbox, send): {summary(latencies)}")
    print(f"  baseline (GET the page, then sendMessage at once):        {summary(baseline)}")


if __name__ == "__main__":
    main()
