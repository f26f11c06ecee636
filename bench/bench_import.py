"""`chanwatch import` of the whole corpus, with and without story grouping: time and peak memory.

    .venv/bin/python bench/bench_import.py [--data DIR] [--repeat N] [--baseline PYTHON]

Writes the corpus (22,099 posts of 24 channels) as Telegram Desktop exports with
eval/make_exports.py into a temporary folder, then runs the whole command
`chanwatch import EXPORTS --config config.example.toml` as a subprocess into a new SQLite
database each time, alternately with `[stories] enabled = false` and `true`, --repeat times
each, and once more with grouping over the database the last run filled (importing the same
exports again: nothing is stored). Prints the best wall and CPU time of each and the
highest peak resident memory (the child's own, from wait4).

--baseline PYTHON adds a third command each round: the same import run by another
interpreter (the venv of another checkout of chanwatch, installed there), to compare with a
version before a change under the same load.

Timings are CPU bound and noisy on a shared machine: compare the figures of one run, and
read the load average printed before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float
    grouped: int | None


def write_config(folder: Path, stories: bool) -> Path:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('path = "chanwatch.db"', 'path = "db.sqlite"', 1)
    if not stories:
        head, tail = text.split("[stories]", 1)
        text = head + "[stories]" + tail.replace("enabled = true", "enabled = false", 1)
    path = folder / "chanwatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_import(exports: list[str], config: Path, python: str = sys.executable) -> Run:
    command = [python, "-m", "chanwatch", "import", *exports, "--no-progress"]
    command += ["--config", str(config)]
    started = time.perf_counter()
    # Run from the database's folder: `-m` puts the working directory first on sys.path.
    child = subprocess.Popen(
        command, cwd=config.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert child.stderr is not None
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"import failed ({child.returncode}): {err}")
    found = re.search(r"(\d+) post\(s\) joined", err)
    return Run(
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,  # kilobytes on Linux
        int(found.group(1)) if found else None,
    )


def fresh(folder: Path) -> Path:
    for stale in folder.glob("db.sqlite*"):
        stale.unlink()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/telegram-news")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout's python to compare with")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no corpus in {args.data}: pass --data (see ../shared/data/README.md)")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "exports"
        make = [sys.executable, str(ROOT / "eval/make_exports.py")]
        subprocess.run(
            [*make, "--data", str(args.data), "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        exports = sorted(str(p) for p in out.glob("*/result.json"))
        folders = {name: Path(tmp) / name for name in ("off", "on", "baseline")}
        configs = {}
        for name, folder in folders.items():
            folder.mkdir()
            configs[name] = write_config(folder, stories=name != "off")
        variants = ["off", "on"] + (["baseline"] if args.baseline else [])
        runs: dict[str, list[Run]] = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name in variants:
                fresh(folders[name])
                python = str(args.baseline) if name == "baseline" else sys.executable
                runs[name].append(run_import(exports, configs[name], python))
        again = run_import(exports, configs["on"])
    labels = {
        "off": "stories off ([stories] enabled = false)",
        "on": "grouping on (the default)",
        "baseline": f"baseline code ({args.baseline})",
    }
    print(
        f"chanwatch import, {len(exports)} exports into a new SQLite database, best of "
        f"{args.repeat}:"
    )
    for name in variants:
        found = runs[name]
        grouped = found[-1].grouped
        print(
            f"  {labels[name]}: {min(r.wall for r in found):.2f} s wall, "
            f"{min(r.cpu for r in found):.2f} s CPU, peak {max(r.peak_mb for r in found):.0f} MB"
            + ("" if grouped is None else f", {grouped:,} posts joined a story")
        )
    on, off = runs["on"], runs["off"]
    print(
        f"  grouping on / off: {min(r.wall for r in on) / min(r.wall for r in off):.2f}x wall, "
        f"{min(r.cpu for r in on) / min(r.cpu for r in off):.2f}x CPU"
    )
    print(
        f"  the same exports again (grouping on, nothing new): {again.wall:.2f} s wall, "
        f"{again.cpu:.2f} s CPU, peak {again.peak_mb:.0f} MB"
    )
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
