"""/search latency on 100,000 stored posts: p50 and p99, through the bot and in the database.

    .venv/bin/python bench/bench_search.py [--data DIR] [--posts N] [--queries N] [--db FILE]

Stores the real corpus (repeated with fresh ids up to N posts, as bench/bench_storage.py does)
through the ingest pipeline into a new SQLite file, then asks a few hundred searches made
of the corpus's own words: frequent, middling and rare single words, two words from one
post, and words nothing contains. Each is timed twice:

* in the database: `store.posts.search` for the first page (lemmas, FTS, count, rows);
* through the bot: a user sends `/search WORDS` to the real dispatcher polling the fake Bot
  API on 127.0.0.1, until the answer arrives.

Baseline in the same run: `/help` through the same bot, which reads nothing, so the
difference is what searching costs. `--db FILE` keeps (or reuses) the database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_storage import BATCH, ingest, load, size  # noqa: E402

from monitor.matching import query_lemmas  # noqa: E402
from monitor.sources.base import IncomingPost  # noqa: E402
from storage import Store  # noqa: E402
from tests.bot_helpers import ALICE, conversation  # noqa: E402

_WORD: Final = re.compile(r"[а-яё]{4,}", re.IGNORECASE)
KINDS: Final = ("frequent", "middling", "rare", "two words", "absent")


def make_queries(posts: Sequence[IncomingPost], per_kind: int, seed: int = 14) -> list[str]:
    """Searches made of the corpus's words, `per_kind` of each of KINDS (in that order)."""
    rng = random.Random(seed)
    counts = Counter(word.lower() for post in posts for word in _WORD.findall(post.text))
    ranked = [word for word, _ in counts.most_common()]
    tenth = max(1, len(ranked) // 10)
    queries = rng.sample(ranked[:200], per_kind)
    queries += rng.sample(ranked[tenth : 2 * tenth], per_kind)
    queries += rng.sample(ranked[-tenth:], per_kind)
    pairs: list[str] = []
    while len(pairs) < per_kind:
        words = _WORD.findall(rng.choice(posts).text)
        if len(words) >= 2:
            pairs.append(" ".join(rng.sample(words, 2)))
    queries += pairs
    queries += [f"ъъъ{n}несуществует" for n in range(per_kind)]
    return queries


def percentiles(samples: Sequence[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered) * 1000:6.1f} ms, p99 {p99 * 1000:6.1f} ms, "
        f"max {ordered[-1] * 1000:6.1f} ms"
    )


async def timed(action: Callable[[str], Awaitable[object]], text: str) -> float:
    started = time.perf_counter()
    await action(text)
    return time.perf_counter() - started


async def measure(db: Path, size: int, queries: Sequence[str], per_kind: int) -> None:
    store = await Store.open(db)
    try:
        posts = await store.outbox.stats()
        print(f"database: {posts.posts:,} posts, {size / 2**20:.0f} MiB")
        in_db: list[float] = []
        found: list[int] = []
        for query in queries:
            groups = query_lemmas(query)
            started = time.perf_counter()
            _, total = await store.posts.search(groups, limit=5)
            in_db.append(time.perf_counter() - started)
            found.append(total)
    finally:
        await store.close()
    print(f"\n{len(queries)} searches ({per_kind} of each kind), first page of 5:")
    for index, kind in enumerate(KINDS):
        part = slice(index * per_kind, (index + 1) * per_kind)
        hits = statistics.median(found[part])
        print(f"  {kind:>10} (median {hits:>7,.0f} found): {percentiles(in_db[part])}")
    print(f"  store.posts.search, all: {percentiles(in_db)}")

    async with conversation(db.parent) as chat:
        await chat.ask("/help", chat_id=ALICE)  # warm up: the chat's row, the first poll
        bot_search = [await timed(chat.ask, f"/search {query}") for query in queries]
        bot_help = [await timed(chat.ask, "/help") for _ in queries]
    print(f"  /search through the bot:  {percentiles(bot_search)}")
    print(f"  baseline /help, same bot: {percentiles(bot_help)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/telegram-news")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60, help="searches of each kind")
    parser.add_argument("--db", type=Path, help="keep the database here (reused if present)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # first-sight warnings are not news here
    posts = load(args.data, args.posts)
    queries = make_queries(posts, args.queries)
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        # The bot's conversation helper opens `bot.db` in the folder it is given.
        db = Path(tmp) / "bot.db"
        if args.db is not None and args.db.exists():
            db.symlink_to(args.db.resolve())
        else:
            seconds, _, _ = asyncio.run(ingest(posts, db))
            print(f"stored {len(posts):,} posts in {seconds:.0f} s (batches of {BATCH})")
            if args.db is not None:
                for file in db.parent.glob(db.name + "*"):
                    file.rename(args.db.with_name(args.db.name + file.name[len(db.name) :]))
                db.symlink_to(args.db.resolve())
        asyncio.run(measure(db, size(db.resolve()), queries, args.queries))


if __name__ == "__main__":
    main()
