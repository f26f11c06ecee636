"""Record hand decisions for candidates printed by candidates.py into eval/labels.jsonl.

Usage (from the repo root):

    python eval/label_tools/record.py TOPIC "0+; 1+; 2- визитная карточка; 3+"

Each entry is `<candidate number><+ or -> [note]`; entries are separated by `;`.
A post's line in labels.jsonl keeps every topic it was judged for in `checked` and the
positive ones in `topics`; recording a topic again for a post replaces the old decision.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Final

# Run as a script: make the sibling modules importable as the label_tools package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from label_tools.candidates import BROAD, DEFAULT_DATA, REPO_ROOT, candidates, load_posts

LABELS: Final = REPO_ROOT / "eval" / "labels.jsonl"
_ENTRY: Final = re.compile(r"^\s*(\d+)\s*([+-])\s*(.*?)\s*$")

Label = dict[str, object]


def read_labels(path: Path) -> dict[tuple[str, int], Label]:
    labels: dict[tuple[str, int], Label] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                labels[(row["channel"], int(row["message_id"]))] = row
    return labels


def write_labels(path: Path, labels: dict[tuple[str, int], Label]) -> None:
    rows = [labels[key] for key in sorted(labels)]
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )


def apply(
    labels: dict[tuple[str, int], Label],
    key: tuple[str, int],
    topic: str,
    positive: bool,
    note: str,
) -> None:
    row = labels.setdefault(
        key, {"channel": key[0], "message_id": key[1], "topics": [], "checked": []}
    )
    topics = [t for t in row["topics"] if t != topic]  # type: ignore[attr-defined]
    checked = [t for t in row["checked"] if t != topic]  # type: ignore[attr-defined]
    checked.append(topic)
    if positive:
        topics.append(topic)
    row["topics"], row["checked"] = topics, checked
    notes = [
        n for n in str(row.get("note", "")).split(" | ") if n and not n.startswith(topic + ":")
    ]
    if note:
        notes.append(f"{topic}: {note}")
    row["note"] = " | ".join(notes)
    if not row["note"]:
        del row["note"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("topic", choices=sorted(BROAD))
    parser.add_argument("decisions")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    found = candidates(args.topic, load_posts(args.data))
    labels = read_labels(LABELS)
    for entry in args.decisions.split(";"):
        if not entry.strip():
            continue
        m = _ENTRY.match(entry)
        if m is None:
            raise SystemExit(f"cannot parse entry {entry!r}")
        post, _ = found[int(m.group(1))]
        apply(labels, (post.channel, post.message_id), args.topic, m.group(2) == "+", m.group(3))
    write_labels(LABELS, labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
