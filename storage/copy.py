"""`chanwatch migrate-storage`: copy a SQLite database into an empty PostgreSQL one.

Rows keep their ids, so cursors, outbox dedup keys and every reference stay valid; each
identity sequence is then set past the copied ids. The copy goes table by table in rowid
order, in batches; each batch is committed together with how far its table has got (the
`storage_copy` table of the target), so a run that is interrupted anywhere, even by
`kill -9`, resumes where the last batch ended and copies no row twice. At the end the row
counts of every table are compared.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from storage.database import now_utc, to_db
from storage.errors import StorageError
from storage.postgres import PostgresDatabase, lock_id
from storage.sqlite import SQLiteDatabase

BATCH: Final = 1000
COPYING: Final = lock_id("migrate-storage")
"""Held (at session level) by the one copy that may run into a database at a time."""
FIRST_ROWID: Final = -(2**63)
"""Below every rowid: `subscribers` is keyed by chat id, and group chat ids are negative."""

_STATE: Final = """
CREATE TABLE IF NOT EXISTS storage_copy (
    key   text PRIMARY KEY,  -- 'source', 'fingerprint', 'verified' or 'rowid:<table>'
    value text NOT NULL
)
"""

_OWN_TABLES: Final = ("search_index", "processes")
"""Tables each backend keeps for itself (not copied; the processes are those of the source)."""

Progress = Callable[[str, int], None]
"""Told (table, rows) after each batch is committed."""


@dataclass(frozen=True, slots=True)
class CopyReport:
    """Rows per table in both databases, in copy order; `already` when a run had finished."""

    counts: tuple[tuple[str, int], ...]
    already: bool = False

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts)


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    rows: int


async def plan(source: SQLiteDatabase) -> list[_Table]:
    """The source's tables with their columns and row counts, parents before children.

    The search index is left out, with its bookkeeping: each backend keeps its own, and
    the target's is built from the copied posts afterwards (`chanwatch migrate-storage`)."""
    listed = await source.fetchall(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
    )
    virtual = [row["name"] for row in listed if row["sql"].upper().startswith("CREATE VIRTUAL")]
    names = [
        row["name"]
        for row in listed
        if not row["name"].startswith(("sqlite_", *_OWN_TABLES))
        and not row["name"].startswith(tuple(virtual))
    ]
    parents = {
        name: {
            ref["table"]
            for ref in await source.fetchall(f"PRAGMA foreign_key_list({name})")
            if ref["table"] != name
        }
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise StorageError(f"database {source.name}: tables reference each other in a circle")
        ordered.extend(ready)
    tables = []
    for name in ordered:
        columns = tuple(c["name"] for c in await source.fetchall(f"PRAGMA table_info({name})"))
        rows = int(await source.scalar(f"SELECT count(*) FROM {name}"))
        tables.append(_Table(name, columns, rows))
    return tables


async def fingerprint(source: SQLiteDatabase) -> str:
    """What tells this database from another: its first channel, topic and subscriber.

    Those rows are never deleted (removal only marks them), so the fingerprint survives
    everything chanwatch does to the database between two runs of the copy."""
    first = [
        [list(row) for row in await source.fetchall(sql)]
        for sql in (
            "SELECT id, handle, added_at FROM channels ORDER BY id LIMIT 1",
            "SELECT id, name, created_at FROM topics ORDER BY id LIMIT 1",
            "SELECT chat_id, created_at FROM subscribers ORDER BY rowid LIMIT 1",
        )
    ]
    return hashlib.sha256(json.dumps(first, ensure_ascii=False).encode()).hexdigest()[:16]


async def _state(target: PostgresDatabase) -> dict[str, str]:
    if await target.scalar("SELECT to_regclass('storage_copy')") is None:
        return {}
    return {
        row["key"]: row["value"] for row in await target.fetchall("SELECT * FROM storage_copy")
    }


async def _holds_data(target: PostgresDatabase, tables: Sequence[_Table]) -> list[str]:
    held = []
    for table in tables:
        count = int(await target.scalar(f"SELECT count(*) FROM {table.name}"))
        if count:
            held.append(f"{count} {table.name}")
    return held


async def _claim(
    source: SQLiteDatabase, target: PostgresDatabase, tables: Sequence[_Table]
) -> dict[str, str]:
    """The target's copy state, started if the target is empty; StorageError when the target
    holds another database or another copy."""
    state = await _state(target)
    mark = await fingerprint(source)
    if state:
        if state.get("fingerprint") != mark:
            raise StorageError(
                f"{target.name} holds a copy of another chanwatch database "
                f"({state.get('source', 'unknown')}), not of {source.name}; copy into an "
                "empty database"
            )
        return state
    held = await _holds_data(target, tables)
    if held:
        raise StorageError(
            f"{target.name} already holds a chanwatch database ({', '.join(held[:3])}); "
            "migrate-storage copies only into an empty database"
        )
    state = {"source": source.name, "fingerprint": mark}
    async with target.transaction() as tx:
        await tx.execute(_STATE)
        await tx.executemany(
            "INSERT INTO storage_copy (key, value) VALUES (?, ?)", list(state.items())
        )
    return state


async def _copy_table(
    source: SQLiteDatabase,
    target: PostgresDatabase,
    table: _Table,
    after: int,
    batch: int,
    progress: Progress,
) -> None:
    columns = ", ".join(table.columns)
    insert = (
        f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join('?' for _ in table.columns)})"
    )
    while True:
        rows = await source.fetchall(
            f"SELECT rowid AS copy_rowid, {columns} FROM {table.name} "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, batch),
        )
        if not rows:
            return
        after = int(rows[-1]["copy_rowid"])
        async with target.transaction() as tx:
            await tx.executemany(insert, [tuple(row)[1:] for row in rows])
            await tx.execute(
                "INSERT INTO storage_copy (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"rowid:{table.name}", str(after)),
            )
        progress(table.name, len(rows))


async def _advance_sequences(target: PostgresDatabase) -> None:
    """Identity columns continue after the copied ids, not from 1 into a conflict."""
    identities = await target.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    async with target.transaction() as tx:
        for row in identities:
            table, column = row["table_name"], row["column_name"]
            await tx.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), "
                f"(SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)",
                (table, column),
            )


async def copy_database(
    source_path: Path,
    target_url: str,
    *,
    batch: int = BATCH,
    started: Callable[[int, int], None] = lambda total, done: None,
    progress: Progress = lambda table, rows: None,
) -> CopyReport:
    """Copy the SQLite database at `source_path` into the PostgreSQL one at `target_url`.

    `started(total, done)` is told the rows to copy and those an earlier run copied.
    Raises StorageError with the reason when the copy cannot be done or does not verify."""
    if not await asyncio.to_thread(source_path.is_file):
        raise StorageError(f"no SQLite database at {source_path} to copy (see storage.path)")
    source = await SQLiteDatabase.open(source_path)
    try:
        target = await PostgresDatabase.open(target_url)
        try:
            async with target.session() as guard:
                if not await guard.fetchone("SELECT 1 WHERE pg_try_advisory_lock(?)", (COPYING,)):
                    raise StorageError(
                        f"another migrate-storage is copying into {target.name}; "
                        "let it finish (or stop it) first"
                    )
                return await _copy(source, target, batch, started, progress)
        finally:
            await target.close()
    finally:
        await source.close()


async def _copy(
    source: SQLiteDatabase,
    target: PostgresDatabase,
    batch: int,
    started: Callable[[int, int], None],
    progress: Progress,
) -> CopyReport:
    tables = await plan(source)
    state = await _claim(source, target, tables)
    counts = tuple((table.name, table.rows) for table in tables)
    if "verified" in state:
        return CopyReport(counts, already=True)
    done = 0
    for table in tables:
        done += int(await target.scalar(f"SELECT count(*) FROM {table.name}"))
    started(sum(table.rows for table in tables), done)
    for table in tables:
        after = int(state.get(f"rowid:{table.name}", FIRST_ROWID))
        await _copy_table(source, target, table, after, batch, progress)
    await _advance_sequences(target)
    await _verify(source, target, tables)
    # The copied posts are in no search index yet: version 0 says so, and a rebuild (which
    # migrate-storage runs next) fills it.
    await target.execute(
        "UPDATE search_index SET version = 0, orphans = 0, next_version = NULL, "
        "next_cursor = NULL, next_until = NULL WHERE id = 1"
    )
    await target.execute(
        "INSERT INTO storage_copy (key, value) VALUES ('verified', ?)", (to_db(now_utc()),)
    )
    return CopyReport(counts)


async def _verify(
    source: SQLiteDatabase, target: PostgresDatabase, tables: Sequence[_Table]
) -> None:
    differ = []
    for table in tables:
        have = int(await source.scalar(f"SELECT count(*) FROM {table.name}"))
        copied = int(await target.scalar(f"SELECT count(*) FROM {table.name}"))
        if have != copied:
            differ.append(f"{table.name} {have} -> {copied}")
    if differ:
        raise StorageError(
            f"the copy in {target.name} does not match {source.name} ({'; '.join(differ)}): "
            "was chanwatch still writing to the SQLite file? Stop it, drop and re-create the "
            "PostgreSQL database, and copy again"
        )
