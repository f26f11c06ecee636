"""A consistent copy of the database file while chanwatch keeps writing to it.

SQLite's online backup API copies the database as one snapshot: every transaction
committed before the copy started is in it, none that commits meanwhile is half in it, and
in WAL mode the writer is not held up. The copy goes to a temporary file beside the target,
is checked, and only then takes the target's name, so a failed backup never leaves a
half-written file where the previous good one was.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StorageError
from storage.sqlite import explain


@dataclass(frozen=True, slots=True)
class BackupSummary:
    path: Path
    size: int
    """Bytes of the backup file."""
    posts: int
    schema_version: int
    seconds: float


def backup_sqlite(source: Path, target: Path, *, overwrite: bool = False) -> BackupSummary:
    """Copy the database at `source` to `target` (blocking: run it in a thread)."""
    started = time.monotonic()
    if not source.exists():
        raise StorageError(f"database {source} does not exist: nothing to back up")
    if target.exists() and target.resolve() == source.resolve():
        raise StorageError(f"backup {target} is the database itself: name another file")
    if target.is_dir():
        raise StorageError(f"backup {target} is a folder: name a file in it")
    if target.exists() and not overwrite:
        raise StorageError(f"backup {target} already exists: pass --force to replace it")
    if not target.parent.is_dir():
        raise StorageError(f"backup {target}: folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _copy(source, partial)
        summary = _check(partial, source)
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise StorageError(explain(source, error)) from None
    except OSError as error:
        raise StorageError(f"backup {target}: {error.strerror or error}") from None
    finally:
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return BackupSummary(
        path=target,
        size=target.stat().st_size,
        posts=summary[0],
        schema_version=summary[1],
        seconds=time.monotonic() - started,
    )


def _copy(source: Path, partial: Path) -> None:
    src = sqlite3.connect(source, isolation_level=None)
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            # All pages in one step: the step reads one snapshot. Copying in several steps
            # would start over whenever the running chanwatch commits in between, which
            # under a steady stream of posts could be forever.
            src.backup(dst, pages=-1)
            # A backup is one self-contained file: no -wal beside it to lose when copied.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    with partial.open("rb") as file:
        os.fsync(file.fileno())


def _check(partial: Path, source: Path) -> tuple[int, int]:
    """(posts, schema version) of a sound copy; StorageError when it is not sound."""
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise StorageError(
                f"the copy of {source} failed its check ({verdict}); the database itself "
                f"may be damaged: run `sqlite3 {source} 'PRAGMA integrity_check'`"
            )
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        posts = conn.execute(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'posts'"
        ).fetchone()[0]
        count = int(conn.execute("SELECT count(*) FROM posts").fetchone()[0]) if posts else 0
        return count, version
    finally:
        conn.close()
