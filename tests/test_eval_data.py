"""Consistency of the matching evaluation set: eval/topics.toml and eval/labels.jsonl.

The corpus checks need the real posts at ../shared/data/telegram-news (see
../shared/data/README.md); they are skipped, saying so, when that folder is absent.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import pytest

from monitor.matching import Matcher, TopicRule

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
EVAL_DIR: Final = REPO_ROOT / "eval"
CORPUS_DIR: Final = REPO_ROOT.parent / "shared" / "data" / "telegram-news"

needs_corpus = pytest.mark.skipif(
    not CORPUS_DIR.is_dir(),
    reason=f"real corpus not found at {CORPUS_DIR} (see ../shared/data/README.md)",
)


def _topics() -> list[dict[str, Any]]:
    data = tomllib.loads((EVAL_DIR / "topics.toml").read_text(encoding="utf-8"))
    topics: list[dict[str, Any]] = data["topics"]
    return topics


def _labels() -> list[dict[str, Any]]:
    text = (EVAL_DIR / "labels.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _candidates_module() -> ModuleType:
    # eval/label_tools is a folder of scripts, not an installed package.
    spec = importlib.util.spec_from_file_location(
        "eval_candidates", EVAL_DIR / "label_tools" / "candidates.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_topics_parse_with_unique_names_and_compile() -> None:
    topics = _topics()
    names = [t["name"] for t in topics]
    assert len(names) == len(set(names))
    rules = [
        TopicRule(
            name=t["name"],
            terms=tuple(t["terms"]),
            require=tuple(t.get("require", ())),
            exclude=tuple(t.get("exclude", ())),
        )
        for t in topics
    ]
    assert Matcher.compile(rules).topics == tuple(names)


def test_labels_are_consistent_with_topics() -> None:
    names = {t["name"] for t in _topics()}
    seen: set[tuple[str, int]] = set()
    for row in _labels():
        key = (row["channel"], row["message_id"])
        assert key not in seen, f"duplicate label line for {key}"
        seen.add(key)
        assert set(row["checked"]) <= names, row
        assert set(row["topics"]) <= set(row["checked"]), row


def test_every_topic_has_a_candidate_regex_and_labels() -> None:
    broad = _candidates_module().BROAD
    checked = {topic for row in _labels() for topic in row["checked"]}
    for topic in _topics():
        assert topic["name"] in broad, f"no candidate regex for {topic['name']}"
        assert topic["name"] in checked, f"no labels for {topic['name']}"


@needs_corpus
def test_labels_reference_posts_in_the_corpus() -> None:
    corpus = {
        (post["channel"], int(post["message_id"]))
        for path in CORPUS_DIR.glob("*.json")
        for post in json.loads(path.read_text(encoding="utf-8"))
    }
    missing = [(r["channel"], r["message_id"]) for r in _labels()]
    missing = [key for key in missing if key not in corpus]
    assert missing == []


@needs_corpus
def test_positive_labels_are_inside_the_candidate_set() -> None:
    # "Not selected by the broad regex" is what makes a post a negative by construction,
    # so a hand-labelled positive outside it would mean the regex is too narrow.
    cands = _candidates_module()
    posts = {(p.channel, p.message_id): p for p in cands.load_posts(CORPUS_DIR)}
    outside = []
    for row in _labels():
        post = posts[(row["channel"], row["message_id"])]
        text = cands.fold(cands.rough_plain(post.text))
        for topic in row["topics"]:
            if not re.search(cands.BROAD[topic], text):
                outside.append((topic, post.channel, post.message_id))
    assert outside == []
