"""The PostgreSQL backend: an asyncpg pool, tsvector search, `schema_version` bookkeeping.

The repositories' SQL arrives with `?` placeholders and ISO-text moments, as SQLite takes
them; this module numbers the placeholders and converts moments in asyncpg's codec, so the
repositories need not know which backend they talk to.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import socket
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from storage.coordination import Election, Heard
from storage.database import Condition, Database, Dialect, Row, Writer
from storage.errors import StorageBusy, StorageError
from storage.migrations import MIGRATIONS
from storage.postgres_coordination import PostgresElection, PostgresListening
from storage.postgres_search import TsvectorSearchIndex, tsquery
from storage.search_index import Lemmatizer, SearchIndex

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = PoolConnectionProxy[asyncpg.Record]

SCHEMES: Final = ("postgresql", "postgres")
MINIMUM_SERVER: Final = 12
"""Generated columns (posts.lemma_tsv) and nondeterministic collations arrived in 12."""

POOL_SIZE: Final = 10
"""Connections per chanwatch process at most; size the server's max_connections by it."""

CONNECT_TIMEOUT: Final = 10.0

MIGRATION_LOCK: Final = int.from_bytes(b"cw:migra", "big")
"""Held while the schema is checked and migrated, so that two processes starting together
migrate once."""

LOCK_TIMEOUT: Final = "30s"
"""How long a write waits for another process's transaction before it gives up."""

IDLE_IN_TRANSACTION_TIMEOUT: Final = "60s"
"""How long the server lets a transaction of chanwatch's sit open with no statement running
before it ends the session. chanwatch's own transactions send their statements one after the
other (a story detector's turn: milliseconds of work between two); one left idle this long
belongs to a process that hangs (stopped, its event loop blocked, a debugger): ending it frees
the locks it holds, above all the turn every monitor's saves wait for, which would otherwise
make all of them fail every `LOCK_TIMEOUT` until someone kills the process."""


def lock_id(key: str) -> int:
    """The advisory lock number of a named lock (`Writer.lock`)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"chanwatch").digest()
    return int.from_bytes(digest, "big", signed=True)


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.split("://", 1)[0].lower() in SCHEMES


def redact(url: str) -> str:
    """The URL without its password (in the user part or in the query), for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2 …`; a `?` inside quotes stays a `?`."""
    out: list[str] = []
    count = 0
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "?":
            count += 1
            out.append(f"${count}")
            continue
        out.append(char)
    return "".join(out)


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as "UPDATE 3" or "INSERT 0 1"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _encode_moment(value: str | datetime) -> str:
    return value if isinstance(value, str) else value.astimezone(UTC).isoformat()


def _decode_moment(text: str) -> str:
    # The ISO text SQLite returns (storage.database.to_db), whatever the session's time zone.
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    # timestamptz travels as text both ways: repositories pass and read ISO strings.
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_moment,
        decoder=_decode_moment,
        format="text",
    )


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Pooled connections come back with nothing to undo (transactions always end), so the
    default reset's extra round trip per query is skipped; `session()` resets its own."""


def explain(where: str, error: BaseException) -> str:
    """One line for the user about why the PostgreSQL database cannot be used."""
    if isinstance(error, asyncpg.InvalidPasswordError):
        return (
            f"PostgreSQL at {where} refused the login: {error}; check the password (in the "
            "URL, in PGPASSWORD or in ~/.pgpass)"
        )
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError):
        return f"PostgreSQL at {where} refused the login: {error}"
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        name = urlsplit(where).path.lstrip("/") or "NAME"
        return f"cannot use {where}: {error}; create it first (createdb {name})"
    if isinstance(error, asyncpg.InsufficientPrivilegeError):
        return (
            f"database {where}: {error}; give chanwatch's user its own database "
            "(createdb -O USER NAME) or the privileges it needs"
        )
    if isinstance(error, asyncpg.LockNotAvailableError):
        return (
            f"database {where} is locked by another transaction for over {LOCK_TIMEOUT}; "
            "is a chanwatch process stuck?"
        )
    if isinstance(error, asyncpg.PostgresError):
        return f"database {where}: {error}"
    if isinstance(error, socket.gaierror):
        return f"cannot reach PostgreSQL at {where}: unknown host ({error.strerror})"
    if isinstance(error, TimeoutError):
        return f"cannot reach PostgreSQL at {where}: no answer within {CONNECT_TIMEOUT:g} s"
    # Several addresses (localhost is ::1 and 127.0.0.1) fail as one OSError listing each.
    if isinstance(error, ConnectionRefusedError) or "Connect call failed" in str(error):
        return (
            f"cannot reach PostgreSQL at {where}: connection refused; is the server running "
            "and listening there?"
        )
    if isinstance(error, OSError):
        return f"cannot reach PostgreSQL at {where}: {error.strerror or error}"
    return f"lost the connection to PostgreSQL at {where}: {error}"


_FAILURES: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_LOST: Final = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    ConnectionResetError,
    BrokenPipeError,
)


@contextmanager
def _named_errors(where: str) -> Iterator[None]:
    # Constraint violations pass unchanged, as sqlite3.IntegrityError does on SQLite.
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError:
        raise
    except asyncpg.LockNotAvailableError as error:
        raise StorageBusy(explain(where, error)) from None
    except _FAILURES as error:
        raise StorageError(explain(where, error)) from None


class PostgresDialect(Dialect):
    name = "postgresql"

    def post_search(self, groups: Sequence[Sequence[str]]) -> Condition | None:
        query = tsquery(groups)
        if query is None:
            return None
        sql, params = query
        return Condition(f"p.id IN (SELECT post FROM posts_fts WHERE lemma_tsv @@ {sql})", params)

    def minute(self, column: str) -> str:
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI')"

    def skip_locked(self) -> str:
        return "FOR UPDATE SKIP LOCKED"


class PostgresDatabase(Database):
    """A connection pool: reads and transactions run side by side on its connections."""

    dialect = PostgresDialect()

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self._where = redact(url)
        self._pool = pool

    @property
    def name(self) -> str:
        return self._where

    @classmethod
    async def open(cls, url: str, *, upgrade_to: int | None = None) -> PostgresDatabase:
        """Connect and migrate up to `upgrade_to` (default: the latest version)."""
        where = redact(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                # Connections open on demand: a floor would be refilled in the background
                # while the server is away, logging a traceback each try.
                min_size=0,
                max_size=POOL_SIZE,
                init=_prepare_connection,
                reset=_no_reset,
                timeout=CONNECT_TIMEOUT,
                server_settings={
                    "application_name": "chanwatch",
                    "timezone": "UTC",
                    "lock_timeout": LOCK_TIMEOUT,
                    "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT,
                },
            )
        except _FAILURES as error:
            raise StorageError(explain(where, error)) from None
        except ValueError as error:  # asyncpg's verdict on a malformed URL
            raise StorageError(f"database {where}: {error}") from None
        db = cls(url, pool)
        try:
            await db._migrate(len(MIGRATIONS) if upgrade_to is None else upgrade_to)
        except BaseException:
            await pool.close()
            raise
        return db

    async def _migrate(self, upgrade_to: int) -> None:
        async with self._connection() as conn:
            server = conn.get_server_version().major
            if server < MINIMUM_SERVER:
                raise StorageError(
                    f"database {self._where}: PostgreSQL {server} is too old; chanwatch "
                    f"needs {MINIMUM_SERVER} or newer"
                )
            version = await self._version(conn)
            if version > len(MIGRATIONS):
                raise StorageError(
                    f"database {self._where} has schema version {version}, newer than "
                    f"this chanwatch understands ({len(MIGRATIONS)}); upgrade chanwatch"
                )
            for target in range(version + 1, upgrade_to + 1):
                async with conn.transaction():
                    # Another process may be migrating too: the lock orders the two, and
                    # the version is read again under it.
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                    current = await self._version(conn)
                    if current >= target:
                        continue
                    if current == 0:
                        await self._refuse_foreign_tables(conn)
                    logger.info("database %s: migrating to schema version %d", self._where, target)
                    await conn.execute(MIGRATIONS[target - 1].postgres)
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);"
                        "DELETE FROM schema_version;"
                        f"INSERT INTO schema_version VALUES ({target})"
                    )

    async def _version(self, conn: Connection) -> int:
        # Not to_regclass(): it answers from a cache that misses a table another process
        # created while this one waited for the migration lock.
        exists = await conn.fetchval(
            "SELECT count(*) FROM pg_catalog.pg_tables "
            "WHERE schemaname = current_schema() AND tablename = 'schema_version'"
        )
        if not exists:
            return 0
        return int(await conn.fetchval("SELECT max(version) FROM schema_version") or 0)

    async def _refuse_foreign_tables(self, conn: Connection) -> None:
        """A database that holds other tables is someone else's: chanwatch does not mix in."""
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name LIMIT 4"
        )
        if tables:
            names = ", ".join(row["table_name"] for row in tables[:3])
            raise StorageError(
                f"database {self._where} is not a chanwatch database (it has tables: "
                f"{names}{', …' if len(tables) > 3 else ''}); give chanwatch an empty database"
            )

    def search_index(self, lemmatizer: Lemmatizer | None) -> SearchIndex:
        return TsvectorSearchIndex(self, lemmatizer)

    def listen(self, channels: Iterable[str], heard: Heard) -> AbstractAsyncContextManager[None]:
        return PostgresListening(self.url, self._where, channels, heard).running()

    def election(self, office: str) -> Election:
        return PostgresElection(self.url, self._where, office, lock_id(f"office:{office}"))

    async def size(self) -> int:
        return int(await self.scalar("SELECT pg_database_size(current_database())") or 0)

    async def shrink(self, *, pause: float = 0.05) -> None:
        """Nothing to do: autovacuum makes deleted rows' space reusable; handing it back to
        the file system (VACUUM FULL) would lock the tables, which is the operator's call."""

    async def close(self) -> None:
        await self._pool.close()

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            return await self._version(conn)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        with _named_errors(self._where):
            async with self._pool.acquire() as conn:
                yield conn

    # Reads

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(await self._read(sql, tuple(params), one=False))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        row: Row | None = await self._read(sql, tuple(params), one=True)
        return row

    async def _read(self, sql: str, params: tuple[Any, ...], *, one: bool) -> Any:
        """Run a query; once more on a fresh connection when the pooled one turns out dead
        (a server restart or failover closes them all, and reading again is harmless)."""
        query = numbered(sql)
        with _named_errors(self._where):
            for attempt in (1, 2):
                try:
                    async with self._pool.acquire() as conn:
                        if one:
                            return await conn.fetchrow(query, *params)
                        return await conn.fetch(query, *params)
                except _LOST as error:
                    if attempt == 2:
                        raise
                    logger.warning(
                        "database %s: connection lost (%s); reading again", self._where, error
                    )

    # Writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Writer]:
        async with self._connection() as conn, conn.transaction():
            yield PostgresWriter(conn, self._where)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[PostgresSession]:
        """One connection of the pool held for as long as the caller needs it: for LISTEN,
        session-level advisory locks and statements that must share a connection.

        It is reset when given back: listeners removed, advisory locks released."""
        async with self._connection() as conn:
            try:
                yield PostgresSession(conn, self._where)
            finally:
                if not conn.is_closed():
                    await conn.reset()


class _Statements:
    """`?` statements on one connection, errors named after the database."""

    def __init__(self, conn: Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        with _named_errors(self._where):
            return _rowcount(await self._conn.execute(numbered(sql), *params))

    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        with _named_errors(self._where):
            return int(await self._conn.fetchval(numbered(sql), *params) or 0)

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        batch = [tuple(row) for row in rows]
        if batch:
            with _named_errors(self._where):
                await self._conn.executemany(numbered(sql), batch)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        with _named_errors(self._where):
            row: Row | None = await self._conn.fetchrow(numbered(sql), *params)
            return row

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        with _named_errors(self._where):
            return list(await self._conn.fetch(numbered(sql), *params))


class PostgresWriter(_Statements, Writer):
    async def lock(self, *keys: str) -> None:
        # One order for every caller: two transactions locking the same keys cannot deadlock.
        for key in sorted(set(keys)):
            with _named_errors(self._where):
                await self._conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id(key))

    async def notify(self, channel: str, payload: str = "") -> None:
        # Queued by the server and delivered when (and only if) the transaction commits.
        with _named_errors(self._where):
            await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class PostgresSession(_Statements):
    """Statements on one held connection, each committed on its own (no transaction)."""

    @property
    def connection(self) -> Connection:
        """The asyncpg connection itself, for `add_listener` and the like."""
        return self._conn
