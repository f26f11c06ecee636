"""Operators' upkeep commands beside a running `chanwatch run`: backup and reindex."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Final

from tqdm import tqdm

from chanwatch.config import Config

REINDEX_BATCH: Final = 500
"""Posts re-indexed per transaction: the running chanwatch waits for at most one."""
REINDEX_PAUSE: Final = 0.025
"""Seconds between two transactions, so that the running chanwatch gets its turn at
the database (SQLite's busy handler polls; a writer that never pauses can starve it)."""


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


async def reindex(config: Config, *, batch: int, force: bool, progress: bool) -> int:
    """`chanwatch reindex`: rebuild the search index with this chanwatch's morphology.

    Online (searches use the old index until the new one is complete and swapped in, one
    short transaction at a time beside a running `chanwatch run`) and resumable (the cursor
    commits with each transaction: run it again after an interruption, even kill -9)."""
    from monitor.matching import LEMMA_VERSION, Lemmatizer
    from storage import Store

    started = time.monotonic()
    store = await Store.open(config.storage_path, lemmatizer=Lemmatizer())
    try:
        index = store.search_index
        state = await index.state()
        if state.version == LEMMA_VERSION and state.next_version is None and not force:
            print(
                f"chanwatch: the search index is up to date (morphology version "
                f"{LEMMA_VERSION}); `chanwatch reindex --force` rebuilds it anyway",
                file=sys.stderr,
            )
            return 0
        begun = await index.begin_rebuild()
        if begun.done:
            print(
                f"chanwatch: resuming the rebuild at {begun.done:,} of {begun.total:,} posts",
                file=sys.stderr,
            )
        done = begun.done
        with tqdm(
            total=begun.total,
            initial=begun.done,
            desc="reindex",
            unit=" posts",
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            while True:
                count, finished = await index.rebuild_step(batch)
                done += count
                if done > bar.total:  # posts stored while the rebuild runs
                    bar.total = done
                bar.update(count)
                if finished:
                    break
                await asyncio.sleep(REINDEX_PAUSE)
        # The old index's pages are free now: the file gives them back.
        await store.db.shrink(pause=REINDEX_PAUSE)
    finally:
        await store.close()
    print(
        f"chanwatch: search index rebuilt: {done:,} posts, morphology version "
        f"{LEMMA_VERSION}, in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0
