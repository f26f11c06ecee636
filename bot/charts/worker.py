"""The chart worker: a separate process that draws charts, so that a render which hangs or
eats memory can be stopped for real (a thread cannot be killed; a process can).

Protocol on stdin/stdout: after start-up it writes `{"ready": true}`; then for every request
line (a ChartSpec as JSON) it writes one header line, `{"ok": true, "size": N}` followed by N
bytes of PNG, or `{"ok": false, "error": "..."}`. It exits at the end of its input, so it
never outlives the bot that started it. Its address space is capped (RLIMIT_AS), so a
runaway allocation fails inside it with MemoryError instead of growing the machine's swap.

    python -m bot.charts.worker --memory-mb 768
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from collections.abc import Callable
from typing import BinaryIO, Final

DEFAULT_MEMORY_MB: Final = 768


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space; allocations beyond it raise MemoryError."""
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _reply(out: BinaryIO, header: dict[str, object], body: bytes = b"") -> None:
    out.write(json.dumps(header).encode() + b"\n" + body)
    out.flush()


def serve(draw: Callable[[bytes], bytes], source: BinaryIO, out: BinaryIO) -> None:
    """Answer requests from `source` until it ends."""
    _reply(out, {"ready": True})
    for line in source:
        if not line.strip():
            continue
        try:
            png = draw(line)
        except MemoryError:
            _reply(out, {"ok": False, "error": "the chart needed more memory than allowed"})
            # Memory may be fragmented or half-freed now; a fresh worker is cheaper to trust.
            sys.exit(1)
        except Exception as error:
            _reply(out, {"ok": False, "error": f"{type(error).__name__}: {error}"})
        else:
            _reply(out, {"ok": True, "size": len(png)}, png)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB)
    args = parser.parse_args(argv)
    # One thread for numerical libraries: their thread pools reserve address space per thread.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    limit_memory(args.memory_mb)
    from bot.charts.draw import draw
    from bot.charts.spec import ChartSpec

    serve(lambda line: draw(ChartSpec.from_json(line)), sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
