"""Operators' upkeep commands beside a running `chanwatch run`: backup (and re-indexing)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from chanwatch.config import Config


async def backup(config: Config, target: Path, *, force: bool) -> int:
    """`chanwatch backup FILE`: a consistent copy of the database, safe while `run` runs."""
    from storage.backup import backup_sqlite

    print(f"chanwatch: backing up {config.storage_path} to {target} ...", file=sys.stderr)
    summary = await asyncio.to_thread(backup_sqlite, config.storage_path, target, overwrite=force)
    print(
        f"chanwatch: backup {summary.path}: {summary.posts:,} posts, "
        f"{summary.size / 2**20:.1f} MiB, schema version {summary.schema_version}, "
        f"checked, in {summary.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0
