"""Everything chanwatch keeps, in one SQLite file. All SQL lives in this package."""

from __future__ import annotations

from pathlib import Path

from storage.accounts import Accounts
from storage.channels import Channels
from storage.database import Database
from storage.outbox import Outbox
from storage.posts import Posts
from storage.subscribers import Subscribers
from storage.topics import Topics, TopicSpec


class Store:
    """The repositories over one open database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.channels = Channels(db)
        self.accounts = Accounts(db)
        self.topics = Topics(db)
        self.posts = Posts(db)
        self.subscribers = Subscribers(db)
        self.outbox = Outbox(db)

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (creating and migrating as needed); raises StorageError with a reason."""
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.db.close()


__all__ = ["Store", "TopicSpec"]
