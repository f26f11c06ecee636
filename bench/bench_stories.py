"""Story grouping: `chanwatch scan` over the corpus with and without it, and the cost of the
story detector per post.

    .venv/bin/python bench/bench_stories.py [--data DIR] [--repeat N] [--decisions FILE]

1. Writes the corpus (22,099 posts of 24 channels) as Telegram Desktop exports with
   eval/make_exports.py into a temporary folder and runs the whole command
   `chanwatch scan EXPORTS --config config.example.toml` as a subprocess, alternately with
   `--no-stories` (the scan as it was before stories: each export streamed in turn) and
   without (grouping on), --repeat times each. Prints the best wall and CPU time of each
   and their ratio.
2. Splits the grouped scan's CPU into its steps, in this process (best of --repeat each):
   starting the command (importing it), reading the exports, sorting, matching and the
   story detector. The detector needs every post, in date order, before its first
   decision and decides one post after the other, so a second process can take off the
   wall time only the steps that run beside it; the figures show how much that can be.
3. Feeds every corpus post in date order to `StoryIndex.assign`, as ingest does, and
   prints the CPU time per post (best of --repeat): the detector's share of ingest is this
   next to bench/bench_storage.py's time per post.

Both are CPU bound: on a machine shared with other work, compare the ratio, not the times.

With --decisions FILE it only writes every post's story and originals, fed in date order
and then channel after channel, one line a post, and prints the file's SHA-256: a change
meant to make the detector faster without changing a decision must leave the file
identical (`cmp` it with the one the code before the change wrote).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chanwatch.config import load_config  # noqa: E402
from chanwatch.offline import config_matcher  # noqa: E402
from monitor.markdown import markdown_to_plain  # noqa: E402
from monitor.sources.export import read_export  # noqa: E402
from monitor.stories import StoryIndex  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_scan(exports: list[str], stories: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of one `chanwatch scan` over the exports."""
    command = [sys.executable, "-m", "chanwatch", "scan", *exports, "--no-progress"]
    command += ["--config", str(ROOT / "config.example.toml")]
    if not stories:
        command.append("--no-stories")
    cpu = children_cpu()
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, children_cpu() - cpu


Post = tuple[datetime, str, int, str]


def corpus(data: Path) -> list[Post]:
    """(date, channel file, message id, plain text) of every corpus post, in date order."""
    posts = []
    for path in sorted(data.glob("*_messages.json")):
        for raw in json.loads(path.read_text(encoding="utf-8")):
            date = datetime.fromisoformat(raw["date"])
            posts.append(
                (date, path.name, raw["message_id"], markdown_to_plain(raw["text"] or ""))
            )
    posts.sort()
    return posts


def write_decisions(data: Path, out: Path) -> str:
    """Every post's story and originals, in date order and channel after channel, into
    `out`; returns the file's SHA-256."""
    posts = corpus(data)
    by_channel = sorted(posts, key=lambda post: (post[1], post[0], post[2]))
    lines = []
    for order, fed in (("date", posts), ("channel", by_channel)):
        index = StoryIndex()
        for date, channel, post_id, text in fed:
            ref = index.assign(channel, post_id, date, text)
            originals = " ".join(
                f"{o.channel}/{o.message_id}" for o in index.originals(channel, post_id)
            )
            lines.append(
                f"{order} {channel} {post_id} -> {ref.channel}/{ref.message_id} | {originals}\n"
            )
    text = "".join(lines)
    out.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def startup_cpu(repeat: int) -> float:
    """Best CPU seconds of a Python that only imports the scan command (what every scan
    pays before reading an export)."""
    best = float("inf")
    for _ in range(repeat):
        cpu = children_cpu()
        subprocess.run(
            [sys.executable, "-c", "import chanwatch.cli, chanwatch.offline"], check=True
        )
        best = min(best, children_cpu() - cpu)
    return best


def scan_steps(exports: list[str], repeat: int) -> dict[str, float]:
    """Best CPU seconds of each step of a grouped scan, as chanwatch/offline.py runs them."""
    matcher = config_matcher(load_config(ROOT / "config.example.toml"))
    best: dict[str, float] = {}

    def lap(step: str, started: float) -> float:
        now = time.process_time()
        best[step] = min(best.get(step, float("inf")), now - started)
        return now

    for _ in range(repeat):
        started = time.process_time()
        opened = [read_export(Path(path)) for path in exports]
        posts = [(channel, post) for channel, iterator in opened for post in iterator]
        started = lap("read the exports", started)
        posts.sort(key=lambda item: (item[1].date, item[0].id, item[1].post_id))
        started = lap("sort by date", started)
        for _, post in posts:
            matcher.match(post.text)
        started = lap("match", started)
        index = StoryIndex()
        for channel, post in posts:
            index.assign(channel.id, post.post_id, post.date, post.text)
        lap("story detector", started)
    return best


def detector_cost(data: Path, repeat: int) -> tuple[int, float, int]:
    """(posts, best CPU seconds per post, stories) of StoryIndex over the corpus."""
    posts = corpus(data)
    best = float("inf")
    stories = 0
    for _ in range(repeat):
        index = StoryIndex()
        started = time.process_time()
        refs = {
            index.assign(channel, post_id, date, text) for date, channel, post_id, text in posts
        }
        best = min(best, (time.process_time() - started) / len(posts))
        stories = len(refs)
    return len(posts), best, stories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/telegram-news")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--decisions", type=Path, help="only write every post's story here")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no corpus in {args.data}: pass --data (see ../shared/data/README.md)")
    if args.decisions:
        digest = write_decisions(args.data, args.decisions)
        print(f"{args.decisions}: sha256 {digest}")
        return
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "eval/make_exports.py"),
                "--data",
                str(args.data),
                "--out",
                tmp,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        exports = sorted(str(p) for p in Path(tmp).glob("*/result.json"))
        runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(args.repeat):
            for stories in (False, True):
                runs[stories].append(run_scan(exports, stories))
        steps = {"start the command": startup_cpu(args.repeat)}
        steps.update(scan_steps(exports, args.repeat))
    (old_wall, old_cpu), (new_wall, new_cpu) = (
        (min(w for w, _ in runs[s]), min(c for _, c in runs[s])) for s in (False, True)
    )
    print(f"chanwatch scan, {len(exports)} exports, best of {args.repeat}:")
    print(f"  --no-stories (as before stories): {old_wall:.2f} s wall, {old_cpu:.2f} s CPU")
    print(f"  grouping on (default):            {new_wall:.2f} s wall, {new_cpu:.2f} s CPU")
    print(f"  ratio: {new_wall / old_wall:.2f}x wall, {new_cpu / old_cpu:.2f}x CPU")
    print(f"grouped scan, CPU by step in one process (best of {args.repeat}):")
    for step, seconds in steps.items():
        print(f"  {step + ':':<19} {seconds:.2f} s")
    # The detector cannot start before the posts are read and sorted, nor be split: with it
    # in a second process, only matching (or, streamed, reading too) runs beside it.
    # Ratios to the steps of a --no-stories scan measured in the same loop, not to its run
    # above, so that both sides see the same load.
    without = steps["start the command"] + steps["read the exports"] + steps["match"]
    beside_matching = sum(steps.values()) - steps["match"]
    beside_reading = steps["start the command"] + steps["story detector"]
    print(
        "  least wall time with the detector in a second process, to start + read + match: "
        f"beside matching {beside_matching / without:.2f}x, "
        f"beside reading and matching {beside_reading / without:.2f}x"
    )
    posts, per_post, count = detector_cost(args.data, args.repeat)
    print(
        f"StoryIndex.assign over {posts:,} posts in date order: {per_post * 1e6:.0f} µs CPU "
        f"per post (best of {args.repeat}), {count:,} stories"
    )
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
