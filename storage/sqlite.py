"""The SQLite backend: one aiosqlite connection, one writer at a time, FTS5 search."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final

import aiosqlite

from storage.coordination import Bus, Election, Heard, SoleElection
from storage.database import Condition, Database, Dialect, Row, Writer
from storage.errors import StorageError
from storage.migrations import MIGRATIONS
from storage.search_index import Lemmatizer, SearchIndex
from storage.sqlite_search import FtsSearchIndex, fts_query

logger = logging.getLogger(__name__)

MINIMUM_VERSION: Final = (3, 35, 0)
"""The first SQLite with `RETURNING`, which the repositories' portable SQL uses."""
INCREMENTAL: Final = 2
"""PRAGMA auto_vacuum mode in which `PRAGMA incremental_vacuum` shrinks the file."""
VACUUM_PAGES: Final = 2048
"""Free pages handed back to the file system per transaction (8 MiB of 4 KiB pages)."""


def explain(path: Path, error: sqlite3.Error) -> str:
    """A sentence for the user about why the database file is unusable."""
    reason = str(error)
    if "not a database" in reason or "malformed" in reason:
        return (
            f"database {path} is corrupted or not a chanwatch database ({reason}); "
            "restore it from a backup or move it away to start a new one"
        )
    if "readonly" in reason or "read-only" in reason:
        return read_only_reason(path) or (
            f"database {path} is read-only; give the chanwatch user write access to it"
        )
    if "unable to open" in reason:
        return f"cannot open database {path}: check that its folder exists and is writable"
    if "locked" in reason or "busy" in reason:
        return f"database {path} is locked by another process; is chanwatch already running?"
    return f"database {path}: {reason}"


def read_only_reason(path: Path) -> str | None:
    """Why chanwatch may not write the database at `path`; None when permissions allow it."""
    folder = path.parent
    # SQLite writes its -wal and -shm files beside the database, so the folder counts too.
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return (
            f"database {path} is read-only: its folder {folder} is not writable; "
            "give the chanwatch user write access to the folder"
        )
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        if file.exists() and not os.access(file, os.W_OK):
            if file == path:
                return f"database {path} is read-only; give the chanwatch user write access to it"
            return (
                f"database {path} is read-only: {file} is not writable; "
                "give the chanwatch user write access to both"
            )
    return None


def _try_opening(path: Path) -> None:
    """Open and close `path` as aiosqlite will: sqlite3.Error if it cannot be opened."""
    sqlite3.connect(path, isolation_level=None).close()


class SQLiteDialect(Dialect):
    name = "sqlite"

    def post_search(self, groups: Sequence[Sequence[str]]) -> Condition | None:
        query = fts_query(groups)
        if not query:
            return None
        return Condition("p.id IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)", (query,))

    def minute(self, column: str) -> str:
        # Moments are stored as UTC ISO text: the minute is its first 16 characters.
        return f"substr({column}, 1, 16)"

    def skip_locked(self) -> str:
        return ""  # BEGIN IMMEDIATE: no other writer runs meanwhile


class SQLiteDatabase(Database):
    """Owns the connection. Writes go through `transaction()`, one at a time."""

    dialect = SQLiteDialect()

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn
        self._write_lock = asyncio.Lock()
        # One process uses the file (chanwatch refuses roles other than `all` on SQLite), so
        # its notifications stay inside the process and it is always elected.
        self._bus = Bus()

    @property
    def name(self) -> str:
        return str(self.path)

    def listen(self, channels: Iterable[str], heard: Heard) -> AbstractAsyncContextManager[None]:
        return self._bus.listen(channels, heard)

    def election(self, office: str) -> Election:
        return SoleElection()

    @classmethod
    async def open(cls, path: Path | str, *, upgrade_to: int | None = None) -> SQLiteDatabase:
        """Open (creating and migrating up to `upgrade_to`, default the latest version)."""
        path = Path(path)
        if sqlite3.sqlite_version_info < MINIMUM_VERSION:
            raise StorageError(
                f"database {path}: this Python's SQLite is {sqlite3.sqlite_version}; chanwatch "
                f"needs {'.'.join(map(str, MINIMUM_VERSION))} or newer (Python 3.11 from "
                "python.org ships one)"
            )
        # Refused before SQLite opens it: opening a read-only file creates -wal and -shm files
        # as read-only as the file, which would keep failing after the user fixed the file.
        refusal = read_only_reason(path)
        if refusal is not None:
            raise StorageError(refusal)
        try:
            # When sqlite3.connect fails inside aiosqlite.connect, aiosqlite stops its worker
            # thread without waiting for it; the thread then reports to an event loop that may
            # be closed by then ("Event loop is closed" from a thread, after the clear error).
            # A file that cannot be opened is found here, before any such thread starts.
            await asyncio.to_thread(_try_opening, path)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as error:
            raise StorageError(explain(path, error)) from None
        conn.row_factory = sqlite3.Row
        db = cls(path, conn)
        try:
            await db._prepare(len(MIGRATIONS) if upgrade_to is None else upgrade_to)
        except sqlite3.Error as error:
            await conn.close()
            raise StorageError(explain(path, error)) from None
        except BaseException:
            await conn.close()
            raise
        return db

    async def _prepare(self, upgrade_to: int) -> None:
        await self._conn.execute("PRAGMA busy_timeout = 5000")
        mode = await self.scalar("PRAGMA journal_mode = WAL")
        if mode != "wal":
            logger.warning("database %s: WAL mode unavailable (journal_mode=%s)", self.path, mode)
        await self._conn.execute("PRAGMA synchronous = NORMAL")
        # Copy the log into the file every 16 MiB rather than every 4: a page written again
        # and again between two checkpoints is copied once (ingestion rewrites the index's
        # and the tables' last pages with every batch).
        await self._conn.execute("PRAGMA wal_autocheckpoint = 4000")
        await self._migrate(upgrade_to)
        await self._conn.execute("PRAGMA foreign_keys = ON")

    async def _migrate(self, upgrade_to: int) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise StorageError(
                f"database {self.path} has schema version {version}, newer than this "
                f"chanwatch understands ({len(MIGRATIONS)}); upgrade chanwatch"
            )
        if version >= upgrade_to:
            return
        if version == 0:
            # Free pages can be given back to the file system only in this mode, and only a
            # database with no tables yet can be switched to it without rewriting the file.
            await self._conn.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
        # Off while migrating (it cannot change inside a transaction): a migration that
        # rebuilds a table drops the old one, which must not cascade into the rows that
        # refer to it. The check afterwards proves nothing was left dangling.
        await self._conn.execute("PRAGMA foreign_keys = OFF")
        for target in range(version + 1, upgrade_to + 1):
            logger.info("database %s: migrating to schema version %d", self.path, target)
            # executescript would commit on its own; one BEGIN..COMMIT keeps a step atomic.
            script = MIGRATIONS[target - 1].sqlite
            script = f"BEGIN;\n{script}\nPRAGMA user_version = {target};\nCOMMIT;"
            try:
                await self._conn.executescript(script)
            except sqlite3.Error:
                await self._conn.execute("ROLLBACK")
                raise
        dangling = await self.fetchall("PRAGMA foreign_key_check")
        if dangling:
            raise StorageError(
                f"database {self.path}: {len(dangling)} rows refer to rows that do not exist "
                f"(first in table {dangling[0][0]}); restore it from a backup"
            )
        if int(await self.scalar("PRAGMA auto_vacuum") or 0) != INCREMENTAL:
            # Once, for a database made before chanwatch kept files compact: rewriting the
            # file switches the mode and gives back the space the migration freed.
            logger.info("database %s: compacting once after the upgrade", self.path)
            await self._conn.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
            await self._conn.execute("VACUUM")

    async def close(self) -> None:
        await self._conn.close()

    async def schema_version(self) -> int:
        return int(await self.scalar("PRAGMA user_version") or 0)

    # Reads

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        try:
            return await _fetchall(self._conn, sql, params)
        except sqlite3.Error as error:
            raise StorageError(explain(self.path, error)) from None

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def search_index(self, lemmatizer: Lemmatizer | None) -> SearchIndex:
        return FtsSearchIndex(self, lemmatizer)

    async def size(self) -> int:
        pages = int(await self.scalar("PRAGMA page_count") or 0)
        return pages * int(await self.scalar("PRAGMA page_size") or 0)

    async def shrink(self, *, pause: float = 0.05) -> None:
        """Hand free pages back to the file system (the file shrinks), a bounded amount per
        transaction with a pause between, so that other writers get their turn."""
        while int(await self.scalar("PRAGMA freelist_count") or 0):
            async with self.transaction() as tx:
                # Read to the end: the pragma frees pages as its statement steps.
                await tx.fetchall(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
            await asyncio.sleep(pause)
        await self.checkpoint()

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the file and truncate it (after big deletions the
        -wal file would otherwise keep their size). Pages readers still use wait."""
        async with self._write_lock:
            try:
                await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as error:
                raise StorageError(explain(self.path, error)) from None

    # Writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Writer]:
        """BEGIN IMMEDIATE .. COMMIT, rolled back on any exception.

        BEGIN travels to the database thread with the transaction's first statement, and
        COMMIT with its last writes (see `SQLiteWriter`): at thousands of posts a second,
        each trip to that thread counts."""
        async with self._write_lock:
            writer = SQLiteWriter(self._conn, self.path)
            try:
                yield writer
                await writer.commit()
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
        self._bus.publish(writer.notes)


_Step = Callable[[sqlite3.Connection], Any]
"""One statement, run in the database thread on its sqlite3 connection."""


def _run_steps(conn: sqlite3.Connection, steps: Sequence[_Step]) -> Any:
    """Run statements in order in the database thread; the last one's result."""
    result = None
    for step in steps:
        result = step(conn)
    return result


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


class SQLiteWriter(Writer):
    """Statements of one transaction, sent to the database thread as few trips as possible:
    BEGIN goes with the first statement, and `executemany` (whose outcome nobody reads) waits
    for the next statement or the commit, so that a batch's inserts and its COMMIT travel
    together. A failure of a statement that waited surfaces there, inside the transaction,
    which is rolled back as for any other failure."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        self._waiting: list[_Step] = [_begin]
        self.notes: list[tuple[str, str]] = []
        """Notifications to publish once the transaction has committed."""

    async def lock(self, *keys: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already keeps every other writer out."""

    async def notify(self, channel: str, payload: str = "") -> None:
        self.notes.append((channel, payload))

    @contextmanager
    def _named_errors(self) -> Iterator[None]:
        # A read-only or damaged file often shows only at the first write, inside a
        # transaction; the user needs the file named and the reason explained there too.
        # IntegrityError passes unchanged: callers handle constraint conflicts themselves.
        try:
            yield
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as error:
            raise StorageError(explain(self._path, error)) from None

    async def _send(self, step: _Step) -> Any:
        """Run what waits and then `step`, in one trip to the database thread."""
        steps, self._waiting = [*self._waiting, step], []
        with self._named_errors():
            # aiosqlite runs every call of the connection in its thread this way; it has no
            # public call for running several statements in one go.
            return await self._conn._execute(_run_steps, self._conn._conn, steps)

    async def commit(self) -> None:
        await self._send(_commit)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """A statement that returns no rows (fetchall() runs the others to their end)."""
        values = tuple(params)
        rowcount: int = await self._send(lambda conn: conn.execute(sql, values).rowcount)
        return rowcount

    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        # Every row is read: SQLite finishes an INSERT … RETURNING only when they are.
        rows = await self.fetchall(sql, params)
        return int(rows[0][0]) if rows else 0

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        batch = [tuple(r) for r in rows]
        if batch:
            self._waiting.append(lambda conn: conn.executemany(sql, batch))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        values = tuple(params)
        rows: list[Row] = await self._send(lambda conn: conn.execute(sql, values).fetchall())
        return rows


async def _fetchall(conn: aiosqlite.Connection, sql: str, params: Iterable[Any]) -> list[Row]:
    """Run a query and read its rows in one trip to the database thread (executing, fetching
    and closing a cursor are three; thousands of posts a second make each one count)."""
    return list(await conn.execute_fetchall(sql, tuple(params)))
