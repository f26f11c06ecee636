"""Candidate pairs for the story labels (eval/story_pairs.jsonl): see eval/README.md, "Stories".

Usage (from the repo root):

    python eval/label_tools/story_candidates.py --out /tmp/candidates.jsonl
    python eval/label_tools/story_candidates.py --show /tmp/candidates.jsonl --band 3 --batch 0

Every pair of posts published within 24 hours of each other whose *sets of words* overlap
broadly (overlap coefficient of distinct words of at least 4 letters ≥ 0.25, at least 4 such
words shared) is a candidate. The measure is deliberately cruder and broader than any method
compared (no shingles, no lemmas, no order), so that it chooses what to read without choosing
the label. Candidates are put into bands by that overlap and a seeded sample of each band is
printed in batches for reading.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from monitor.markdown import markdown_to_plain  # noqa: E402

DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "telegram-news"
WINDOW: Final = timedelta(hours=24)
BANDS: Final = (0.25, 0.4, 0.55, 0.7, 0.85, 1.01)
_WORD: Final = re.compile(r"[^\W\d_]{4,}")
_URL: Final = re.compile(r"https?://\S+|\bt\.me/\S+|@\w+")
SEED: Final = 12
TECH: Final = frozenset(
    {
        "Naked Science",
        "Библиотека Go разработчика | Golang",
        "Хабр",
        "Типичный программист",
        "Библиотека питониста | Python, Django, Flask",
        "Библиотека программиста | программирование, кодинг, разработка",
    }
)
"""The programming and science channels: sister channels that cross-post, and templates."""


@dataclass(frozen=True, slots=True)
class Post:
    channel: str
    message_id: int
    date: datetime
    plain: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.channel, self.message_id)


def load(data: Path) -> list[Post]:
    posts = []
    for path in sorted(data.glob("*_messages.json")):
        for raw in json.loads(path.read_text(encoding="utf-8")):
            plain = markdown_to_plain(raw["text"] or "")
            posts.append(
                Post(raw["channel"], raw["message_id"], datetime.fromisoformat(raw["date"]), plain)
            )
    posts.sort(key=lambda p: (p.date, p.channel, p.message_id))
    return posts


def word_set(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(_URL.sub(" ", text.lower().replace("ё", "е"))))


def candidates(posts: list[Post]) -> list[tuple[int, int, float]]:
    sets = [word_set(p.plain) for p in posts]
    postings: dict[str, list[int]] = defaultdict(list)
    found: list[tuple[int, int, float]] = []
    start = 0
    for i, post in enumerate(posts):
        while posts[start].date < post.date - WINDOW:
            start += 1
        shared: dict[int, int] = defaultdict(int)
        for word in sets[i]:
            for j in postings[word]:
                if j >= start:
                    shared[j] += 1
        for j, count in shared.items():
            smaller = min(len(sets[i]), len(sets[j]))
            if count >= 4 and count / smaller >= BANDS[0]:
                found.append((j, i, count / smaller))
        for word in sets[i]:
            postings[word].append(i)
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--show", type=Path)
    parser.add_argument("--band", type=int, default=0)
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--chars", type=int, default=600)
    parser.add_argument(
        "--seed", type=int, default=SEED, help="another seed draws another sample of a band"
    )
    parser.add_argument(
        "--record",
        metavar="LETTERS",
        help="record the batch's decisions into --labels: one letter per pair, "
        "c (same story: a copy), r (same story: a rewrite), s (same story), d (different), "
        "u (unsure: left out of the counts)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="leave out the pairs already in --labels before sampling (held-out B and C)",
    )
    parser.add_argument(
        "--only",
        choices=("same-channel", "tech"),
        help="sample pairs within one channel (bands 2-4) or between the programming and "
        "science channels (any band) instead of a band",
    )
    parser.add_argument("--source", help="what the sample was drawn from (default: its band)")
    parser.add_argument("--note", action="append", default=[], metavar="N:TEXT")
    parser.add_argument("--labels", type=Path, default=REPO_ROOT / "eval" / "story_pairs.jsonl")
    args = parser.parse_args()
    if args.out:
        posts = load(args.data)
        with args.out.open("w", encoding="utf-8") as out:
            for j, i, score in candidates(posts):
                a, b = posts[j], posts[i]
                band = next(n for n, top in enumerate(BANDS[1:]) if score < top)
                out.write(
                    json.dumps(
                        {
                            "a": [a.channel, a.message_id],
                            "b": [b.channel, b.message_id],
                            "overlap": round(score, 3),
                            "band": band,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        return 0
    rows = [json.loads(line) for line in args.show.read_text(encoding="utf-8").splitlines()]
    if args.fresh and args.labels.exists():
        known = {
            (tuple(row["a"]), tuple(row["b"]))
            for row in map(json.loads, args.labels.read_text(encoding="utf-8").splitlines())
        }
        rows = [r for r in rows if (tuple(r["a"]), tuple(r["b"])) not in known]
    if args.only == "same-channel":
        rows = [dict(r, band=0) for r in rows if r["a"][0] == r["b"][0] and r["band"] >= 2]
    elif args.only == "tech":
        rows = [dict(r, band=0) for r in rows if r["a"][0] in TECH and r["b"][0] in TECH]
    in_band = [r for r in rows if r["band"] == args.band]
    random.Random(args.seed + args.band).shuffle(in_band)
    by_key = {(p.channel, p.message_id): p for p in load(args.data)}
    chunk = in_band[args.batch * args.size : (args.batch + 1) * args.size]
    if args.record is not None:
        return record(args, chunk)
    for n, row in enumerate(chunk):
        a, b = by_key[(row["a"][0], row["a"][1])], by_key[(row["b"][0], row["b"][1])]
        print(f"=== {args.batch * args.size + n} {row['a']} {row['b']} overlap {row['overlap']}")
        for p in (a, b):
            text = " ".join(p.plain.split())
            print(f"  [{p.channel} {p.date:%m-%d %H:%M}] {text[: args.chars]}")
    return 0


def record(args: argparse.Namespace, chunk: list[dict[str, Any]]) -> int:
    letters = args.record.replace(" ", "")
    if len(letters) != len(chunk) or set(letters) - set("crsdu"):
        print(f"need {len(chunk)} letters of c/r/s/d/u, got {letters!r}", file=sys.stderr)
        return 2
    notes = dict(note.split(":", 1) for note in args.note)
    first = args.batch * args.size
    known = set()
    if args.labels.exists():
        for line in args.labels.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            known.add((tuple(row["a"]), tuple(row["b"])))
    with args.labels.open("a", encoding="utf-8") as out:
        for n, (row, letter) in enumerate(zip(chunk, letters, strict=True)):
            if (tuple(row["a"]), tuple(row["b"])) in known:
                continue
            label: dict[str, object] = {
                "a": row["a"],
                "b": row["b"],
                "label": "different" if letter == "d" else "unsure" if letter == "u" else "same",
                "source": args.source or f"band {args.band}",
            }
            if letter in "cr":
                label["kind"] = "copy" if letter == "c" else "rewrite"
            if note := notes.get(str(first + n)):
                label["note"] = note
            out.write(json.dumps(label, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
