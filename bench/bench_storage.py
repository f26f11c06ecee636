"""Storage ingest: posts/s stored with matching, lemma indexing and FTS, and DB size.

    .venv/bin/python bench/bench_storage.py [--data DIR] [--posts N] [--stories] [--order date]
        [--at-once N] [--rounds N] [--python-gc] [--single without|with]

Feeds the real corpus (repeated with fresh ids up to N posts) through the same pipeline
`chanwatch run` uses (monitor.ingest.Ingest -> storage) into a new SQLite file, in batches
like a source delivers them, and prints throughput next to a baseline that inserts the same
rows with no matching, no lemmas and no FTS. Each repetition of the corpus is dated 100
days after the one before, so that it is news again rather than a copy of itself.

With --stories the pipeline runs `--rounds` (2) times more each way in the same process,
alternately without and with the story detector (`[stories]` on, as `chanwatch run` has it by
default), and prints both rates, their ratio (best of each, and round by round) and how many
posts were filed as copies. Posts come
channel after channel (each channel's export in turn) unless `--order date` hands them over
in publication order across channels, as a live process sees them: then the copies of one
story meet inside the detector's window, about one post in eight.

With --at-once N, N channels are read at the same time, as the web source polls several
channels at once: each reader hands over one channel's posts batch after batch, then takes
the next channel. While one batch is written on the database's thread, another reader's
posts are matched and lemmatised on the other CPU. The default (1) hands the batches over
one after another, as every earlier figure was measured.

Every ingest runs under the garbage collector's settings `chanwatch run` sets
(chanwatch.heap); --python-gc keeps Python's defaults, as figures before them were measured.
--single runs one ingest only (no baseline), for valgrind's instruction counts: grouping's
cost is the difference between `--single with` and `--single without`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chanwatch import heap  # noqa: E402
from monitor.ingest import Ingest, SilentListener  # noqa: E402
from monitor.matching import markdown_to_plain  # noqa: E402
from monitor.sources.base import IncomingPost  # noqa: E402
from storage import Location, Store, TopicSpec  # noqa: E402

TOPICS = [
    TopicSpec("visit", ("визит", "посетить", "посещение", "visit")),
    TopicSpec("invitation", ("пригласить", "приглашать", "приглашение", "invite")),
    TopicSpec("Kim Jong Un", ("Ким Чен Ын", "Kim Jong Un")),
]
BATCH = 20


def load(data: Path, wanted: int, *, by_date: bool = False) -> list[IncomingPost]:
    files = sorted(data.glob("*.json"))
    if not files:
        raise SystemExit(f"no corpus in {data}: pass --data (see ../shared/data/README.md)")
    base: list[tuple[str, datetime, str]] = []
    for file in files:
        for item in json.loads(file.read_text(encoding="utf-8")):
            base.append(
                (
                    "c" + file.name.split("_")[0],
                    datetime.fromisoformat(item["date"]),
                    markdown_to_plain(item["text"] or ""),
                )
            )
    if by_date:
        base.sort(key=lambda item: item[1])
    posts = []
    for n in range(wanted):
        channel, date, text = base[n % len(base)]
        date += timedelta(days=100 * (n // len(base)))
        posts.append(IncomingPost(channel=channel, post_id=n + 1, date=date, text=text))
    return posts


async def feed(pipeline: Ingest, posts: list[IncomingPost], at_once: int) -> None:
    """Hand `posts` to the pipeline in batches: one after another, or by `at_once` readers
    of a channel each at the same time."""
    if at_once <= 1:
        for start in range(0, len(posts), BATCH):
            await pipeline.handle_posts(posts[start : start + BATCH], history=False)
        return
    channels: dict[str, list[IncomingPost]] = {}
    for post in posts:
        channels.setdefault(post.channel, []).append(post)
    waiting = list(channels.values())

    async def reader() -> None:
        while waiting:
            mine = waiting.pop(0)
            for start in range(0, len(mine), BATCH):
                await pipeline.handle_posts(mine[start : start + BATCH], history=False)

    await asyncio.gather(*(reader() for _ in range(at_once)))


async def ingest(
    posts: list[IncomingPost],
    location: Location,
    *,
    stories: bool = False,
    at_once: int = 1,
    tuned_gc: bool = True,
) -> tuple[float, float, int]:
    """Seconds the pipeline takes to store and match `posts` into a new database, the CPU
    seconds this process spent on it (every thread: the database's too), and how many posts
    it filed as copies of an earlier post (with `stories`). With `tuned_gc`, under the
    garbage collector's settings `chanwatch run` sets (chanwatch.heap), put back after."""
    restore_gc = heap.tune() if tuned_gc else None
    try:
        store = await Store.open(location)
        await store.topics.sync_config(TOPICS)
        for channel in sorted({p.channel for p in posts}):
            await store.channels.add(channel, "web")
        window = 24.0 if stories else None
        # As `chanwatch run` on SQLite: no other process stores posts beside this one.
        pipeline = await Ingest.open(
            store, SilentListener(), story_window_hours=window, others=False
        )
        if tuned_gc:
            heap.settle()  # freezes this benchmark's list of posts too, which `run` has not
        started, cpu = time.perf_counter(), time.process_time()
        await feed(pipeline, posts, at_once)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        copies = await store.db.scalar("SELECT count(*) FROM posts WHERE story IS NOT NULL")
        await store.close()
    finally:
        if restore_gc is not None:
            restore_gc()
    return elapsed, cpu, int(copies or 0)


def baseline(posts: list[IncomingPost], path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, channel TEXT, post_id INTEGER, date TEXT, "
        "text TEXT, UNIQUE (channel, post_id))"
    )
    started = time.perf_counter()
    for start in range(0, len(posts), BATCH):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO posts (channel, post_id, date, text) VALUES (?, ?, ?, ?)",
            [
                (p.channel, p.post_id, p.date.isoformat(), p.text)
                for p in posts[start : start + BATCH]
            ],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/telegram-news")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument(
        "--stories", action="store_true", help="also compare ingest with the story detector"
    )
    parser.add_argument("--order", choices=("channel", "date"), default="channel")
    parser.add_argument(
        "--at-once", type=int, default=1, help="channels read at the same time (default 1)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="with --stories: runs without and with the detector, alternately (default 2 each)",
    )
    parser.add_argument(
        "--python-gc",
        action="store_true",
        help="Python's default garbage collector settings, not those `chanwatch run` sets",
    )
    parser.add_argument(
        "--single",
        choices=("without", "with"),
        help="only one ingest, without or with stories, and the process's peak memory "
        "(for instruction counts: run it under valgrind, both ways, and subtract)",
    )
    args = parser.parse_args()
    tuned = not args.python_gc
    # Each channel's first batch is its first sight: stored as history, which ingestion
    # logs as a warning for every channel. That is the product working, not news here.
    logging.basicConfig(level=logging.ERROR)
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    posts = load(args.data, args.posts, by_date=args.order == "date")
    n = len(posts)
    if args.single:
        with tempfile.TemporaryDirectory() as tmp:
            took, took_cpu, found = asyncio.run(
                ingest(
                    posts,
                    Path(tmp) / "single.db",
                    stories=args.single == "with",
                    at_once=args.at_once,
                    tuned_gc=tuned,
                )
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{n:,} posts, {args.order} order, {args.single} stories: {n / took:,.0f} posts/s, "
            f"{took_cpu:.1f} s CPU, {found:,} filed as copies; peak memory {peak:,.0f} MiB"
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        seconds, cpu, _ = asyncio.run(ingest(posts, db, at_once=args.at_once, tuned_gc=tuned))
        full_size = size(db)
        plain = Path(tmp) / "plain.db"
        base_seconds = baseline(posts, plain)
        plain_size = size(plain)
        runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        copies = 0
        if args.stories:
            for turn in range(2 * args.rounds):
                stories = turn % 2 == 1
                took, took_cpu, found = asyncio.run(
                    ingest(
                        posts,
                        Path(tmp) / f"s{turn}.db",
                        stories=stories,
                        at_once=args.at_once,
                        tuned_gc=tuned,
                    )
                )
                runs[stories].append((took, took_cpu))
                copies = max(copies, found)
    per_100k = 100_000 / n
    readers = "one batch at a time" if args.at_once <= 1 else f"{args.at_once} channels at once"
    collector = "Python's default" if args.python_gc else "as `chanwatch run` sets it"
    print(f"posts ingested: {n:,} in batches of {BATCH} (3 topics), {args.order} order, {readers}")
    print(f"garbage collector: {collector}")
    print(
        f"chanwatch ingest (match + lemmas + FTS5 + matches): {seconds:.1f} s, "
        f"{n / seconds:,.0f} posts/s, "
        f"database {full_size * per_100k / 2**20:.0f} MiB per 100k posts"
    )
    # On a busy machine the wall clock counts other programs' turns too; CPU seconds don't.
    print(f"  CPU: {cpu:.1f} s, {n / cpu:,.0f} posts per CPU second")
    print(
        f"baseline (plain INSERT, no index): {base_seconds:.1f} s, {n / base_seconds:,.0f} "
        f"posts/s, database {plain_size * per_100k / 2**20:.0f} MiB per 100k posts"
    )
    if args.stories:
        for stories in (False, True):
            print(
                f"{'with' if stories else 'without'} stories, CPU per post, each run: "
                + ", ".join(f"{cpu * 1e6 / n:.0f} µs" for _, cpu in runs[stories])
            )
        rounds = args.rounds
        without = min(wall for wall, _ in runs[False])
        with_stories = min(wall for wall, _ in runs[True])
        without_cpu = min(cpu for _, cpu in runs[False])
        with_cpu = min(cpu for _, cpu in runs[True])
        print(
            f"without stories (best of {rounds}): {n / without:,.0f} posts/s, "
            f"{n / without_cpu:,.0f} per CPU second"
        )
        print(
            f"with stories (best of {rounds}): {n / with_stories:,.0f} posts/s, "
            f"{n / with_cpu:,.0f} per CPU second; {copies:,} filed as copies ({copies / n:.1%})"
        )
        print(
            f"with/without: time {with_stories / without:.2f}x, CPU {with_cpu / without_cpu:.2f}x"
        )
        # Each round's pair ran next to each other: the median of their ratios is less
        # at the mercy of one quiet or busy spell than the best of each.
        pairs = [w[1] / o[1] for o, w in zip(runs[False], runs[True], strict=True)]
        print(
            f"with/without, CPU, round by round: {', '.join(f'{r:.2f}x' for r in pairs)}; "
            f"median {statistics.median(pairs):.2f}x"
        )


if __name__ == "__main__":
    main()
