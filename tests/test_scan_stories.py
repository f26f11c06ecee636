"""`chanwatch scan` groups copies into stories, through the CLI, on small exports of two
channels: a news item and its copy under another header and footer, two different dollar
rates, two different fires, a media caption, and the same text again a day later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chanwatch.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "stories"
FIRST = str(FIXTURES / "rian.json")  # channel 1001
SECOND = str(FIXTURES / "mash.json")  # channel 2002
CONFIG = """
[[topics]]
name = "visit"
terms = ["визит", "посетить"]
[[topics]]
name = "fire"
terms = ["загореться", "пожар"]
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "chanwatch.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return str(path)


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[str], str]:
    assert main(["scan", *args, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    return out.splitlines(), err


def records(lines: list[str]) -> list[tuple[int, int, list[str], list[int]]]:
    found = []
    for line in lines:
        record = json.loads(line)
        found.append(
            (record["channel_id"], record["message_id"], record["topics"], record["story"])
        )
    return found


def test_scan_all_prints_every_post_in_date_order_with_its_story(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, err = scan(capsys, SECOND, FIRST, "--config", config, "--all")
    assert records(lines) == [
        (1001, 10, ["visit"], [1001, 10]),
        # The same news three minutes later, with another header and footer: a copy.
        (2002, 500, ["visit"], [1001, 10]),
        # Another rate is news of its own, although only the numbers differ.
        (1001, 11, [], [1001, 11]),
        (2002, 501, [], [2002, 501]),
        # A fire, then another fire in another place: two events of one kind.
        (1001, 12, ["fire"], [1001, 12]),
        # «Видео» says too little to be anyone's copy.
        (1001, 13, [], [1001, 13]),
        (2002, 502, ["fire"], [2002, 502]),
        # The first post's text again, 25 hours later: outside the 24-hour window.
        (2002, 503, ["visit"], [2002, 503]),
    ]
    assert "8 post(s) in 2 export(s)" in err


def test_stories_do_not_depend_on_the_order_the_exports_are_given(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    one, _ = scan(capsys, FIRST, SECOND, "--config", config, "--all")
    other, _ = scan(capsys, SECOND, FIRST, "--config", config, "--all")
    assert one == other


def test_scan_prints_matching_posts_only_but_groups_them_with_every_post(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, err = scan(capsys, SECOND, FIRST, "--config", config)
    assert [(r[0], r[1], r[3]) for r in records(lines)] == [
        (1001, 10, [1001, 10]),
        (2002, 500, [1001, 10]),
        (1001, 12, [1001, 12]),
        (2002, 502, [2002, 502]),
        (2002, 503, [2002, 503]),
    ]
    assert "5 matching post(s) in 2 export(s)" in err


def test_the_table_names_the_post_a_copy_belongs_to(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, _ = scan(capsys, FIRST, SECOND, "--config", config, "--all", "--format", "table")
    assert len(lines) == 9
    copy = next(line for line in lines if " 500 " in line)
    assert copy.endswith("visit: посетить  (copy of 1001/10)")
    assert not any("copy of" in line for line in lines if " 500 " not in line)
    assert next(line for line in lines if " 11 " in line).endswith("  -")


def test_no_stories_streams_each_export_in_file_order_without_stories(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, _ = scan(capsys, SECOND, FIRST, "--config", config, "--all", "--no-stories")
    found = [json.loads(line) for line in lines]
    assert [(r["channel_id"], r["message_id"]) for r in found] == [
        (2002, 500),
        (2002, 501),
        (2002, 502),
        (2002, 503),
        (1001, 10),
        (1001, 11),
        (1001, 12),
        (1001, 13),
    ]
    assert all("story" not in r for r in found)


def test_a_bad_export_among_good_ones_fails_before_anything_is_printed(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x", "messages": [', encoding="utf-8")
    assert main(["scan", FIRST, str(broken), "--config", config, "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "broken.json: not valid JSON" in err
