"""PostgreSQL against SQLite on the real corpus: ingest, search (results and speed), copy.

    .venv/bin/python bench/bench_postgres.py [--data DIR] [--posts N] [--queries N]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Feeds the same posts through the `chanwatch run` pipeline (monitor.ingest.Ingest -> storage)
into a new SQLite file and a new PostgreSQL database, then asks both the same /search
queries (words of the corpus from common to rare, alone and in pairs) and reports every query
whose total or first page differs, with search times; last, `migrate-storage` copies the
SQLite file into a third, empty database. SQLite is the baseline throughout. The temporary
databases are dropped at the end.

With --stories it first feeds the same posts, in publication order, with the story detector
on, as `chanwatch run` monitors sharing a PostgreSQL database do (each delivery filed and
saved in the detector's turn, see README "Stories"): one pipeline that skips the catch-up
(as `chanwatch run` alone on SQLite), one that catches up in every turn (a monitor on
PostgreSQL), then two pipelines on one database (two stores, as two processes have, each
given half the channels) feeding at the same time; alternately, twice each. Prints the best
posts/s of each and the posts filed as copies. Two pipelines each go at their own pace, so a
post may reach the database after its own later copy from the other one: they file fewer
copies than one pipeline does, and their count varies from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_storage import BATCH, TOPICS, feed, ingest, load  # noqa: E402

from monitor.ingest import Ingest, SilentListener  # noqa: E402
from monitor.matching import query_lemmas  # noqa: E402
from monitor.sources.base import IncomingPost  # noqa: E402
from storage import Location, Store  # noqa: E402
from storage.copy import copy_database  # noqa: E402
from tests.e2e_harness import scratch_database  # noqa: E402


def queries(posts: list[IncomingPost], count: int) -> list[str]:
    """Words from common to rare (by rank), alone and in pairs, as users type them."""
    words = Counter(word for post in posts for word in post.text.lower().split() if word.isalpha())
    ranked = [word for word, _ in words.most_common() if len(word) > 3]
    rng = random.Random(11)
    picks = [ranked[int(len(ranked) * (i / count) ** 2)] for i in range(count)]
    return picks + [f"{a} {b}" for a, b in zip(picks, rng.sample(picks, len(picks)), strict=True)]


Answer = tuple[int, list[tuple[str, int]]]


async def search_all(location: Location, texts: list[str]) -> tuple[list[Answer], list[float]]:
    store = await Store.open(location)
    answers: list[Answer] = []
    times = []
    try:
        for text in texts:
            started = time.perf_counter()
            found, total = await store.posts.search(query_lemmas(text), limit=5)
            times.append(time.perf_counter() - started)
            answers.append((total, [(p.channel_handle, p.post_id) for p in found]))
    finally:
        await store.close()
    return answers, times


async def cluster_ingest(
    posts: list[IncomingPost], admin_url: str, name: str, pipelines: int, *, others: bool
) -> tuple[float, int]:
    """Seconds `pipelines` monitors' pipelines (stories on, each its own store and channels)
    take to ingest `posts` into a new database together, and the posts filed as copies."""
    async with scratch_database(admin_url, name) as url:
        stores = [await Store.open(url) for _ in range(pipelines)]
        try:
            await stores[0].topics.sync_config(TOPICS)
            channels = sorted({p.channel for p in posts})
            for channel in channels:
                await stores[0].channels.add(channel, "web")
            share = {channel: n % pipelines for n, channel in enumerate(channels)}
            ingests = [
                await Ingest.open(store, SilentListener(), story_window_hours=24.0, others=others)
                for store in stores
            ]
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    feed(ingest, [p for p in posts if share[p.channel] == n], 1)
                    for n, ingest in enumerate(ingests)
                )
            )
            elapsed = time.perf_counter() - started
            copies = await stores[0].db.scalar(
                "SELECT count(*) FROM posts WHERE story IS NOT NULL"
            )
        finally:
            for store in stores:
                await store.close()
    return elapsed, int(copies or 0)


async def stories_lines(posts: list[IncomingPost], admin_url: str) -> list[str]:
    prefix = f"chanwatch_bench_{secrets.token_hex(3)}"
    setups = {
        (1, False): "one pipeline, no catch-up",
        (1, True): "one pipeline, catch-up every turn",
        (2, True): "two pipelines on one database",
    }
    runs: dict[tuple[int, bool], list[tuple[float, int]]] = {setup: [] for setup in setups}
    for turn, (pipelines, others) in enumerate([*setups, *setups]):
        runs[pipelines, others].append(
            await cluster_ingest(posts, admin_url, f"{prefix}_s{turn}", pipelines, others=others)
        )
    lines = []
    for setup, label in setups.items():
        seconds = min(took for took, _ in runs[setup])
        copies = sorted({found for _, found in runs[setup]})
        lines.append(
            f"ingest PostgreSQL with stories, {label}: {seconds:.1f} s, "
            f"{len(posts) / seconds:,.0f} posts/s, copies filed {'/'.join(map(str, copies))}"
        )
    return lines


def ms(values: list[float], q: float) -> str:
    return f"{statistics.quantiles(values, n=100)[int(q) - 1] * 1000:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/telegram-news")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--stories", action="store_true", help="also ingest with stories, as cluster monitors"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # first sights are logged as warnings
    stories = (
        await stories_lines(load(args.data, args.posts, by_date=True), args.admin_url)
        if args.stories
        else []
    )
    posts = load(args.data, args.posts)
    texts = queries(posts, args.queries)
    prefix = f"chanwatch_bench_{secrets.token_hex(3)}"
    async with (
        scratch_database(args.admin_url, prefix) as pg,
        scratch_database(args.admin_url, f"{prefix}_copy") as copy,
    ):
        with tempfile.TemporaryDirectory() as tmp:
            lite = Path(tmp) / "bench.db"
            lite_ingest, _, _ = await ingest(posts, lite)
            pg_ingest, _, _ = await ingest(posts, pg)
            lite_answers, lite_times = await search_all(lite, texts)
            pg_answers, pg_times = await search_all(pg, texts)
            started = time.perf_counter()
            report = await copy_database(lite, copy)
            copy_seconds = time.perf_counter() - started
    n = len(posts)
    differ = [t for t, a, b in zip(texts, lite_answers, pg_answers, strict=True) if a != b]
    found = sum(1 for total, _ in lite_answers if total)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    print(f"posts: {n:,} of the real corpus, batches of {BATCH}, 3 topics")
    print(f"ingest SQLite (baseline): {lite_ingest:.1f} s, {n / lite_ingest:,.0f} posts/s")
    print(
        f"ingest PostgreSQL:        {pg_ingest:.1f} s, {n / pg_ingest:,.0f} posts/s "
        f"({lite_ingest / pg_ingest:.2f}x SQLite)"
    )
    for line in stories:
        print(line)
    print(
        f"search: {len(texts)} queries ({found} with results); results differ in "
        f"{len(differ)}{': ' + ', '.join(differ[:5]) if differ else ''}"
    )
    print(
        f"search SQLite (baseline): p50 {ms(lite_times, 50)}, p95 {ms(lite_times, 95)}; "
        f"PostgreSQL: p50 {ms(pg_times, 50)}, p95 {ms(pg_times, 95)}"
    )
    print(
        f"migrate-storage: {report.total:,} rows in {copy_seconds:.1f} s, "
        f"{report.total / copy_seconds:,.0f} rows/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
