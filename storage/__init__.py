"""Everything chanwatch keeps, in one SQLite file. All SQL lives in this package."""

from __future__ import annotations

from pathlib import Path

from storage.channels import Channels
from storage.database import Database
from storage.outbox import Outbox
from storage.posts import Posts
from storage.retention import Retention, RetentionPolicy
from storage.search_index import Lemmatizer, SearchIndex
from storage.subscribers import Subscribers
from storage.topics import Topics, TopicSpec


class Store:
    """The repositories over one open database."""

    def __init__(self, db: Database, lemmatizer: Lemmatizer | None = None) -> None:
        self.db = db
        self.search_index = SearchIndex(db, lemmatizer)
        self.channels = Channels(db)
        self.topics = Topics(db)
        self.posts = Posts(db, self.search_index)
        self.subscribers = Subscribers(db)
        self.outbox = Outbox(db)
        self.retention = Retention(db, self.search_index)

    @classmethod
    async def open(cls, path: Path | str, *, lemmatizer: Lemmatizer | None = None) -> Store:
        """Open (creating and migrating as needed); raises StorageError with a reason.

        `lemmatizer` is what indexes posts for search (monitor's): with it, edits and
        deletions take a post's old words out of the index; without it (tests, tools that
        store nothing) they stay there until `chanwatch reindex`."""
        db = await Database.open(path)
        store = cls(db, lemmatizer)
        try:
            await store.search_index.adopt_if_empty()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self.db.close()


__all__ = ["Lemmatizer", "RetentionPolicy", "Store", "TopicSpec"]
