"""Where a Telethon session lives on disk, and keeping it private (no Telethon import here:
the config reads this too, for every command)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

SESSION_SUFFIX: Final = ".session"


def session_file(session_path: Path) -> Path:
    """The file Telethon really uses: it appends `.session` to names without that suffix."""
    if session_path.suffix == SESSION_SUFFIX:
        return session_path
    return session_path.with_name(session_path.name + SESSION_SUFFIX)


def protect_session(session_path: Path) -> None:
    """Make the session file and SQLite's side files readable by their owner only."""
    path = session_file(session_path)
    for candidate in (path, path.with_name(path.name + "-journal")):
        if candidate.exists():
            os.chmod(candidate, 0o600)
