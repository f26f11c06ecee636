"""Precision and recall of monitor.matching on hand-labelled real posts.

Usage (from the repo root):

    python eval/evaluate.py [--data DIR] [--topics eval/topics.toml]
                            [--labels eval/labels.jsonl] [--show-errors]

For topic T a post's truth is: its hand label when labels.jsonl has T in `checked`;
negative when the broad candidate regex for T (eval/label_tools/candidates.py) does not
select it (negative by construction); otherwise unknown (a candidate nobody labelled),
which is left out of the counts and listed as an "unlabelled match" if the matcher fires.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from label_tools.candidates import BROAD, fold, rough_plain

from monitor.markdown import markdown_to_plain
from monitor.matching import Matcher, TopicMatch, TopicRule
from storage.errors import ChanwatchError

logger = logging.getLogger(__name__)

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "telegram-news"
DEFAULT_TOPICS: Final = REPO_ROOT / "eval" / "topics.toml"
DEFAULT_LABELS: Final = REPO_ROOT / "eval" / "labels.jsonl"
SNIPPET_RADIUS: Final = 70

PostKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class CorpusPost:
    channel: str
    message_id: int
    raw: str  # Telethon markdown as stored in the corpus
    plain: str  # what the matcher sees

    @property
    def key(self) -> PostKey:
        return (self.channel, self.message_id)


@dataclass(frozen=True, slots=True)
class Label:
    positive: frozenset[str]
    checked: frozenset[str]
    note: str


@dataclass(frozen=True, slots=True)
class Finding:
    post: CorpusPost
    snippet: str
    note: str


@dataclass(slots=True)
class TopicScore:
    topic: str
    labelled: int = 0  # posts whose label for this topic is known (hand or by construction)
    positives: int = 0
    tp: int = 0
    false_pos: list[Finding] = field(default_factory=list)
    false_neg: list[Finding] = field(default_factory=list)
    unlabelled: list[Finding] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        found = self.tp + len(self.false_pos)
        return self.tp / found if found else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.positives if self.positives else None


class EvalInputError(Exception):
    """A missing or malformed input file; main() prints it without a traceback."""


def load_rules(path: Path) -> list[TopicRule]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EvalInputError(f"cannot read topics file {path}: {exc}") from exc
    rules = []
    for table in data.get("topics", []):
        rules.append(
            TopicRule(
                name=str(table["name"]),
                terms=tuple(table.get("terms", ())),
                require=tuple(table.get("require", ())),
                exclude=tuple(table.get("exclude", ())),
            )
        )
    if not rules:
        raise EvalInputError(f"{path} has no [[topics]] tables")
    return rules


def load_labels(path: Path) -> dict[PostKey, Label]:
    labels: dict[PostKey, Label] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalInputError(f"cannot read labels file {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = (str(row["channel"]), int(row["message_id"]))
            labels[key] = Label(
                positive=frozenset(row["topics"]),
                checked=frozenset(row["checked"]),
                note=str(row.get("note", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalInputError(f"{path}:{number}: bad label line ({exc})") from exc
    return labels


def load_corpus(data_dir: Path) -> list[CorpusPost]:
    files = sorted(data_dir.glob("*.json"))
    if not files:
        raise EvalInputError(
            f"no corpus at {data_dir}: expected the telegram-news *.json files "
            "(see ../shared/data/README.md), or pass --data DIR"
        )
    posts = []
    for path in files:
        for raw in json.loads(path.read_text(encoding="utf-8")):
            text = raw.get("text") or ""
            posts.append(
                CorpusPost(raw["channel"], int(raw["message_id"]), text, markdown_to_plain(text))
            )
    return posts


def snippet(text: str, start: int, end: int, radius: int = SNIPPET_RADIUS) -> str:
    left = text[max(0, start - radius) : start]
    right = text[end : end + radius]
    return " ".join(f"…{left}[[{text[start:end]}]]{right}…".split())


def _hit_snippet(post: CorpusPost, match: TopicMatch) -> str:
    if not match.hits:
        return snippet(post.plain, 0, 0)
    shown = [snippet(post.plain, h.start, h.end) for h in match.hits[:3]]
    return "  /  ".join(shown)


def _candidate_snippet(post: CorpusPost, stems: re.Pattern[str] | None) -> str:
    """Where a missed post mentions the topic: the broad stem hit (offsets of rough_plain)."""
    text = rough_plain(post.raw)
    found = stems.search(fold(text)) if stems is not None else None
    if found is None:
        return snippet(post.plain, 0, 0, radius=2 * SNIPPET_RADIUS)
    return snippet(text, found.start(), found.end())


def evaluate(
    rules: Sequence[TopicRule], posts: Sequence[CorpusPost], labels: dict[PostKey, Label]
) -> list[TopicScore]:
    matcher = Matcher.compile(rules)
    stems = {name: re.compile(pattern) for name, pattern in BROAD.items()}
    matched: dict[str, dict[PostKey, TopicMatch]] = {rule.name: {} for rule in rules}
    for post in posts:
        for match in matcher.match(post.plain):
            matched[match.topic][post.key] = match
    scores = []
    for rule in rules:
        score = TopicScore(rule.name)
        topic_stems = stems.get(rule.name)
        for post in posts:
            label = labels.get(post.key)
            hit = matched[rule.name].get(post.key)
            note = label.note if label is not None else ""
            if label is not None and rule.name in label.checked:
                truth: bool | None = rule.name in label.positive
            elif topic_stems is not None and not topic_stems.search(fold(rough_plain(post.raw))):
                truth = False
            else:
                truth = None
            if truth is None:
                if hit is not None:
                    score.unlabelled.append(Finding(post, _hit_snippet(post, hit), note))
                continue
            score.labelled += 1
            score.positives += truth
            if hit is not None and truth:
                score.tp += 1
            elif hit is not None:
                score.false_pos.append(Finding(post, _hit_snippet(post, hit), note))
            elif truth:
                score.false_neg.append(Finding(post, _candidate_snippet(post, topic_stems), note))
        scores.append(score)
    return scores


def _ratio(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def render_table(scores: Sequence[TopicScore]) -> str:
    header = (
        f"{'topic':<20} {'known':>6} {'pos':>5} {'TP':>5} {'FP':>4} {'FN':>4} "
        f"{'prec':>6} {'recall':>6} {'unlab':>6}"
    )
    lines = [header, "-" * len(header)]
    for s in scores:
        lines.append(
            f"{s.topic:<20} {s.labelled:>6} {s.positives:>5} {s.tp:>5} {len(s.false_pos):>4} "
            f"{len(s.false_neg):>4} {_ratio(s.precision):>6} {_ratio(s.recall):>6} "
            f"{len(s.unlabelled):>6}"
        )
    return "\n".join(lines)


def render_findings(scores: Sequence[TopicScore], *, errors: bool) -> str:
    out: list[str] = []
    for s in scores:
        groups = (
            [("FP", s.false_pos), ("FN", s.false_neg)]
            if errors
            else [("unlabelled match", s.unlabelled)]
        )
        for kind, findings in groups:
            for f in findings:
                out.append(f"[{s.topic}] {kind} {f.post.channel}/{f.post.message_id}")
                out.append(f"    {f.snippet}")
                if f.note:
                    out.append(f"    label note: {f.note}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="corpus folder")
    parser.add_argument("--topics", type=Path, default=DEFAULT_TOPICS)
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--show-errors", action="store_true", help="list every FP and FN")
    args = parser.parse_args(argv)
    try:
        rules = load_rules(args.topics)
        labels = load_labels(args.labels)
        posts = load_corpus(args.data)
        scores = evaluate(rules, posts, labels)
    except (EvalInputError, ChanwatchError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"{len(posts)} posts, {len(labels)} hand-labelled\n")
    print(render_table(scores))
    print(
        "\nknown = hand-labelled + negatives by construction; "
        "unlab = matches on candidates nobody labelled"
    )
    if args.show_errors:
        print("\nErrors (FP = matched but labelled negative, FN = labelled positive, missed):")
        print(render_findings(scores, errors=True))
    unlabelled = render_findings(scores, errors=False)
    if unlabelled:
        print("\nUnlabelled matches (review and label them):")
        print(unlabelled)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
