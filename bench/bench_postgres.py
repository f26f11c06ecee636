"""PostgreSQL against SQLite on the real corpus: ingest, search (results and speed), copy.

    .venv/bin/python bench/bench_postgres.py [--data DIR] [--posts N] [--queries N]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Feeds the same posts through the `chanwatch run` pipeline (monitor.ingest.Ingest -> storage)
into a new SQLite file and a new PostgreSQL database, then asks both the same /search
queries (words of the corpus from common to rare, alone and in pairs) and reports every query
whose total or first page differs, with search times; last, `migrate-storage` copies the
SQLite file into a third, empty database. SQLite is the baseline throughout. The temporary
databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench_storage import BATCH, ingest, load  # noqa: E402

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


def ms(values: list[float], q: float) -> str:
    return f"{statistics.quantiles(values, n=100)[int(q) - 1] * 1000:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/telegram-news")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
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
