"""What goes wrong between a channel and a match: bad terms, failing sources, bad exports."""

from __future__ import annotations

from storage.errors import ChanwatchError


class TermError(ChanwatchError, ValueError):
    """A topic term cannot be compiled (bad regex, empty term, nothing left to match)."""


class SourceError(ChanwatchError):
    """A channel source failed: unknown or private channel, unparsable page, network failure."""


class ExportError(ChanwatchError):
    """A file given to `scan` or `import` is not a Telegram Desktop export."""


class AccountUnusable(ChanwatchError):
    """A Telegram account cannot read anything any more: logged out, revoked, banned, deleted.

    Not a SourceError: it is about the account, not one channel, so the per-channel error
    handling lets it through to whoever runs the account."""


class TelegramUnreachable(ChanwatchError):
    """Telegram could not be reached for a long time: the account's problem, not a channel's."""
