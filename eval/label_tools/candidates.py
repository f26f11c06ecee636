"""Print recall-oriented labelling candidates for one topic, in batches, hits highlighted.

This is a labelling aid only: the broad regexes below choose what a human reads; they are
never the label. Usage (from the repo root):

    python eval/label_tools/candidates.py TOPIC [--batch N] [--size 40] [--counts]

Candidates are ordered deterministically (by the set of matched surface forms, then channel
and message id) so the numbers printed here are what record.py refers to.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "telegram-news"

# Deliberately over-broad stems: every post that could contain any form of a topic's
# words (and many that cannot) is selected, so posts NOT selected are negatives by
# construction. Text is lower-cased with ё -> е before searching.
BROAD: Final[dict[str, str]] = {
    "visit": r"визит|посе[тщ]|visit",
    "invitation": r"пригла|invit",
    "kim_jong_un": r"(?<![а-яa-z])ким(?![а-я])|чен\s*ын|(?<![а-я])ын(?![а-я])|kim jong|\bkim\b",
    "kim_jong_un_visit": (
        r"(?<![а-яa-z])ким(?![а-я])|чен\s*ын|(?<![а-я])ын(?![а-я])|kim jong|\bkim\b"
    ),
    "lukashenko": r"лукаш|lukash",
    "south_korea": r"(?<![а-я])коре[йяиюе]|корее|южнокор|south korea",
    "sanctions": r"санкц|sanction",
    "state_duma": r"госдум|(?<![а-я])дум[аыеуо]й?(?![а-я])|\w*дум[аыеуо]й?\b|state duma",
    "dolina": r"долин",
    "oreshnik": r"орешн",
    "frost": r"мороз|frost",
    "musk": r"маск|musk",
    "elon_musk": r"илон|elon",
    "starmer": r"стармер|starmer",
    "volk": r"волк",
    "paul": r"(?<![а-я])пол(?:а|у|ом|е)?(?![а-я])",
    # Each name's first-name stem, then its surname's: every form of the phrase has both.
    "foreign_names": (
        r"джо[\s-]+байден|камал\w*[\s-]+харрис|(?<![а-я])си[\s-]+цзин|нарендр\w*[\s-]+моди"
        r"|марин\w*[\s-]+ле[\s-]*пен|эмм?ан\w*[\s-]+макрон|биньям\w*[\s-]+нетан"
        r"|марчел\w*[\s-]+чолак|(?<![а-я])ка[яиеюй]\w*[\s-]+каллас|кэш\w*[\s-]+пател"
        r"|сэм\w*[\s-]+альтман|дженсен\w*[\s-]+хуанг|джастин\w*[\s-]+сан"
        r"|майк\w*[\s-]+тайсон|джейк\w*[\s-]+пол|хабиб\w*[\s-]+нурмагомед"
        r"|линус\w*[\s-]+торвальдс|саломе[\s-]+зурабишвили|реджеп\w*[\s-]+(тайип\w*[\s-]+)?эрдоган"
        r"|кит\w*[\s-]+келлог"
    ),
}
SAMPLE_SEED: Final = 20241201
_LINK: Final = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKS: Final = re.compile(r"\*\*|__|~~|`")


@dataclass(frozen=True, slots=True)
class Post:
    channel: str
    message_id: int
    text: str


def rough_plain(text: str) -> str:
    """Good-enough markdown stripping for reading; evaluation uses the project's converter."""
    return _MARKS.sub("", _LINK.sub(r"\1", text))


def fold(text: str) -> str:
    return text.lower().replace("ё", "е")


def load_posts(data_dir: Path) -> list[Post]:
    posts: list[Post] = []
    for path in sorted(data_dir.glob("*.json")):
        for raw in json.loads(path.read_text(encoding="utf-8")):
            posts.append(Post(raw["channel"], int(raw["message_id"]), raw.get("text") or ""))
    return posts


def candidates(topic: str, posts: list[Post]) -> list[tuple[Post, list[tuple[int, int]]]]:
    pattern = re.compile(BROAD[topic])
    found: list[tuple[str, Post, list[tuple[int, int]]]] = []
    for post in posts:
        plain = rough_plain(post.text)
        spans = [m.span() for m in pattern.finditer(fold(plain))]
        if spans:
            forms = sorted({_word_at(plain, s) for s in spans})
            found.append(("|".join(forms), post, spans))
    found.sort(key=lambda item: (item[0], item[1].channel, item[1].message_id))
    return [(post, spans) for _, post, spans in found]


def non_candidates(posts: list[Post], k: int) -> list[Post]:
    """A seeded random sample of posts no broad regex selects (sanity negatives)."""
    patterns = [re.compile(p) for p in BROAD.values()]
    pool = [
        p
        for p in posts
        if p.text and not any(r.search(fold(rough_plain(p.text))) for r in patterns)
    ]
    return random.Random(SAMPLE_SEED).sample(pool, k)


def _word_at(text: str, span: tuple[int, int]) -> str:
    start, end = span
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[start:end]


def show(index: int, post: Post, spans: list[tuple[int, int]], width: int) -> str:
    plain = rough_plain(post.text)
    parts = []
    for start, end in spans:
        left = plain[max(0, start - width) : start].replace("\n", " ")
        right = plain[end : end + width].replace("\n", " ")
        parts.append(f"…{left}[[{plain[start:end]}]]{right}…")
    return f"#{index} {post.channel}/{post.message_id}\n   " + "\n   ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("topic", choices=sorted(BROAD))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--width", type=int, default=60)
    parser.add_argument("--counts", action="store_true", help="only print surface form counts")
    args = parser.parse_args(argv)
    found = candidates(args.topic, load_posts(args.data))
    if args.counts:
        print(len(found), "candidates")
        return 0
    lo = args.batch * args.size
    for i, (post, spans) in enumerate(found[lo : lo + args.size], start=lo):
        print(show(i, post, spans, args.width))
    print(f"-- {lo}..{min(lo + args.size, len(found)) - 1} of {len(found)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
