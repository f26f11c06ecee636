"""`chanwatch scan` and `chanwatch import` on Telegram Desktop exports, through the CLI."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from chanwatch.cli import main
from storage import Store

FIXTURE = Path(__file__).parent / "fixtures" / "scan" / "pul_1.json"
CONFIG = """
[storage]
path = "db.sqlite"
[[topics]]
name = "visit"
terms = ["визит", "посетить", "посещение"]
[[topics]]
name = "invitation"
terms = ["пригласить", "приглашение"]
[[topics]]
name = "Kim Jong Un"
terms = ["Ким Чен Ын"]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "chanwatch.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_scan_prints_one_json_object_per_matching_post(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(FIXTURE), "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert records == [
        {
            "channel": "Пул Первого",
            "channel_id": 1234567890,
            "message_id": 2,
            "date": "2025-11-20T10:05:00+00:00",
            "topics": ["visit", "invitation"],
            "terms": ["посетить", "пригласил"],
            "story": [1234567890, 2],
        },
        {
            "channel": "Пул Первого",
            "channel_id": 1234567890,
            "message_id": 3,
            "date": "2025-11-20T11:00:00+00:00",
            "topics": ["Kim Jong Un"],
            "terms": ["Ким Чен Ыном"],
            "story": [1234567890, 3],
        },
        {
            "channel": "Пул Первого",
            "channel_id": 1234567890,
            "message_id": 5,
            "date": "2025-11-20T13:00:00+00:00",
            "topics": ["visit"],
            "terms": ["визита"],
            "story": [1234567890, 5],
        },
    ]
    assert "3 matching post(s) in 1 export(s)" in err


def test_scan_table_format(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(FIXTURE), "--config", str(config), "--format", "table"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert out[1].endswith("visit, invitation: посетить, пригласил")


def test_a_file_that_is_not_an_export_is_a_clear_error(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "posts.json"
    bogus.write_text('[{"message_id": 1}]', encoding="utf-8")
    assert main(["scan", str(bogus), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"chanwatch: {bogus}") or str(bogus) in err
    assert "Traceback" not in err


async def _stored(db: Path) -> tuple[int, int, int, list[int]]:
    store = await Store.open(db)
    try:
        stats = await store.outbox.stats()
        pending = await store.posts.pending_fanout()
        found, _ = await store.posts.search([["визит"]], limit=10)
        return stats.posts, stats.matches, len(pending), [p.post_id for p in found]
    finally:
        await store.close()


def test_import_stores_history_without_alerts_and_twice_is_once(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["import", str(FIXTURE), "--config", str(config), "--channel", "https://t.me/pul_1"]
    assert main(args) == 0
    assert main(args) == 0
    assert "imported as pul_1" in capsys.readouterr().err
    posts, matches, pending, found = asyncio.run(_stored(tmp_path / "db.sqlite"))
    assert (posts, matches, pending) == (5, 4, 0)
    assert found == [5]


def test_import_refuses_a_bad_export_before_touching_the_database(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(FIXTURE, broken / "result.json")
    (broken / "result.json").write_text("{", encoding="utf-8")
    assert main(["import", str(FIXTURE), str(broken), "--config", str(config)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "db.sqlite").exists()
