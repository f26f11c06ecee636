"""Precision and recall of "same story" on hand-labelled pairs of real posts.

Usage (from the repo root):

    python eval/evaluate_stories.py [--data DIR] [--pairs eval/story_pairs.jsonl]
                                    [--methods] [--show-errors]

Two parts:

1. The shipped detector, end to end: every post of the corpus goes through
   `monitor.stories.StoryIndex` in date order, as it would live, and a labelled pair counts
   as "same story" when both posts ended in one story.
2. With --methods, the candidate methods compared pair by pair (a score per pair and a
   threshold). Each method's threshold is chosen on the "dev" pairs (the highest recall
   with precision ≥ 0.98) and its figures are reported on the "held-out" pairs.

The "dev" pairs are the ones the detector was developed on (its rules and thresholds were
chosen looking at them). The "held-out" pairs were drawn and labelled afterwards with the
detector frozen, but its errors on them were then read and two vetoes added: they are no longer
unseen. The "held-out B" pairs were drawn and labelled after that with the detector frozen
again; its three false merges there were read and two more vetoes added. The "held-out C"
pairs were drawn and labelled after that, with the detector frozen once more; nothing was
changed after its one false merge was read, but its errors have been seen since. The
"held-out D" pairs were drawn and labelled after that (two parts, seeds 4000 and 5000), read
before the detector ran on any of them; its errors were read since and rules written on
them. The
"held-out E" pairs were drawn and labelled after that with the detector frozen at 047363e
(two parts, seeds 6000 and 7000), read before the detector ran on any of them, and were
measured once unseen (with 9b9afa9); their errors were read since and rules written on them
(eval/README.md, "Stories"). The "held-out F" pairs (two parts, seeds 8000 and 9000) were
drawn and labelled with the detector frozen at 9b9afa9, read before any detector ran on them,
and measured once with 9b9afa9 and once with dc15665 (the rules written meanwhile by someone
who never saw them): the unseen measure of those rules; their errors were read since and
rules written on them. The "held-out G" pairs (two parts, seeds 10000 and 11000) were drawn
and labelled with the detector frozen at dc15665, read before any detector ran on them, and
measured once with dc15665 and once with c1c6312 (the rules written on F's errors meanwhile,
by someone who never saw G). The "held-out H" pairs (two parts, seeds 12000 and 13000) were
drawn and labelled with the detector frozen at c1c6312, each pair by two readers blind to each
other (the second's labels are `story_pairs_second_reader.jsonl`), and measured once with
c1c6312. The "held-out I" pairs (two parts, seeds 14000 and 15000) were drawn and labelled
with the detector frozen at cbbd082 (c1c6312's decisions), each pair by two readers blind to
each other, read before any detector ran on them, and measured once with it: the unseen
measure of this version.

Pairs labelled "unsure" are left out of the counts (their number is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from label_tools.story_candidates import BANDS, Post, candidates  # noqa: E402
from label_tools.story_candidates import load as load_candidate_posts  # noqa: E402

from monitor.stories import StoryIndex  # noqa: E402
from monitor.stories.text import lines  # noqa: E402
from monitor.stories.text import words as line_words  # noqa: E402

DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "telegram-news"
DEFAULT_PAIRS: Final = REPO_ROOT / "eval" / "story_pairs.jsonl"
DEFAULT_SECOND: Final = REPO_ROOT / "eval" / "story_pairs_second_reader.jsonl"
"""A second reader's labels of some of the pairs (held-out H and I), made without seeing the
first reader's: how far two readers agree, and the detector on the pairs both label alike."""
PRECISION_AIM: Final = 0.98
HALVES: Final = (
    "held-out I",
    "held-out H",
    "held-out G",
    "held-out F",
    "held-out E",
    "held-out D",
    "held-out C",
    "held-out B",
    "held-out",
    "dev",
)

PostKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Pair:
    first: Post
    second: Post
    same: bool
    kind: str  # "copy" or "rewrite" for a same-story pair, "" otherwise
    note: str
    source: str

    @property
    def half(self) -> str:
        """ "dev", or its held-out set: "held-out" (the first), "held-out B" to "held-out I"."""
        for half in HALVES[:-2]:
            if self.source.startswith(half):
                return half
        return "held-out" if self.source.startswith("held-out") else "dev"


def load_corpus(data: Path) -> list[Post]:
    if not data.is_dir():
        print(f"evaluate_stories: corpus not found at {data} (see ../shared/data/README.md)")
        raise SystemExit(2)
    return load_candidate_posts(data)


def load_pairs(path: Path, posts: dict[PostKey, Post]) -> tuple[list[Pair], int]:
    pairs, unsure = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["label"] == "unsure":
            unsure += 1
            continue
        a, b = posts[(row["a"][0], row["a"][1])], posts[(row["b"][0], row["b"][1])]
        first, second = sorted((a, b), key=lambda p: (p.date, p.channel, p.message_id))
        same = row["label"] == "same"
        pairs.append(
            Pair(first, second, same, row.get("kind", ""), row.get("note", ""), row["source"])
        )
    return pairs, unsure


@dataclass(slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, said: bool) -> None:
        if truth and said:
            self.tp += 1
        elif said:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def row(self) -> str:
        return (
            f"{self.tp:>4} {self.fp:>4} {self.fn:>4} {self.tn:>4}  "
            f"{self.precision:>6.3f} {self.recall:>6.3f}"
        )


# --- methods compared pair by pair ------------------------------------------------------


def words(text: str) -> list[str]:
    return [word for line in lines(text) for word in line_words(line)]


@cache
def lemma(word: str) -> str:
    from monitor.matching.morphology import normal_forms

    return normal_forms(word)[0]


def raw_words(post: Post) -> list[str]:
    return words(post.plain)


def lemma_words(post: Post) -> list[str]:
    return [lemma(w) for w in words(post.plain)]


def shingles(tokens: Sequence[str], k: int) -> frozenset[tuple[str, ...]]:
    if len(tokens) < k:
        return frozenset({tuple(tokens)}) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1))


Score = Callable[[Post, Post], float]


def set_measure(tokens: Callable[[Post], list[str]], k: int, measure: str) -> Score:
    def score(a: Post, b: Post) -> float:
        sa, sb = shingles(tokens(a), k), shingles(tokens(b), k)
        if not sa or not sb:
            return 0.0
        shared = len(sa & sb)
        if measure == "jaccard":
            return shared / len(sa | sb)
        if measure == "containment":
            return shared / min(len(sa), len(sb))
        # "later": how much of the later post the earlier one already had.
        return shared / len(sb)

    return score


def fuzz_measure(name: str) -> Score:
    from rapidfuzz import fuzz

    scorer = getattr(fuzz, name)

    def score(a: Post, b: Post) -> float:
        return float(scorer(" ".join(words(a.plain)), " ".join(words(b.plain)))) / 100

    return score


def minhash_measure(k: int, num_perm: int = 128) -> Score:
    from datasketch import MinHash

    def signature(post: Post) -> MinHash:
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([" ".join(s).encode() for s in shingles(raw_words(post), k)])
        return m

    def score(a: Post, b: Post) -> float:
        return float(signature(a).jaccard(signature(b)))

    return score


def exact(a: Post, b: Post) -> float:
    return float(words(a.plain) == words(b.plain))


def methods() -> dict[str, Score]:
    found: dict[str, Score] = {"exact normalised text": exact}
    for name in ("ratio", "token_set_ratio", "token_sort_ratio", "partial_ratio"):
        found[f"rapidfuzz {name}"] = fuzz_measure(name)
    for k in (1, 2, 3):
        for measure in ("jaccard", "containment", "later"):
            found[f"raw words k={k} {measure}"] = set_measure(raw_words, k, measure)
            found[f"lemmas k={k} {measure}"] = set_measure(lemma_words, k, measure)
    found["minhash k=3 (128 perm) jaccard"] = minhash_measure(3)
    return found


def choose_threshold(scored: list[tuple[float, bool]]) -> float:
    """The lowest threshold whose precision on `scored` is at least PRECISION_AIM."""
    best = 1.01
    for threshold in sorted({s for s, _ in scored}, reverse=True):
        counts = Counts()
        for score, truth in scored:
            counts.add(truth, score >= threshold)
        if counts.precision >= PRECISION_AIM:
            best = threshold
    return best


def compare_methods(pairs: list[Pair]) -> None:
    print(
        f"\nMethods compared pair by pair on the held-out C pairs "
        f"(threshold chosen on dev: precision ≥ {PRECISION_AIM})"
    )
    print(
        f"{'method':<36} {'thr':>5}  {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}  {'prec':>6} recall"
    )
    for name, score in methods().items():
        scored = [(score(p.first, p.second), p) for p in pairs]
        threshold = choose_threshold([(s, p.same) for s, p in scored if p.half == "dev"])
        held_out = Counts()
        for s, p in scored:
            if p.half == "held-out C":
                held_out.add(p.same, s >= threshold)
        print(f"{name:<36} {threshold:>5.2f}  {held_out.row()}")


# --- the shipped detector ------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    stories: dict[PostKey, PostKey]
    originals: dict[PostKey, set[PostKey]]


def run_detector(posts: list[Post]) -> Run:
    index = StoryIndex()
    run = Run({}, {})
    for post in posts:
        ref = index.assign(post.channel, post.message_id, post.date, post.plain)
        run.stories[post.key] = (str(ref.channel), ref.message_id)
        found = index.originals(post.channel, post.message_id)
        run.originals[post.key] = {(str(r.channel), r.message_id) for r in found}
    return run


def report(title: str, pairs: list[Pair], said: Callable[[Pair], bool]) -> list[Pair]:
    counts = {half: Counts() for half in (*HALVES, "all")}
    errors = []
    for pair in pairs:
        verdict = said(pair)
        counts["all"].add(pair.same, verdict)
        counts[pair.half].add(pair.same, verdict)
        if verdict != pair.same:
            errors.append(pair)
    print(f"\n{title}")
    print(f"{'pairs':<10} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}  {'prec':>6} {'recall':>6}")
    for name, c in counts.items():
        print(f"{name:<10} {c.row()}")
    for half in HALVES:
        for kind in ("copy", "rewrite"):
            of_kind = [p for p in pairs if p.kind == kind and p.half == half]
            found = sum(said(p) for p in of_kind)
            share = found / max(1, len(of_kind))
            print(f"recall on {half} {kind} pairs: {found}/{len(of_kind)} = {share:.3f}")
    return errors


def estimate_population(
    posts: list[Post], pairs: list[Pair], said: Callable[[Pair], bool]
) -> None:
    """Precision and recall over every candidate pair of the corpus, estimated from each
    held-out set's random samples of each band: each sampled pair stands for its band's
    size divided by the band's sample (a stratified estimate)."""
    band_of: dict[tuple[PostKey, PostKey], int] = {}
    sizes = [0] * (len(BANDS) - 1)
    for j, i, overlap in candidates(posts):
        band = next(n for n, top in enumerate(BANDS[1:]) if overlap < top)
        a, b = posts[j], posts[i]
        band_of[(a.key, b.key)] = band
        sizes[band] += 1
    for half in HALVES[:-1]:
        _estimate(half, sizes, band_of, pairs, said)


def _estimate(
    half: str,
    sizes: list[int],
    band_of: dict[tuple[PostKey, PostKey], int],
    pairs: list[Pair],
    said: Callable[[Pair], bool],
) -> None:
    sampled: dict[int, list[Pair]] = {}
    for pair in pairs:
        found = band_of.get((pair.first.key, pair.second.key))
        if pair.half == half and ", band" in pair.source and found is not None:
            sampled.setdefault(found, []).append(pair)
    tp = fp = fn = 0.0
    for band, members in sampled.items():
        weight = sizes[band] / len(members)
        for pair in members:
            verdict = said(pair)
            tp += weight * (pair.same and verdict)
            fp += weight * (not pair.same and verdict)
            fn += weight * (pair.same and not verdict)
    print(
        f"\nEstimated over all {sum(sizes)} candidate pairs of the corpus "
        f"(bands {', '.join(str(n) for n in sizes)}; "
        f"{sum(len(m) for m in sampled.values())} {half} band samples weighted by band size):"
        f"\nprecision {tp / max(tp + fp, 1e-9):.3f}, recall {tp / max(tp + fn, 1e-9):.3f}"
    )
    for band, members in sorted(sampled.items()):
        verdicts = [(p.same, said(p)) for p in members]
        print(
            f"  band {band}: {sizes[band]} pairs, {len(members)} sampled: "
            f"{sum(t and v for t, v in verdicts)} TP, {sum(v and not t for t, v in verdicts)} FP, "
            f"{sum(t and not v for t, v in verdicts)} FN"
        )


def second_reading(path: Path, pairs: list[Pair], said: Callable[[Pair], bool]) -> None:
    """Agreement of the second reader with the first (`pairs`), and the detector's figures
    on the pairs both read alike, set by set. Unsure, by either reader, is left out."""
    if not path.exists():
        return
    first = {(p.first.key, p.second.key): p for p in pairs}
    by_half: dict[str, list[tuple[Pair, bool]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        a, b = (row["a"][0], row["a"][1]), (row["b"][0], row["b"][1])
        pair = first.get((a, b)) or first.get((b, a))
        if pair is not None and row["label"] != "unsure":
            by_half.setdefault(pair.half, []).append((pair, row["label"] == "same"))
    for half in HALVES:
        both = by_half.get(half)
        if not both:
            continue
        agreed = [pair for pair, same in both if pair.same == same]
        observed = len(agreed) / len(both)
        first_same = sum(pair.same for pair, _ in both) / len(both)
        second_same = sum(same for _, same in both) / len(both)
        chance = first_same * second_same + (1 - first_same) * (1 - second_same)
        kappa = (observed - chance) / (1 - chance)
        print(
            f"\nA second reader of {half} ({path.name}): {len(both)} pairs read by both "
            f"(neither unsure), {len(agreed)} alike: agreement {observed:.3f}, "
            f"Cohen's kappa {kappa:.3f}"
        )
        counts = Counts()
        for pair in agreed:
            counts.add(pair.same, said(pair))
        print(f"the detector on the {len(agreed)} pairs both read alike: {counts.row()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--methods", action="store_true", help="also compare the methods")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--second", type=Path, default=DEFAULT_SECOND)
    args = parser.parse_args(argv)
    posts = load_corpus(args.data)
    pairs, unsure = load_pairs(args.pairs, {p.key: p for p in posts})
    same = sum(p.same for p in pairs)
    print(
        f"{len(pairs)} labelled pairs: {same} same story "
        f"({sum(p.kind == 'copy' for p in pairs)} copies, "
        f"{sum(p.kind == 'rewrite' for p in pairs)} rewrites), {len(pairs) - same} different "
        f"({unsure} unsure, left out); "
        + ", ".join(f"{half} {sum(p.half == half for p in pairs)}" for half in reversed(HALVES))
    )
    run = run_detector(posts)
    errors = report(
        "The detector's decision: is the later post a copy of the earlier one?",
        pairs,
        lambda p: p.first.key in run.originals[p.second.key],
    )
    report(
        "The stories it builds over the whole corpus in date order: do both end in one?",
        pairs,
        lambda p: run.stories[p.first.key] == run.stories[p.second.key],
    )
    estimate_population(posts, pairs, lambda p: p.first.key in run.originals[p.second.key])
    second_reading(args.second, pairs, lambda p: p.first.key in run.originals[p.second.key])
    stories_count = len(set(run.stories.values()))
    print(f"{len(posts)} posts → {stories_count} stories ({len(posts) - stories_count} copies)")
    if args.show_errors:
        for pair in errors:
            kind = "FN" if pair.same else "FP"
            print(f"\n{kind} {pair.kind} {pair.first.key} {pair.second.key} {pair.note}")
            for p in (pair.first, pair.second):
                print(f"   {p.date:%m-%d %H:%M} {' '.join(p.plain.split())[:300]}")
    if args.methods:
        compare_methods(pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
