"""Consistency of the story evaluation set, eval/story_pairs.jsonl (eval/README.md, "Stories").

The corpus check needs the real posts at ../shared/data/telegram-news (see
../shared/data/README.md); it is skipped, saying so, when that folder is absent.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
PAIRS: Final = REPO_ROOT / "eval" / "story_pairs.jsonl"
CORPUS_DIR: Final = REPO_ROOT.parent / "shared" / "data" / "telegram-news"


def _pairs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]


def test_every_pair_has_a_label_a_source_and_a_kind_when_same() -> None:
    seen = set()
    for row in _pairs():
        a, b = tuple(row["a"]), tuple(row["b"])
        assert a != b
        assert frozenset((a, b)) not in seen, f"{a} {b} labelled twice"
        seen.add(frozenset((a, b)))
        assert row["label"] in {"same", "different", "unsure"}
        assert row["source"]
        assert ("kind" in row) == (row["label"] == "same"), row
        if "kind" in row:
            assert row["kind"] in {"copy", "rewrite"}
    assert len(seen) >= 500


@pytest.mark.skipif(
    not CORPUS_DIR.is_dir(),
    reason=f"real corpus not found at {CORPUS_DIR} (see ../shared/data/README.md)",
)
def test_every_pair_is_two_real_posts_within_a_day() -> None:
    dates = {}
    for path in CORPUS_DIR.glob("*_messages.json"):
        for raw in json.loads(path.read_text(encoding="utf-8")):
            dates[(raw["channel"], raw["message_id"])] = datetime.fromisoformat(raw["date"])
    for row in _pairs():
        a, b = dates[(row["a"][0], row["a"][1])], dates[(row["b"][0], row["b"][1])]
        assert abs(a - b) <= timedelta(hours=24), row
