"""`chanwatch backfill` through the CLI, for a web channel served by the local t.me server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chanwatch.cli import main
from storage import Store
from tests.fakes.tme_server import TmeServer


def write_config(tmp_path: Path, tme: TmeServer) -> list[str]:
    config = tmp_path / "chanwatch.toml"
    config.write_text(
        f'[storage]\npath = "db.sqlite"\n[web]\nbase_url = "{tme.base_url}"\n'
        '[[channels]]\nhandle = "pul_1"\nsource = "web"\n'
        '[[topics]]\nname = "visit"\nterms = ["визит"]\n',
        encoding="utf-8",
    )
    return ["--config", str(config)]


async def test_backfill_loads_history_with_matches_and_no_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with TmeServer() as tme:
        tme.add_channel("pul_1", "Пул Первого")
        for n in range(1, 61):
            tme.add_post("pul_1", f"Пост {n}: " + ("визиты лидеров" if n % 10 == 0 else "прочее"))
        config = write_config(tmp_path, tme)
        # main() runs its own event loop; the t.me server keeps serving on this one.
        code = await asyncio.to_thread(main, ["backfill", "pul_1", "--limit", "35", *config])
        assert code == 0
        err = capsys.readouterr().err
        assert "pul_1: 35 post(s) loaded as history" in err
        assert "35/35" in err  # the progress bar counted the pages' posts up to the limit
        again = await asyncio.to_thread(main, ["backfill", "https://t.me/pul_1", *config])
        assert again == 0

    store = await Store.open(tmp_path / "db.sqlite")
    try:
        stats = await store.outbox.stats()
        found, total = await store.posts.search([["визит"]], limit=10)
        pending = await store.posts.pending_fanout()
    finally:
        await store.close()
    # The second run took the whole page history; nothing was stored twice.
    assert stats.posts == 60
    assert total == 6 and {p.post_id for p in found} == {10, 20, 30, 40, 50, 60}
    assert stats.matches == 6
    assert pending == []  # history never alerts


async def test_backfill_of_an_unwatched_channel_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with TmeServer() as tme:
        config = write_config(tmp_path, tme)
        code = await asyncio.to_thread(main, ["backfill", "somebody_else", *config])
    assert code == 1
    err = capsys.readouterr().err
    assert "somebody_else is not a watched channel" in err
    assert "Traceback" not in err
