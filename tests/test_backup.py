"""`chanwatch backup FILE` as a subprocess while another process keeps writing posts."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import Store, TopicSpec
from storage.models import PostRecord
from tests.e2e_harness import command

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FILLER = "Делегация обсудила визит и торговлю; " * 40


def posts(first: int, count: int) -> list[PostRecord]:
    return [
        PostRecord(n, T0 + timedelta(minutes=n), f"{n} {FILLER}", f"пост{n} визит", ())
        for n in range(first, first + count)
    ]


def write_config(folder: Path) -> Path:
    config = folder / "chanwatch.toml"
    config.write_text('[storage]\npath = "db.sqlite"\n', encoding="utf-8")
    return config


async def backup(config: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        command(), "backup", "--config", str(config), *args, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_backup_during_writes_opens_cleanly_with_every_post_committed_before(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    store = await Store.open(tmp_path / "db.sqlite")
    await store.topics.sync_config([TopicSpec("visit", ("визит",))])
    await store.channels.sync_config([("pul_1", "web")])
    for first in range(1, 3001, 500):
        await store.posts.save("pul_1", posts(first, 500), history=True)
    committed = 3000

    async def keep_writing() -> None:
        nonlocal committed
        while True:
            await store.posts.save("pul_1", posts(committed + 1, 5), history=True)
            committed += 5  # save() returned: the batch is committed

    writer = asyncio.create_task(keep_writing())
    try:
        await asyncio.sleep(0.2)
        before = committed
        code, err = await backup(config, str(tmp_path / "copy.db"))
        after = committed
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()
    assert code == 0, err
    assert "checked" in err and "Traceback" not in err
    assert after > before  # the writer really went on during the backup

    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        ids = [row[0] for row in copy.execute("SELECT post_id FROM posts ORDER BY post_id")]
    # One snapshot: everything committed before the backup began, no gap, nothing torn.
    assert len(ids) >= before
    assert ids == list(range(1, len(ids) + 1))
    assert len(ids) <= after
    assert f"{len(ids):,} posts" in err

    restored = await Store.open(tmp_path / "copy.db")
    try:
        found, total = await restored.posts.search([["пост1234"]], limit=5)
        assert [p.post_id for p in found] == [1234] and total == 1
        _, everything = await restored.posts.search([["визит"]], limit=1)
        assert everything == len(ids)
    finally:
        await restored.close()


async def test_backup_refuses_to_overwrite_without_force_and_names_the_problem(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    code, err = await backup(config, str(tmp_path / "copy.db"))
    assert code == 1
    assert "does not exist: nothing to back up" in err

    store = await Store.open(tmp_path / "db.sqlite")
    await store.channels.sync_config([("pul_1", "web")])
    await store.posts.save("pul_1", posts(1, 3), history=True)
    await store.close()
    target = tmp_path / "copy.db"
    target.write_text("yesterday's backup")
    code, err = await backup(config, str(target))
    assert code == 1
    assert "already exists: pass --force" in err
    assert target.read_text() == "yesterday's backup"

    code, err = await backup(config, str(target), "--force")
    assert code == 0, err
    assert "3 posts" in err
    assert sorted(os.listdir(tmp_path)) == ["chanwatch.toml", "copy.db", "db.sqlite"]
    code, err = await backup(config, str(tmp_path / "no" / "such" / "copy.db"))
    assert code == 1 and "does not exist" in err and "Traceback" not in err


async def test_on_postgresql_backup_runs_pg_dump(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "chanwatch.toml"
    config.write_text(f'[storage]\nurl = "{postgres_url}"\n', encoding="utf-8")
    store = await Store.open(postgres_url)
    await store.channels.sync_config([("pul_1", "web")])
    await store.posts.save("pul_1", posts(1, 3), history=True)
    await store.close()

    code, err = await backup(config, str(tmp_path / "chanwatch.dump"))
    assert code == 0, err
    assert "pg_dump --format=custom" in err and "restore with pg_restore" in err
    listing = await asyncio.create_subprocess_exec(
        "pg_restore", "--list", str(tmp_path / "chanwatch.dump"), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await listing.communicate()
    assert listing.returncode == 0
    assert b"TABLE DATA public posts" in out
    code, err = await backup(config, str(tmp_path / "chanwatch.dump"))
    assert code == 1 and "already exists: pass --force" in err
