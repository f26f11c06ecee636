"""Operators' upkeep commands beside a running `chanwatch run`: backup and reindex."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from tqdm import tqdm

from chanwatch.config import Config
from storage import Store
from storage.errors import ChanwatchError
from storage.postgres import redact

REINDEX_BATCH: Final = 500
"""Posts re-indexed per transaction: the running chanwatch waits for at most one."""
REINDEX_PAUSE: Final = 0.025
"""Seconds between two transactions, so that the running chanwatch gets its turn at
the database (SQLite's busy handler polls; a writer that never pauses can starve it)."""


async def backup(config: Config, target: Path, *, force: bool) -> int:
    """`chanwatch backup FILE`: a consistent copy of the database, safe while `run` runs."""
    if config.storage_url:
        return await _pg_dump(config.storage_url, target, force=force)
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


async def _pg_dump(url: str, target: Path, *, force: bool) -> int:
    """PostgreSQL's own tool reads one snapshot while chanwatch writes: run it."""
    where = redact(url)
    command = f'pg_dump --format=custom --file {target} "{where}"'
    program = shutil.which("pg_dump")
    if program is None:
        raise ChanwatchError(
            "backing up PostgreSQL needs pg_dump (Debian/Ubuntu: apt install "
            f"postgresql-client); then run: {command}  (restore: pg_restore --dbname URL FILE)"
        )
    if _exists(target) and not force:
        raise ChanwatchError(f"backup {target} already exists: pass --force to replace it")
    environment = dict(os.environ)
    # The password goes in the environment, not on a command line every user can read.
    password = urlsplit(url).password or dict(parse_qsl(urlsplit(url).query)).get("password")
    if password:
        environment["PGPASSWORD"] = password
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    started = time.monotonic()
    print(f"chanwatch: {command}", file=sys.stderr)
    process = await asyncio.create_subprocess_exec(
        program,
        "--format=custom",
        f"--file={partial}",
        f"--dbname={where}",
        env=environment,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        reason = err.decode(errors="replace").strip().splitlines()
        raise ChanwatchError(f"pg_dump of {where} failed: {reason[-1] if reason else '?'}")
    os.replace(partial, target)
    print(
        f"chanwatch: backup {target}: {os.stat(target).st_size / 2**20:.1f} MiB "
        f"(pg_dump custom format; restore with pg_restore), in "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


def _exists(path: Path) -> bool:
    return path.exists()


async def reindex(config: Config, *, batch: int, force: bool, progress: bool) -> int:
    """`chanwatch reindex`: rebuild the search index with this chanwatch's morphology.

    Online (one short transaction at a time beside a running `chanwatch run`; on SQLite,
    searches use the old index until the new one is complete and swapped in) and resumable
    (the cursor commits with each transaction: run it again after any interruption)."""
    from monitor.matching import LEMMA_VERSION, Lemmatizer

    store = await Store.open(config.database, lemmatizer=Lemmatizer())
    try:
        state = await store.search_index.state()
        if state.version == LEMMA_VERSION and state.next_version is None and not force:
            print(
                f"chanwatch: the search index is up to date (morphology version "
                f"{LEMMA_VERSION}); `chanwatch reindex --force` rebuilds it anyway",
                file=sys.stderr,
            )
            return 0
        await rebuild_index(store, batch=batch, progress=progress)
    finally:
        await store.close()
    return 0


async def rebuild_index(store: Store, *, batch: int, progress: bool) -> None:
    """Rebuild (or go on rebuilding) `store`'s search index, with a progress bar."""
    from monitor.matching import LEMMA_VERSION

    started = time.monotonic()
    index = store.search_index
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
    # What the old index took is free now: give it back.
    await store.db.shrink(pause=REINDEX_PAUSE)
    print(
        f"chanwatch: search index rebuilt: {done:,} posts, morphology version "
        f"{LEMMA_VERSION}, in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
