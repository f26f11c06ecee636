"""The bot side of a cluster: alert latency across processes, and the bot office's failover.

    python bench/bench_bot_office.py [--posts N] [--kills K] [--admin-url URL]

Alert latency: N matching posts are published one at a time, 1.5 s after the previous alert
(past the sender's 1 s between two messages to one chat), on the fake t.me server (web
polling every 0.2 s), and each is timed from publishing until its alert reaches the fake Bot
API, for `--role monitor` + `--role bot` on PostgreSQL (the match crosses processes through
NOTIFY) beside the baseline of one `--role all` on SQLite (the match wakes delivery in the
same process). Median and maximum.

Failover: a monitor and two `--role bot` processes on PostgreSQL; K times the office holder
is killed with SIGKILL and one matching post is published at once; timed until its alert
reaches the fake Bot API (sent by the standby, which took the office), after which the killed
process is started again as the new standby. Median and maximum.
Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e_harness import (  # noqa: E402
    Chanwatch,
    scratch_database,
    subscribe,
    write_config,
)
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.tme_server import TmeServer  # noqa: E402

CHAT: Final = 5
POLL: Final = 0.2
START_TIMEOUT: Final = 180.0
ALERT_TIMEOUT: Final = 120.0
ELECTED: Final = "bot office: elected"
PACING: Final = 1.5


def _figures(seconds: Sequence[float]) -> str:
    return f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"


async def _alert(api: FakeBotAPI, tme: TmeServer, n: int, started: float | None = None) -> float:
    """Publish matching post `n` on pul_1; seconds until its alert arrived (from `started`,
    by default from publishing)."""
    began = started if started is not None else time.monotonic()
    post_id = tme.add_post("pul_1", f"Визит номер {n}")
    link = f'href="https://t.me/pul_1/{post_id}"'
    await api.wait_until(
        lambda: any(link in m.text for m in api.messages_to(CHAT)),
        f"alerted post {post_id}",
        timeout=ALERT_TIMEOUT,
    )
    return time.monotonic() - began


async def _started(app: Chanwatch, *, polling: bool) -> None:
    # A busy small machine starts a process slower than the tests expect.
    await app.start(polling=polling, timeout=START_TIMEOUT)


async def latency(args: argparse.Namespace, folder: Path, url: str | None) -> None:
    label = "monitor + bot on PostgreSQL" if url else "--role all on SQLite"
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост")
        config = write_config(folder, api, tme, poll_seconds=POLL, database_url=url)
        roles = ("monitor", "bot") if url else ("all",)
        apps = [Chanwatch(config, api, folder / f"{role}.log", role=role) for role in roles]
        try:
            for app in apps:
                await _started(app, polling=app.role != "monitor")
            await tme.wait_served(["pul_1"])
            await subscribe(api, CHAT)
            seconds = []
            for n in range(args.posts):
                # Past the 1 s the sender leaves between two messages to one chat, so that
                # the figure is the way from post to alert, not the pacing.
                await asyncio.sleep(PACING)
                seconds.append(await _alert(api, tme, n))
            print(
                f"{label}: post published to alert received, {args.posts} posts: "
                f"{_figures(seconds)}"
            )
        finally:
            for app in apps:
                if app.process is not None:
                    await app.stop()


async def failover(args: argparse.Namespace, folder: Path, url: str) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост")
        config = write_config(folder, api, tme, poll_seconds=POLL, database_url=url)
        monitor = Chanwatch(config, api, folder / "monitor.log", role="monitor")
        bots = [Chanwatch(config, api, folder / f"bot{n}.log", role="bot") for n in (1, 2)]
        try:
            await _started(monitor, polling=False)
            await _started(bots[0], polling=True)
            await _started(bots[1], polling=False)
            await tme.wait_served(["pul_1"])
            await subscribe(api, CHAT)
            seconds = []
            for n in range(args.kills):
                holder, standby = bots[n % 2], bots[(n + 1) % 2]
                elected = standby.log_text().count(ELECTED)
                await holder.kill()
                seconds.append(await _alert(api, tme, n))
                assert standby.log_text().count(ELECTED) == elected + 1
                await _started(holder, polling=False)
            print(
                f"kill -9 of the bot office holder, standby running: a post published at the "
                f"kill alerted after {_figures(seconds)} ({args.kills} kills)"
            )
        finally:
            for app in (monitor, *bots):
                if app.process is not None:
                    await app.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for folder_name in ("sqlite", "latency", "failover"):
            folder = Path(tmp) / folder_name
            folder.mkdir()
            if folder_name == "sqlite":
                await latency(args, folder, None)
                continue
            async with scratch_database(args.admin_url, "chanwatch_bench_bot_office") as url:
                if folder_name == "latency":
                    await latency(args, folder, url)
                else:
                    await failover(args, folder, url)


if __name__ == "__main__":
    asyncio.run(main())
