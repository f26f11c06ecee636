"""What a user can get wrong in a conversation with the bot."""

from __future__ import annotations

from storage.errors import ChanwatchError


class CommandError(ChanwatchError):
    """A bot command was malformed; the message says how to write it."""
