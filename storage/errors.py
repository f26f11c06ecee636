"""Errors a user can cause, and the base every package derives its own from.

The base lives in storage, the lowest layer, so that monitor/, bot/ and the app can all name
it without any of them importing a layer above itself. Each error carries a message fit to
show as is, never a traceback.

A message a chat user can cause is written as an English template marked with `N_`, its
values given separately: `CommandError(N_("{count} is out of range."), count=count)`. The
error's text is the template filled in (English, for logs and the command line); the bot
translates the template into the chat's language when it answers (the gettext "noop"
convention: lower layers never translate, the edge that talks to the user does).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark `message` for the translation catalogs without translating it here."""
    return message


class ChanwatchError(Exception):
    """Base of every error whose message is meant for the user."""

    def __init__(self, message: str, /, **values: object) -> None:
        super().__init__(message.format(**values) if values else message)
        self.template = message
        """The message before its values were filled in (what the catalogs translate)."""
        self.values = values


class StorageError(ChanwatchError):
    """The database cannot be opened, migrated or written."""


class StorageBusy(StorageError):
    """A lock stayed held by another transaction past the lock timeout (PostgreSQL's
    `lock_timeout`): some process is stuck holding it, and trying again at once waits as
    long again."""
