"""Chart workers that misbehave, for the renderer's tests: they speak the worker protocol
(bot/charts/worker.py) and then hang, eat memory or answer garbage.

    python -m tests.chart_workers hang|hog|garbage|crash
"""

from __future__ import annotations

import sys
import time

from bot.charts.worker import limit_memory, serve


def _hang(_request: bytes) -> bytes:
    time.sleep(3600)
    return b""


def _hog(_request: bytes) -> bytes:
    hoard = [bytearray(64 * 1024 * 1024) for _ in range(64)]  # 4 GiB, far past the cap
    return bytes(len(hoard))


def main() -> None:
    behaviour = sys.argv[1]
    out = sys.stdout.buffer
    if behaviour == "garbage":
        out.write(b'{"ready": true}\n')
        out.flush()
        for _line in sys.stdin.buffer:
            out.write(b'{"ok": true, "size": 12}\nnot a PNG!!!')
            out.flush()
        return
    if behaviour == "crash":
        out.write(b'{"ready": true}\n')
        out.flush()
        sys.stdin.buffer.readline()
        sys.exit(3)
    limit_memory(256)
    serve(_hang if behaviour == "hang" else _hog, sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
