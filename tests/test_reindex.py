"""`chanwatch reindex` as a subprocess: killed with SIGKILL half way, then run again."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.matching import LEMMA_VERSION, Lemmatizer
from storage import Location, Store, open_database
from storage.models import PostRecord
from tests.e2e_harness import command

T0 = datetime(2026, 11, 1, tzinfo=UTC)
POSTS = 2000


class BeforePassiveVoice:
    """Indexes as chanwatch did before the passive voice: «приглашаются» is its own word."""

    version = 1

    def __call__(self, text: str) -> str:
        return " ".join(dict.fromkeys(text.lower().split()))


async def cursor(database: Location) -> int:
    db = await open_database(database)
    try:
        return int(await db.scalar("SELECT next_cursor FROM search_index") or 0)
    finally:
        await db.close()


async def reindex(config: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        command(), "reindex", "--config", str(config), *args, stderr=asyncio.subprocess.PIPE
    )


async def test_reindex_killed_half_way_resumes_and_finds_the_passive_voice(
    tmp_path: Path, database: Location
) -> None:
    config = tmp_path / "chanwatch.toml"
    where = f'url = "{database}"' if isinstance(database, str) else f'path = "{database}"'
    config.write_text(f"[storage]\n{where}\n", encoding="utf-8")
    old = await Store.open(database, lemmatizer=BeforePassiveVoice())
    await old.channels.sync_config([("pul_1", "web")])
    texts = [f"Гости приглашаются на приём номер {n}" for n in range(1, POSTS + 1)]
    for start in range(0, POSTS, 500):
        await old.posts.save(
            "pul_1",
            [
                PostRecord(n + 1, T0 + timedelta(minutes=n), text, BeforePassiveVoice()(text), ())
                for n, text in enumerate(texts[start : start + 500], start=start)
            ],
            history=True,
        )
    _, before = await old.posts.search([["приглашать"]], limit=1)
    assert before == 0
    await old.close()

    first = await reindex(config, "--batch", "20")
    async with asyncio.timeout(60):
        while await cursor(database) < 200:  # noqa: ASYNC110 - another process's progress
            await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    stopped_at = await cursor(database)
    assert 0 < stopped_at < POSTS

    second = await reindex(config, "--no-progress")
    _, err = await asyncio.wait_for(second.communicate(), 120)
    text = err.decode()
    assert second.returncode == 0, text
    resumed = int(text.split("resuming the rebuild at ")[1].split(" ")[0].replace(",", ""))
    assert resumed >= stopped_at  # not from the start
    assert f"search index rebuilt: {POSTS:,} posts" in text

    store = await Store.open(database, lemmatizer=Lemmatizer())
    try:
        assert (await store.search_index.state()).version == LEMMA_VERSION
        found, total = await store.posts.search([["приглашать"]], limit=3)
        assert total == POSTS  # every post once: none lost, none twice
        assert [p.post_id for p in found] == [POSTS, POSTS - 1, POSTS - 2]
        _, guests = await store.posts.search([["гость"]], limit=1)
        assert guests == POSTS
    finally:
        await store.close()

    again = await reindex(config)
    _, err = await asyncio.wait_for(again.communicate(), 60)
    assert again.returncode == 0 and b"up to date" in err
