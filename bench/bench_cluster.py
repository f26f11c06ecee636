"""Monitors sharing channels: throughput, failover and database load, by number of monitors.

    python bench/bench_cluster.py [--channels N] [--monitors 1,2,4] [--posts-per-channel K]
                                  [--poll S] [--lease S] [--admin-url URL]

Serves N web channels (default 2,000) from the fake t.me server on 127.0.0.1, each with one
old post, and runs `chanwatch run --role monitor` processes against a new PostgreSQL
database: 1, then 2, then 4 of them (a new database and a new server each time). Beside it,
the baseline: one `chanwatch run --role all` on SQLite with the same channels (it also runs
the bot, against the fake Bot API, with nobody subscribed).

For each setup:
- start: seconds from the first process starting until every channel was read once (its
  old post stored as history);
- ingest: K new posts per channel are published at once (every other one matches the topic);
  posts/s = posts stored / seconds until the last was stored, matches counted the same way;
- idle: 10 s with nothing new, polling only;
- the database's load in both phases, from pg_stat_database (transactions committed and
  rows inserted + updated, per second; they include the bench's own progress reads, one a
  second);
- failover (2 monitors or more): one monitor is killed with SIGKILL; seconds until every
  channel it held was fetched again by another, and until one post published on each of
  them right after the kill was stored (nothing lost).
Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import asyncpg

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import Store  # noqa: E402
from tests.e2e_harness import Chanwatch, scratch_database, write_config  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.tme_server import TmeServer  # noqa: E402

TOPICS: Final = '[[topics]]\nname = "visit"\nterms = ["визит", "посетить"]\n'
MATCHING: Final = "Лидер пригласил Первого посетить его страну ({n})"
OTHER: Final = "Погода в Минске: без осадков ({n})"
IDLE_SECONDS: Final = 10.0
TIMEOUT: Final = 600.0
START_TIMEOUT: Final = 180.0


@dataclass
class Load:
    xacts: int
    rows: int

    @classmethod
    async def read(cls, admin_url: str, name: str) -> Load:
        conn = await asyncpg.connect(admin_url)
        try:
            # The statistics are sent by each backend at its transaction ends, batched.
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            row = await conn.fetchrow(
                "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted AS rows "
                "FROM pg_stat_database WHERE datname = $1",
                name,
            )
        finally:
            await conn.close()
        assert row is not None
        return cls(int(row["xact_commit"]), int(row["rows"]))

    def per_second(self, before: Load, seconds: float) -> str:
        return (
            f"{(self.xacts - before.xacts) / seconds:,.0f} xact/s, "
            f"{(self.rows - before.rows) / seconds:,.0f} rows written/s"
        )


async def wait_for(
    what: str, ready: Callable[[], Awaitable[bool]], *, every: float = 1.0
) -> float:
    """Call `ready` until it returns True; the seconds it took."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(TIMEOUT):
            while not await ready():  # noqa: ASYNC110 (polling the database is the point)
                await asyncio.sleep(every)
    except TimeoutError:
        raise SystemExit(f"bench_cluster: {what} did not happen within {TIMEOUT:g} s") from None
    return time.monotonic() - start


async def run_setup(
    args: argparse.Namespace, *, monitors: int, url: str | None, folder: Path
) -> None:
    handles = [f"chan_{n:05d}" for n in range(args.channels)]
    label = (
        f"{monitors} monitor{'s' if monitors > 1 else ''} on PostgreSQL"
        if url
        else ("--role all on SQLite")
    )
    async with FakeBotAPI() as api, TmeServer() as tme:
        for handle in handles:
            tme.add_channel(handle)
            tme.add_post(handle, "old post")
        config = write_config(
            folder,
            api,
            tme,
            channels=handles,
            topics=TOPICS,
            poll_seconds=args.poll,
            timeout_seconds=20,
            database_url=url,
            extra=f"[cluster]\nlease_seconds = {args.lease}\nweb_channels = {args.channels}\n",
        )
        processes = [
            Chanwatch(config, api, folder / f"p{n}.log", role="monitor" if url else "all")
            for n in range(monitors)
        ]
        store = await Store.open(url or folder / "db.sqlite")
        admin = args.admin_url
        name = urlsplit(url).path.lstrip("/") if url else ""
        try:
            began = time.monotonic()
            for process in processes:
                # A busy small machine starts a process slower than the tests expect.
                await process.start(polling=url is None, timeout=START_TIMEOUT)

            async def all_first_sighted() -> bool:
                return (await store.outbox.stats()).posts >= len(handles)

            await wait_for("first sight", all_first_sighted)
            startup = time.monotonic() - began
            print(f"{label}: every channel read once {startup:.1f} s after the first start")

            # Ingest: a burst of new posts on every channel.
            stats = await store.outbox.stats()
            before = await Load.read(admin, name) if url else None
            for handle in handles:
                for n in range(args.posts_per_channel):
                    tme.add_post(handle, (MATCHING if n % 2 == 0 else OTHER).format(n=n))
            expected = stats.posts + len(handles) * args.posts_per_channel
            published = time.monotonic()

            async def all_stored() -> bool:
                return (await store.outbox.stats()).posts >= expected

            seconds = await wait_for("ingest", all_stored, every=0.5)
            after_stats = await store.outbox.stats()
            new_posts = after_stats.posts - stats.posts
            new_matches = after_stats.matches - stats.matches
            line = (
                f"{label}: {new_posts:,} posts stored in {seconds:.1f} s = "
                f"{new_posts / seconds:,.0f} posts/s, {new_matches / seconds:,.0f} matches/s"
            )
            if before is not None:
                load = await Load.read(admin, name)
                line += f"; database {load.per_second(before, time.monotonic() - published)}"
            print(line)

            # Idle: polling with nothing new.
            if url:
                before = await Load.read(admin, name)
                await asyncio.sleep(IDLE_SECONDS)
                load = await Load.read(admin, name)
                print(f"{label}: idle, database {load.per_second(before, IDLE_SECONDS)}")

            if url and monitors > 1:
                await failover(store, tme, processes[0], handles, args.lease)
        finally:
            await store.close()
            for process in processes:
                if process.process is not None:
                    await process.stop()


async def failover(
    store: Store, tme: TmeServer, victim: Chanwatch, handles: list[str], lease: float
) -> None:
    assert victim.process is not None
    pid = victim.process.pid
    owner = next(p.id for p in await store.processes.live(600) if p.pid == pid)
    orphaned = {
        h for h, o in (await store.leases.owners("web", seconds=lease)).items() if o == owner
    }
    posts = (await store.outbox.stats()).posts
    await victim.kill()
    killed = time.monotonic()
    for handle in orphaned:
        tme.add_post(handle, "published after the kill")

    async def all_watched() -> bool:
        again = {page.handle for page in tme.served if page.at > killed}
        return orphaned <= again

    watched = await wait_for("failover", all_watched, every=0.2)

    async def caught_up() -> bool:
        return (await store.outbox.stats()).posts >= posts + len(orphaned)

    await wait_for("catch-up", caught_up, every=0.2)
    stored = time.monotonic() - killed
    print(
        f"  kill -9 of a monitor holding {len(orphaned):,} of {len(handles):,} channels: all "
        f"watched again after {watched:.1f} s, the posts published meanwhile stored after "
        f"{stored:.1f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=2000)
    parser.add_argument("--monitors", default="1,2,4", help="monitor counts to run")
    parser.add_argument("--posts-per-channel", type=int, default=5)
    parser.add_argument("--poll", type=float, default=5.0, help="web.poll_seconds")
    parser.add_argument("--lease", type=float, default=10.0, help="cluster.lease_seconds")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite baseline")
    args = parser.parse_args()
    print(
        f"{args.channels:,} web channels, poll every {args.poll:g} s, lease {args.lease:g} s, "
        f"{args.posts_per_channel} new posts per channel"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            folder = Path(tmp) / "sqlite"
            folder.mkdir()
            await run_setup(args, monitors=1, url=None, folder=folder)
        for count in (int(n) for n in args.monitors.split(",")):
            name = f"chanwatch_bench_cluster_{count}"
            folder = Path(tmp) / f"pg{count}"
            folder.mkdir()
            async with scratch_database(args.admin_url, name) as url:
                await run_setup(args, monitors=count, url=url, folder=folder)


if __name__ == "__main__":
    asyncio.run(main())
