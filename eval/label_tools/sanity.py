"""Sanity negatives: a seeded random sample of posts that no broad regex selects.

Usage (from the repo root):

    python eval/label_tools/sanity.py [--k 30]            # print the sample to read
    python eval/label_tools/sanity.py [--k 30] --record   # after reading: record them as
                                                          # negative for every topic

These posts are negatives by construction (none contains any candidate stem); reading them
checks that the broad regexes did not miss a spelling nobody thought of.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script: make the sibling modules importable as the label_tools package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from label_tools.candidates import BROAD, DEFAULT_DATA, load_posts, non_candidates, rough_plain
from label_tools.record import LABELS, apply, read_labels, write_labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args(argv)
    sample = non_candidates(load_posts(args.data), args.k)
    if not args.record:
        for i, post in enumerate(sample):
            text = " ".join(rough_plain(post.text).split())
            print(f"#{i} {post.channel}/{post.message_id}\n   {text}")
        return 0
    labels = read_labels(LABELS)
    for post in sample:
        for topic in BROAD:
            apply(labels, (post.channel, post.message_id), topic, False, "")
    write_labels(LABELS, labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
