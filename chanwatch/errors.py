"""Errors a user can cause. Each carries a message fit to show as is, never a traceback."""

from __future__ import annotations


class ChanwatchError(Exception):
    """Base of every error whose message is meant for the user."""


class ConfigError(ChanwatchError):
    """The configuration file or environment is unusable."""


class TermError(ChanwatchError, ValueError):
    """A topic term cannot be compiled (bad regex, empty term, nothing left to match)."""


class StorageError(ChanwatchError):
    """The database cannot be opened, migrated or written."""


class SourceError(ChanwatchError):
    """A channel source failed: unknown or private channel, unparsable page, network failure."""


class ExportError(ChanwatchError):
    """A file given to `scan` or `import` is not a Telegram Desktop export."""


class CommandError(ChanwatchError):
    """A bot command was malformed; the message says how to write it."""
