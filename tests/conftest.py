"""Both storage backends for every test that takes the `database` fixture.

PostgreSQL tests use the server at 127.0.0.1:5432 as user postgres (CHANWATCH_TEST_POSTGRES
names another maintenance URL). A test run creates a template database migrated once, gives
each test a copy of it (CREATE DATABASE … TEMPLATE is far cheaper than migrating) and drops
them all at the end. Without a server the PostgreSQL tests are skipped, saying why, unless
CI=true: then they fail, so CI never passes without having run them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from storage import Location, open_database

ADMIN_URL: Final = os.environ.get(
    "CHANWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS: Final = ("sqlite", "postgresql")

T = TypeVar("T")


def _in_own_loop(job: Callable[[], Awaitable[T]]) -> T:
    """Run an async job from sync code without touching the test's event loop."""

    async def main() -> T:
        return await job()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


class PostgresServer:
    """Databases of one test run on the test server, all named after the run."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"chanwatch_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_template"
        self._numbers = itertools.count(1)

    def url(self, name: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    def admin(self, *statements: str) -> None:
        async def job() -> None:
            conn = await asyncpg.connect(self.admin_url, timeout=5)
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        _in_own_loop(job)

    def start(self) -> None:
        """Create the template: an empty database migrated to the latest schema.

        Databases an earlier run left behind when it was killed (its process is gone) are
        dropped first."""
        self._drop_matching("chanwatch_test_%", only_orphans=True)
        self.admin(f"CREATE DATABASE {self.template} TEMPLATE template0")

        async def migrate() -> None:
            db = await open_database(self.url(self.template))
            await db.close()

        _in_own_loop(migrate)

    def create(self, *, empty: bool = False) -> str:
        """A new database: a copy of the migrated template, or an empty one."""
        name = f"{self.prefix}_{next(self._numbers)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else self.template}")
        return self.url(name)

    def drop(self, url: str) -> None:
        # FORCE: a test that failed half-way may have left its pool open.
        self.admin(f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')} WITH (FORCE)")

    def stop(self) -> None:
        self._drop_matching(f"{self.prefix}%")

    def _drop_matching(self, pattern: str, *, only_orphans: bool = False) -> None:
        async def job() -> None:
            conn = await asyncpg.connect(self.admin_url, timeout=5)
            try:
                names = await conn.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1", pattern
                )
                for row in names:
                    if only_orphans and _alive(row["datname"]):
                        continue
                    await conn.execute(f"DROP DATABASE IF EXISTS {row['datname']} WITH (FORCE)")
            finally:
                await conn.close()

        _in_own_loop(job)


def _alive(name: str) -> bool:
    """Whether the test run that named the database `name` is still running here."""
    pid = name.split("_")[2]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unreachable(admin_url: str) -> str | None:
    async def probe() -> None:
        conn = await asyncpg.connect(admin_url, timeout=5)
        await conn.close()

    try:
        _in_own_loop(probe)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test server; the test is skipped (or, under CI, failed) when it is unreachable."""
    problem = _unreachable(ADMIN_URL)
    if problem is not None:
        reason = f"PostgreSQL test server {ADMIN_URL} unreachable ({problem})"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; CI=true requires the PostgreSQL tests to run")
        pytest.skip(f"{reason}; PostgreSQL tests skipped (with CI=true they would fail)")
    server = PostgresServer(ADMIN_URL)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database at the latest schema, dropped after the test."""
    url = postgres_server.create()
    yield url
    postgres_server.drop(url)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """Where a test's Store lives: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "chanwatch.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Location]:
    """A database with no schema yet, on each backend (for migrations)."""
    if request.param == "sqlite":
        yield tmp_path / "empty.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create(empty=True)
    yield url
    server.drop(url)
