"""Delivery throughput: one alert to every subscriber within Telegram's flood limits.

    .venv/bin/python bench/bench_delivery.py [--subscribers N [N ...]] [--baseline N]

For each N (default 1,000 and 10,000): a temp SQLite database gets N private chats
subscribed to one topic through the storage API and one stored post that matches it
(untimed). Then the product's Delivery (fan-out into the outbox, then the outbox sender)
runs against the fake Bot API with Telegram's limits enforced: 30 messages/s overall,
1 message/s per chat, 429 with retry_after beyond them. Timed from Delivery starting to the
fake accepting the last alert. Beside it, a baseline over the first --baseline chats: a
naive sender that fires sendMessage as fast as it can (--naive-concurrency requests at a
time), reacting only to 429s by waiting the retry_after it was given.

10,000 messages at 30/s take about 6 minutes. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.delivery import Delivery  # noqa: E402
from bot.dispatcher import make_bot  # noqa: E402
from storage import Store, TopicSpec  # noqa: E402
from storage.models import NewMatch, PostRecord  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI, SentMessage  # noqa: E402

CAP: Final = 30.0
"""Telegram's overall limit (messages per second) the fake enforces."""
FIRST_CHAT: Final = 10_000_000
CHANNEL: Final = "news_ch"
TOPIC: Final = "Rates"
POST_TEXT: Final = "ЦБ повысил ключевую ставку до 21% годовых"
WORD: Final = "ставку"
TOKEN: Final = "42:BENCHTOKEN"


@dataclass(frozen=True)
class Figures:
    """One sender's run over `chats` chats, one message owed to each."""

    chats: int
    delivered: int
    seconds: float
    first_after: float
    rate_limited: int
    violations: int
    lost: int
    duplicated: int
    peak_per_second: int
    """Most sends accepted within any 1-second window."""

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0


def peak(times: Sequence[float]) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def figures(chats: Sequence[int], api: FakeBotAPI, started: float) -> Figures:
    sent: list[SentMessage] = api.sent
    per_chat = collections.Counter(message.chat_id for message in sent)
    wanted = set(chats)
    times = [message.at for message in sent]
    return Figures(
        chats=len(chats),
        delivered=len(sent),
        seconds=max(times) - started if times else 0.0,
        first_after=min(times) - started if times else 0.0,
        rate_limited=api.rate_limited,
        violations=api.limit_violations,
        lost=sum(1 for chat in wanted if per_chat[chat] == 0),
        duplicated=sum(count - 1 for count in per_chat.values() if count > 1)
        + sum(count for chat, count in per_chat.items() if chat not in wanted),
        peak_per_second=peak(times),
    )


async def prepare(path: Path, chats: Sequence[int]) -> Store:
    """N subscribers of one topic and one matching post waiting for fan-out."""
    store = await Store.open(path)
    await store.channels.add(CHANNEL, "web")
    await store.topics.put(TopicSpec(TOPIC, (WORD,)))
    (topic_id,) = [topic.id for topic in await store.topics.live() if topic.name == TOPIC]
    for chat in chats:
        await store.subscribers.ensure(
            chat, chat_type="private", title=None, digest_time="09:00", timezone="UTC"
        )
        await store.subscribers.subscribe(chat, [topic_id])
    start = POST_TEXT.index(WORD)
    match = NewMatch(TOPIC, (WORD,), ((start, start + len(WORD)),))
    record = PostRecord(1, datetime.now(UTC), POST_TEXT, "", (match,))
    # The channel's first read comes first: a post at or below first sight is history.
    await store.posts.save(CHANNEL, [], history=True)
    await store.posts.save(CHANNEL, [record], history=False)
    return store


async def product(path: Path, chats: Sequence[int]) -> tuple[Figures, int]:
    """Figures of the product's Delivery, and outbox rows left not sent."""
    prepared = time.perf_counter()
    store = await prepare(path, chats)
    print(
        f"  {len(chats):,} subscribers set up in {time.perf_counter() - prepared:.0f} s",
        file=sys.stderr,
    )
    try:
        async with FakeBotAPI(TOKEN, enforce_limits=True) as api:
            bot = make_bot(TOKEN, api.base_url)
            delivery = Delivery(bot, store, admins=())
            started = time.monotonic()  # the fake's clock
            task = asyncio.create_task(delivery.run())
            try:
                await api.wait_for_messages(len(chats), timeout=len(chats) / CAP * 3 + 60)
                async with asyncio.timeout(30):
                    while await store.outbox.pending_count():  # noqa: ASYNC110 - in SQLite
                        await asyncio.sleep(0.05)
            except TimeoutError as error:
                print(f"  gave up waiting: {error}", file=sys.stderr)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await bot.session.close()
            result = figures(chats, api, started)
        stats = await store.outbox.stats()
        return result, stats.queued + stats.failed
    finally:
        await store.close()


async def naive(chats: Sequence[int], concurrency: int) -> Figures:
    """Fire every message as fast as possible; on 429 wait retry_after and try again."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for chat in chats:
        queue.put_nowait(chat)

    async def worker(bot: Bot) -> None:
        while not queue.empty():
            chat = queue.get_nowait()
            while True:
                try:
                    await bot.send_message(chat, POST_TEXT, parse_mode=ParseMode.HTML)
                    break
                except TelegramRetryAfter as error:
                    await asyncio.sleep(error.retry_after)

    async with FakeBotAPI(TOKEN, enforce_limits=True) as api:
        bot = make_bot(TOKEN, api.base_url)
        started = time.monotonic()
        try:
            await asyncio.gather(*(worker(bot) for _ in range(concurrency)))
        finally:
            await bot.session.close()
        return figures(chats, api, started)


def row(name: str, f: Figures) -> str:
    return (
        f"| {name} | {f.chats:,} | {f.delivered:,} | {f.seconds:.1f} s | {f.rate:.1f}/s | "
        f"{f.rate / CAP:.2f} | {f.peak_per_second} | {f.rate_limited} | {f.violations} | "
        f"{f.lost} | {f.duplicated} |"
    )


async def run(sizes: Sequence[int], baseline: int, concurrency: int, folder: Path) -> None:
    lines = [
        "| sender | chats | delivered | wall time | rate | of 30/s | max in 1 s | 429s "
        "| violations | lost | duplicated |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for size in sizes:
        chats = [FIRST_CHAT + n for n in range(size)]
        print(f"chanwatch Delivery, {size:,} subscribers ...", file=sys.stderr)
        result, unsent = await product(folder / f"delivery_{size}.db", chats)
        lines.append(row("chanwatch Delivery", result))
        notes.append(
            f"{size:,} subscribers: first alert {result.first_after:.2f} s after start "
            f"(fan-out into the outbox); outbox rows not sent at the end: {unsent}"
        )
    if baseline > 0:
        chats = [FIRST_CHAT + n for n in range(baseline)]
        print(f"naive sender, {baseline:,} chats ...", file=sys.stderr)
        lines.append(row(f"naive, {concurrency} at a time", await naive(chats, concurrency)))
    print(
        f"One alert per subscriber; fake Bot API enforcing {CAP:g} msg/s overall, 1 msg/s "
        "per chat, 429 + retry_after. Wall time: sender start -> last alert accepted."
    )
    print("\n".join(lines))
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--subscribers",
        type=int,
        nargs="+",
        default=[1_000, 10_000],
        help="fan-out sizes to run (default: 1000 10000)",
    )
    parser.add_argument(
        "--baseline", type=int, default=1_000, help="chats for the naive sender (0: skip)"
    )
    parser.add_argument(
        "--naive-concurrency",
        type=int,
        default=8,
        help="requests the naive sender has in flight (default 8, as chanwatch's sender)",
    )
    args = parser.parse_args()
    if min(args.subscribers) < 1 or args.baseline < 0 or args.naive_concurrency < 1:
        parser.error("sizes and concurrency must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.subscribers, args.baseline, args.naive_concurrency, Path(tmp)))


if __name__ == "__main__":
    main()
