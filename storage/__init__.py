"""Everything chanwatch keeps: in one SQLite file, or in a PostgreSQL database.

All SQL lives in this package.

Adding to storage (the rules that keep both backends working):
- Each query lives once, in its repository (channels.py, posts.py, …), written in SQL that
  SQLite and PostgreSQL both accept, with `?` placeholders: `INSERT … ON CONFLICT DO NOTHING`
  (not `INSERT OR IGNORE`), `INSERT … RETURNING id` through `Writer.insert` (not lastrowid),
  `CASE` (not two-argument `max()`/`min()`), moments as `to_db(…)` text compared with
  moments (never with `''`; `EARLIEST` is "since the beginning"), 0/1 for flags, no
  `strftime`/`date()`/`now()`/`julianday()`, `sum()` only where a Decimal is fine.
- What cannot be said portably is a method of `Dialect` (storage/database.py), implemented in
  storage/sqlite.py and storage/postgres.py; never an `if postgres:` in a repository.
- A schema change is a new `Migration` at the end of storage/migrations.py with both scripts;
  tests/test_storage.py checks that the two schemas have the same tables and columns.
- Transactions run side by side on PostgreSQL (READ COMMITTED; several processes may share
  the database), one at a time on SQLite. Make each safe beside a twin of itself: inserts
  that may meet a concurrent one say `ON CONFLICT`, a guarded UPDATE re-checks its condition
  in its WHERE, and a read-then-write first takes `await tx.lock(key)` on what it reads
  (`channel_key(handle)` for a channel's row, cursor and posts; `TOPICS_KEY` for topics).
- Parameters in the SELECT list of an `INSERT … SELECT` need a CAST on PostgreSQL (it types
  them as text): prefer `VALUES (…, (SELECT …))`.
- Tests that use a `store` run on both backends (tests/conftest.py, `database` fixture).
- News for other processes (a match to alert, a topic changed) goes with the transaction
  that makes it: `await tx.notify(channel)`, heard through `Database.listen` once it commits
  (storage/coordination.py, which also holds the bot's election).
"""

from __future__ import annotations

from pathlib import Path

from storage.accounts import Accounts
from storage.activity import Activity
from storage.channels import Channels
from storage.database import Database
from storage.leases import Leases
from storage.outbox import Outbox
from storage.postgres import PostgresDatabase, is_postgres_url
from storage.posts import Posts
from storage.processes import Processes
from storage.retention import Retention, RetentionPolicy
from storage.search_index import Lemmatizer
from storage.sqlite import SQLiteDatabase
from storage.subscribers import Subscribers
from storage.topics import Topics, TopicSpec

Location = Path | str
"""A SQLite file, or a postgresql:// URL."""


async def open_database(location: Location, *, upgrade_to: int | None = None) -> Database:
    """Open the database at `location`, creating and migrating it (up to `upgrade_to`, by
    default the latest schema); raises StorageError with a reason."""
    if is_postgres_url(location):
        return await PostgresDatabase.open(str(location), upgrade_to=upgrade_to)
    return await SQLiteDatabase.open(location, upgrade_to=upgrade_to)


class Store:
    """The repositories over one open database."""

    def __init__(self, db: Database, lemmatizer: Lemmatizer | None = None) -> None:
        self.db = db
        self.search_index = db.search_index(lemmatizer)
        self.channels = Channels(db)
        self.accounts = Accounts(db)
        self.topics = Topics(db)
        self.posts = Posts(db, self.search_index)
        self.subscribers = Subscribers(db)
        self.outbox = Outbox(db)
        self.retention = Retention(db, self.search_index)
        self.activity = Activity(db)
        self.processes = Processes(db)
        self.leases = Leases(db)

    @classmethod
    async def open(cls, location: Location, *, lemmatizer: Lemmatizer | None = None) -> Store:
        """Open (creating and migrating as needed); raises StorageError with a reason.

        `lemmatizer` is what indexes posts for search (monitor's): with it, edits and
        deletions take a post's old words out of SQLite's index; without it (tests, tools
        that store nothing) they may stay there until `chanwatch reindex`."""
        db = await open_database(location)
        store = cls(db, lemmatizer)
        try:
            await store.search_index.adopt_if_empty()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self.db.close()


__all__ = ["Lemmatizer", "Location", "RetentionPolicy", "Store", "TopicSpec", "open_database"]
