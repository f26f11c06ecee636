"""`chanwatch run` with `[metrics] listen`: Prometheus metrics and /healthz over HTTP, read
from outside while posts arrive, alerts go out and the Bot API goes away and comes back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e_harness import alerts_to, command, running, subscribe, write_config
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.tme_server import TmeServer

READER: Final = 5
WAIT: Final = 20.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Scraper:
    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self._session = session
        self._base = f"http://127.0.0.1:{port}"

    async def metrics(self) -> Samples:
        async with self._session.get(f"{self._base}/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    async def health(self) -> tuple[int, str]:
        async with self._session.get(f"{self._base}/healthz") as response:
            return response.status, await response.text()

    async def wait_metrics(self, check: Callable[[Samples], bool], what: str) -> Samples:
        """Scrape until `check` holds (the process is only watched from outside)."""
        try:
            async with asyncio.timeout(WAIT):
                while not check(samples := await self.metrics()):  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"/metrics never showed {what}") from None
        return samples

    async def wait_health(self, status: int, what: str) -> str:
        try:
            async with asyncio.timeout(WAIT):
                while (answer := await self.health())[0] != status:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"/healthz never answered {status} ({what})") from None
        return answer[1]


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_and_health_follow_posts_alerts_and_the_bot_api(tmp_path: Path) -> None:
    port = free_port()
    async with FakeBotAPI() as api, TmeServer() as tme, aiohttp.ClientSession() as session:
        tme.add_channel("pul_1", "Пул Первого")
        tme.add_post("pul_1", "Старый пост про визит")
        config = write_config(
            tmp_path, api, tme, extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
        )
        scrape = Scraper(session, port)
        async with running(config, api):
            healthy = await scrape.wait_health(200, "once started")
            assert healthy.startswith(
                "ok: running bot, bot office, delivery, heartbeat, retention, web;"
            ), healthy
            await tme.wait_served(["pul_1"])
            first = await scrape.wait_metrics(
                lambda s: value(s, "chanwatch_posts_ingested_total", source="web") == 1,
                "the first-sight post counted",
            )
            assert value(first, "chanwatch_matches_total", topic="visit") == 1
            assert value(first, "chanwatch_messages_sent_total", kind="alert") == 0
            assert value(first, "chanwatch_healthy") == 1
            assert ("chanwatch_channel_last_post_age_seconds", (("channel", "pul_1"),)) in first

            # A matching post: one more post, one more match, an alert that first meets a
            # flood wait and a server error.
            await subscribe(api, READER)
            api.fail_next("sendMessage", 429, retry_after=1, chat_id=READER)
            api.fail_next("sendMessage", 502, chat_id=READER)
            tme.add_post("pul_1", "Лидер КНДР пригласил Первого посетить его страну")
            tme.add_post("pul_1", "Ничего интересного")
            await api.wait_until(lambda: bool(alerts_to(api, READER, "pul_1")), "alerted")
            after = await scrape.wait_metrics(
                lambda s: (
                    value(s, "chanwatch_messages_sent_total", kind="alert") == 1
                    and value(s, "chanwatch_outbox_pending") == 0
                ),
                "the alert counted and recorded as sent",
            )
            assert value(after, "chanwatch_posts_ingested_total", source="web") == 3
            assert value(after, "chanwatch_matches_total", topic="visit") == 2
            assert value(after, "chanwatch_send_failures_total", failure="429") == 1
            assert value(after, "chanwatch_send_failures_total", failure="5xx") == 1
            assert value(after, "chanwatch_send_failures_total", failure="403") == 0
            # The poll that brought /subscribe.
            assert value(after, "chanwatch_bot_last_poll_timestamp_seconds") > time.time() - WAIT

            # A channel that fails is counted, and does not make the process unhealthy.
            tme.fail("pul_1", status=503, times=2)
            await scrape.wait_metrics(
                lambda s: value(s, "chanwatch_source_errors_total", channel="pul_1") >= 1,
                "the failed read counted",
            )
            assert (await scrape.health())[0] == 200
            # The operator's notices (the channel failed, then works again) go out too.
            await scrape.wait_metrics(
                lambda s: (
                    value(s, "chanwatch_messages_sent_total", kind="notice") == 2
                    and value(s, "chanwatch_outbox_pending") == 0
                ),
                "the operator told of the outage and the recovery",
            )

            # The Bot API goes away: health says so, an alert waits in the outbox.
            await api.stop()
            reason = await scrape.wait_health(503, "with the Bot API away")
            assert reason.startswith("bot cannot poll the Bot API"), reason
            assert len(reason.strip().splitlines()) == 1
            tme.add_post("pul_1", "Визит делегации перенесли")
            owed = await scrape.wait_metrics(
                lambda s: value(s, "chanwatch_outbox_pending") == 1,
                "the alert owed while the Bot API is away",
            )
            assert value(owed, "chanwatch_healthy") == 0
            await asyncio.sleep(1.1)
            aged = await scrape.metrics()
            assert value(aged, "chanwatch_outbox_oldest_pending_age_seconds") >= 1

            # It comes back: healthy again once a poll gets through (a user writing ends the
            # long poll at once; the owed alert waits for its retry time).
            await api.start()
            await api.user_sends(READER, "/help")
            await scrape.wait_health(200, "with the Bot API back")


async def test_a_metrics_port_in_use_is_a_clear_start_error(tmp_path: Path) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            config = write_config(
                tmp_path, api, tme, extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
            )
            process = await asyncio.create_subprocess_exec(
                command(), "run", "--config", str(config), stderr=asyncio.subprocess.PIPE
            )
            _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert f"metrics.listen 127.0.0.1:{port}: cannot listen there" in err.decode(), err
    assert b"Traceback" not in err
