"""Benchmark: morphology-aware matching against naive substring search on 22,099 real posts.

Usage: python bench/bench_matching.py [--data DIR] [--repeat N] [--topics N] [--seed S]

DIR defaults to ../shared/data/telegram-news next to the repository. Posts are converted
from Telethon markdown to plain text once, untimed. Each scan is timed over all posts, for
the three mission topics and for three sets of --topics (1,000) topics built deterministically
from the corpus vocabulary (analyst-style, a broad stress set, and one-word names that
exercise the capitalisation and sentence-context rules), side by side with two
naive baselines over the same posts: `term.lower() in text.lower()` exactly as written (the
post lowered once per term) and the same with the post lowered once per post. Prints
figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import random
import re
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from monitor.markdown import markdown_to_plain
from monitor.matching import Matcher, TopicRule
from monitor.matching.morphology import shared_analyzer

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "telegram-news"

MISSION_TOPICS: Final = (
    TopicRule("visit", ("визит", "посетить", "посещение")),
    TopicRule("invitation", ("пригласить", "приглашение")),
    TopicRule("kim_jong_un", ("Ким Чен Ын", "Kim Jong Un")),
)

_WORD: Final = re.compile(r"[^\W\d_]{5,}")
_NAME_PAIR: Final = re.compile(r"\b([А-ЯЁ][а-яё]{2,}) ([А-ЯЁ][а-яё]{2,})\b")
_MID_SENTENCE_CAPITAL: Final = re.compile(r"(?<=[а-яё,] )[А-ЯЁ][а-яё]{3,}\b")


def load_posts(data: Path) -> list[str]:
    files = sorted(data.glob("*.json"))
    if not files:
        sys.exit(f"No posts found: {data} has no *.json files (pass --data DIR).")
    texts: list[str] = []
    for path in files:
        for post in json.loads(path.read_text(encoding="utf-8")):
            texts.append(markdown_to_plain(post.get("text") or ""))
    return texts


def corpus_vocabulary(posts: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(surface words by frequency, lemmas by frequency, capitalised pairs seen ≥ 3 times)."""
    words: collections.Counter[str] = collections.Counter()
    pairs: collections.Counter[str] = collections.Counter()
    for text in posts:
        words.update(w.lower() for w in _WORD.findall(text))
        pairs.update(" ".join(pair) for pair in _NAME_PAIR.findall(text))
    analyzer = shared_analyzer()
    lemmas: collections.Counter[str] = collections.Counter()
    for word, count in words.items():
        lemmas[analyzer.parse(word)[0].normal_form] += count
    return (
        [w for w, _ in words.most_common()],
        [w for w, _ in lemmas.most_common()],
        [p for p, n in pairs.most_common(800) if n >= 3],
    )


def one_word_names(posts: Sequence[str], count: int) -> list[TopicRule]:
    """`count` topics of one capitalised word each, the words most often capitalised inside a
    sentence (surnames, places, brands): every occurrence goes through the name rules."""
    seen: collections.Counter[str] = collections.Counter()
    for text in posts:
        seen.update(_MID_SENTENCE_CAPITAL.findall(text))
    return [TopicRule(f"name{i}", (word,)) for i, (word, _) in enumerate(seen.most_common(count))]


def build_topics(
    vocabulary: Sequence[str], names: Sequence[str], count: int, seed: int
) -> list[TopicRule]:
    """`count` topics of 1-3 vocabulary words, a third with a name (a capitalised pair),
    some with `require` and `exclude`."""
    rng = random.Random(seed)
    topics: list[TopicRule] = []
    for index in range(count):
        terms = rng.sample(vocabulary, rng.randint(1, 3))
        if names and rng.random() < 0.3:
            terms.append(rng.choice(names))
        require = tuple(rng.sample(vocabulary, 1)) if rng.random() < 0.2 else ()
        exclude = tuple(rng.sample(vocabulary, 1)) if rng.random() < 0.1 else ()
        topics.append(TopicRule(f"topic{index}", tuple(terms), require, exclude))
    return topics


def all_terms(topics: Sequence[TopicRule]) -> list[str]:
    return [t for rule in topics for t in (*rule.terms, *rule.require, *rule.exclude)]


def timed(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def maxrss_mib() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(label: str, topics: Sequence[TopicRule], posts: Sequence[str], repeat: int) -> None:
    words = sum(len(text.split()) for text in posts)
    rss_before = maxrss_mib()
    started = time.perf_counter()
    matcher = Matcher.compile(topics)
    compile_s = time.perf_counter() - started
    rss_after = maxrss_mib()
    tracemalloc.start()
    Matcher.compile(topics)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    def run_matcher() -> int:
        return sum(1 for text in posts if matcher.match(text))

    topic_matches = hits = 0
    for text in posts:
        for found in matcher.match(text):
            topic_matches += 1
            hits += len(found.hits)

    terms = all_terms(topics)
    lowered = [t.lower() for t in terms]

    def run_naive_literal() -> int:
        return sum(1 for text in posts for term in terms if term.lower() in text.lower())

    def run_naive_once() -> int:
        hits = 0
        for text in posts:
            low = text.lower()
            hits += sum(1 for term in lowered if term in low)
        return hits

    matcher_s, matched = timed(run_matcher, repeat)
    once_s, once_hits = timed(run_naive_once, repeat)
    literal_s, literal_hits = timed(run_naive_literal, 1 if len(terms) > 50 else repeat)
    n = len(posts)
    print(f"\n== {label}: {len(topics)} topics, {len(terms)} terms ==")
    print(
        f"compile: {compile_s * 1000:.0f} ms  (tracemalloc peak {traced_peak / 2**20:.1f} MiB; ",
        end="",
    )
    print(f"maxrss {rss_before:.0f} -> {rss_after:.0f} MiB)")
    print(f"{'scan':<34}{'seconds':>9}{'posts/s':>11}{'words/s':>13}{'ratio':>8}  result")
    rows = (
        ("matcher (morphology-aware)", matcher_s, f"{matched} posts matched"),
        ("naive, post lowered once", once_s, f"{once_hits} term hits"),
        ("naive, term.lower() in text.lower()", literal_s, f"{literal_hits} term hits"),
    )
    for name, seconds, result in rows:
        print(
            f"{name:<34}{seconds:>9.3f}{n / seconds:>11,.0f}{words / seconds:>13,.0f}"
            f"{seconds / matcher_s:>8.2f}  {result}"
        )
    print(
        f"matcher output: {topic_matches:,} topic matches ({topic_matches / n:.1f} per post), "
        f"{hits:,} term hits"
    )
    print(
        f"matcher time / naive time: {matcher_s / once_s:.2f}x vs lowered-once, "
        f"{matcher_s / literal_s:.2f}x vs literal"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20241)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        sys.exit(f"Data folder not found: {args.data} (pass --data DIR).")
    started = time.perf_counter()
    shared_analyzer()
    print(
        f"Python {sys.version.split()[0]}; pymorphy3 load: {time.perf_counter() - started:.2f} s"
    )
    posts = load_posts(args.data)
    words = sum(len(text.split()) for text in posts)
    print(f"posts: {len(posts):,}  words: {words:,}  chars: {sum(map(len, posts)):,}")
    bench("mission topics", MISSION_TOPICS, posts, args.repeat)
    surface, lemmas, names = corpus_vocabulary(posts)
    # Analyst-style topics: words like "санкция" (lemma rank ~530), "визит" (~1,500),
    # "Лукашенко" (~4,200); the 300 most common lemmas ("банк", "курс", "Россия") are left
    # out because a topic made of them flags nearly every post of a news corpus.
    analyst = build_topics(lemmas[300:15000], names, args.topics, args.seed)
    bench(f"{args.topics} analyst topics (lemma ranks 300-15,000)", analyst, posts, args.repeat)
    # Stress: the most common surface words (ranks 150-6,000), so nearly every post matches
    # many topics and building the reported hits dominates.
    broad = build_topics(surface[150:6000], names, args.topics, args.seed)
    bench(f"{args.topics} broad topics (stress, word ranks 150-6,000)", broad, posts, args.repeat)
    names_only = one_word_names(posts, args.topics)
    bench(f"{len(names_only)} one-word name topics", names_only, posts, args.repeat)
    print(f"\npeak maxrss: {maxrss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
