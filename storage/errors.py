"""Errors a user can cause, and the base every package derives its own from.

The base lives in storage, the lowest layer, so that monitor/, bot/ and the app can all name
it without any of them importing a layer above itself. Each error carries a message fit to
show as is, never a traceback.
"""

from __future__ import annotations


class ChanwatchError(Exception):
    """Base of every error whose message is meant for the user."""


class StorageError(ChanwatchError):
    """The database cannot be opened, migrated or written."""
