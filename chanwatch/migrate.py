"""`chanwatch migrate-storage`: move the SQLite database to PostgreSQL, with a progress bar."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any

from tqdm import tqdm

from chanwatch.config import Config
from storage.copy import copy_database
from storage.postgres import redact


async def migrate_storage(config: Config, target: str, *, batch: int, progress: bool) -> int:
    """Copy storage.path into the database at `target`; safe to run again after a stop."""
    where = redact(target)
    with ExitStack() as stack:
        bars: list[Any] = []

        def started(total: int, done: int) -> None:
            if done:
                print(
                    f"chanwatch: resuming: {done} of {total} rows already copied", file=sys.stderr
                )
            bars.append(
                stack.enter_context(
                    tqdm(
                        total=total,
                        initial=done,
                        desc="copying",
                        unit=" rows",
                        file=sys.stderr,
                        disable=not progress,
                    )
                )
            )

        def copied(table: str, rows: int) -> None:
            bars[0].set_description(table, refresh=False)
            bars[0].update(rows)

        report = await copy_database(
            config.storage_path, target, batch=batch, started=started, progress=copied
        )
    counts = ", ".join(f"{table} {count}" for table, count in report.counts if count)
    if report.already:
        print(
            f"chanwatch: {where} already holds the verified copy of {config.storage_path} "
            f"({counts or 'no rows'}); nothing to do",
            file=sys.stderr,
        )
    else:
        print(
            f"chanwatch: copied {config.storage_path} to {where}: {report.total} rows "
            f"({counts or 'none'}), counts verified",
            file=sys.stderr,
        )
    print(
        f'chanwatch: to use it, set url = "{where}" under [storage] in {config.path}',
        file=sys.stderr,
    )
    return 0
