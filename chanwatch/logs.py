"""One log line per event, on stderr, with secrets masked wherever they would appear."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Final

# Bot tokens look like 123456789:AAH...; mask any, not only ours (a pasted one in an error).
_TOKEN: Final = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}\b")
_MASK: Final = "***"


class RedactingFormatter(logging.Formatter):
    """`2026-11-25T06:00:00Z INFO logger: event key=value ...`, secrets replaced by ***."""

    converter = time.gmtime  # type: ignore[assignment]

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")
        # Short values would mask innocent text; real secrets are long.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return _TOKEN.sub(_MASK, text)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # Tracebacks of unexpected errors stay in the log for operators, on their own lines.
        return self.redact(line)


def setup_logging(level: str, secrets: Iterable[str] = ()) -> RedactingFormatter:
    handler = logging.StreamHandler(sys.stderr)
    formatter = RedactingFormatter(secrets)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO (every update, every request) drowns our events.
    for noisy in ("aiogram.event", "telethon", "apscheduler", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return formatter
