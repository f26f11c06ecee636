"""What goes wrong between a channel and a match: bad terms, failing sources, bad exports."""

from __future__ import annotations

from storage.errors import ChanwatchError


class TermError(ChanwatchError, ValueError):
    """A topic term cannot be compiled (bad regex, empty term, nothing left to match)."""


class SourceError(ChanwatchError):
    """A channel source failed: unknown or private channel, unparsable page, network failure."""


class ExportError(ChanwatchError):
    """A file given to `scan` or `import` is not a Telegram Desktop export."""
