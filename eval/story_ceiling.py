"""How far can words go? The best recall of "same story" any combination of lexical features
reaches at a given precision, learned from the labelled pairs (README, "Stories", «How far
words can go»).

    pip install -e ".[eval]"
    python eval/story_ceiling.py [--data DIR] [--pairs FILE]

The story detector is a set of hand-written rules over word stems, numbers and names. Would
a model fitted to the labels do much better with the same kind of evidence? Each labelled
pair gets the features a lexical method can see: overlaps of the two posts' stem sets (plain
and weighted by how rare each stem is in the corpus), the rare stems they share, their
capitalised names and numbers (shared, and new in the later post), the hours between them,
their lengths, whether one channel posted both, and the detector's own decision. Two
scikit-learn models are fitted to them, a logistic regression and gradient-boosted trees,
and a pair is called "same" when the detector says so or the model's probability passes a
threshold.

- **Each set unseen.** For every labelled set in turn, the models are fitted on all the
  other sets, and the threshold is the lowest that keeps precision at 0.98 or more on
  those sets' out-of-fold predictions (one fold per set); then the set is scored once.
- **The ceiling.** Out-of-fold over all sets (each set predicted by models fitted on the
  others), the recall reached at precision 0.99, 0.98, 0.95 and 0.90. A threshold chosen
  after seeing the predictions flatters the model, so this is an upper bound of what such a
  model would do on posts it has not seen.

Deterministic: the same figures on every run (the rarity weights are summed with `math.fsum`,
which does not depend on the order of a set, and so on Python's string hashing).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluate_stories import (
    DEFAULT_DATA,
    DEFAULT_PAIRS,
    HALVES,
    PRECISION_AIM,
    Counts,
    Pair,
    PostKey,
    load_corpus,
    load_pairs,
    run_detector,
)

from monitor.stories.text import lines, numbers, stems, words

RARE: Final = 30
"""A stem in fewer posts of the corpus than this is rare: a name, a place, a term."""
_NAME: Final = re.compile(r"(?<=[\w,»\"] )[А-ЯЁA-Z][^\W\d_]{2,}")
"""A capitalised word inside a sentence, as the detector's headline names."""

FEATURES: Final = (
    "jaccard", "in_later", "in_earlier", "idf_jaccard", "idf_cosine", "idf_in_later",
    "idf_in_earlier", "rare_shared", "rare_idf", "names_jaccard", "names_new", "names_shared",
    "numbers_shared", "numbers_new", "numbers_gone", "hours", "log_minutes", "same_channel",
    "log_words_earlier", "log_words_later", "detector",
)  # fmt: skip


def features(
    pairs: Sequence[Pair], texts: dict[PostKey, str], said: dict[PostKey, set[PostKey]]
) -> list[list[float]]:
    df: Counter[str] = Counter()
    seen: dict[PostKey, tuple[frozenset[str], frozenset[str], frozenset[str], int]] = {}
    for key, text in texts.items():
        tokens = words("\n".join(lines(text)))
        post_stems = stems(tokens)
        names = frozenset(word[:5].lower() for word in _NAME.findall(text))
        seen[key] = (post_stems, numbers(tokens, post_stems), names, len(tokens))
        df.update(post_stems)

    def idf(stem: str) -> float:
        return math.log(len(texts) / (1 + df[stem]))

    rows = []
    for pair in pairs:
        a, b = pair.first, pair.second
        stems_a, numbers_a, names_a, length_a = seen[a.key]
        stems_b, numbers_b, names_b, length_b = seen[b.key]
        shared = stems_a & stems_b
        weight_shared = math.fsum(map(idf, shared))
        weight_a, weight_b = (
            math.fsum(map(idf, stems_a)) or 1.0,
            math.fsum(map(idf, stems_b)) or 1.0,
        )
        rare = [stem for stem in shared if df[stem] < RARE]
        hours = (b.date - a.date).total_seconds() / 3600
        rows.append(
            [
                len(shared) / max(1, len(stems_a | stems_b)),
                len(shared) / max(1, len(stems_b)),
                len(shared) / max(1, len(stems_a)),
                weight_shared / (weight_a + weight_b - weight_shared),
                weight_shared / math.sqrt(weight_a * weight_b),
                weight_shared / weight_b,
                weight_shared / weight_a,
                len(rare),
                math.fsum(map(idf, rare)),
                len(names_a & names_b) / max(1, len(names_a | names_b)),
                len(names_b - names_a),
                len(names_a & names_b),
                len(numbers_a & numbers_b),
                len(numbers_b - numbers_a),
                len(numbers_a - numbers_b),
                hours,
                math.log1p(hours * 60),
                float(a.channel == b.channel),
                math.log1p(length_a),
                math.log1p(length_b),
                float(a.key in said.get(b.key, set())),
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    args = parser.parse_args(argv)
    try:
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        print('story_ceiling: needs scikit-learn: pip install -e ".[eval]"')
        return 2

    posts = load_corpus(args.data)
    by_key = {post.key: post for post in posts}
    pairs, unsure = load_pairs(args.pairs, by_key)
    run = run_detector(sorted(posts, key=lambda p: (p.date, p.channel, p.message_id)))
    texts = {post.key: post.plain for post in posts}
    x = np.array(features(pairs, texts, run.originals))
    y = np.array([pair.same for pair in pairs])
    groups = np.array([pair.half for pair in pairs])
    detector = x[:, FEATURES.index("detector")].astype(bool)
    print(f"{len(pairs)} labelled pairs ({unsure} unsure left out), {len(FEATURES)} features")

    def model(name: str) -> Any:
        if name == "logistic regression":
            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        return HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
            random_state=0,
        )  # fmt: skip

    def out_of_fold(name: str, rows: Any) -> Any:
        folds = GroupKFold(n_splits=len(set(groups[rows])))
        return cross_val_predict(
            model(name), x[rows], y[rows], cv=folds, groups=groups[rows], method="predict_proba"
        )[:, 1]

    def threshold(scores: Any, rows: Any, aim: float) -> float:
        """The lowest threshold whose calls ("same": the detector or the score) on `rows`
        keep precision at `aim` or more; infinite (the detector alone) when none does."""
        best = math.inf
        for value in sorted(set(scores.tolist()), reverse=True):
            said = detector[rows] | (scores >= value)
            hits = int((said & y[rows]).sum())
            if hits and hits / int(said.sum()) >= aim:
                best = value
        return best

    def line(title: str, said: Any, truth: Any) -> str:
        counts = Counts()
        for one_truth, one_said in zip(truth.tolist(), said.tolist(), strict=True):
            counts.add(one_truth, one_said)
        return f"{title:34} {counts.row()}"

    for name in ("logistic regression", "gradient-boosted trees"):
        print(f"\n{name}: each set scored once, fitted on the others")
        print(f"{'pairs':34}   TP   FP   FN   TN    prec recall")
        called = np.zeros(len(pairs), dtype=bool)
        for half in HALVES:
            train, test = groups != half, groups == half
            if not test.any():
                continue
            cut = threshold(out_of_fold(name, train), train, PRECISION_AIM)
            scores = model(name).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
            said = detector[test] | (scores >= cut)
            called[test] = said
            print(line(half, said, y[test]))
            print(line("  the detector alone", detector[test], y[test]))
        print(line("all sets", called, y))
        print(line("  the detector alone", detector, y))
        every = np.ones(len(pairs), dtype=bool)
        scores = out_of_fold(name, every)
        ceiling = []
        for aim in (0.99, PRECISION_AIM, 0.95, 0.90):
            said = detector | (scores >= threshold(scores, every, aim))
            ceiling.append(f"{aim:.2f}: {(said & y).sum() / y.sum():.3f}")
        print("the ceiling, recall at precision " + ", ".join(ceiling))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
