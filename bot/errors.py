"""What a user can get wrong in a conversation with the bot."""

from __future__ import annotations

from storage.errors import ChanwatchError


class CommandError(ChanwatchError):
    """A bot command was malformed; the message says how to write it.

    `usage`, when given, is a second marked template (with the same values) saying how to
    write the command; it follows the message on a line of its own.
    """

    def __init__(self, message: str, /, *, usage: str | None = None, **values: object) -> None:
        super().__init__(message, **values)
        self.usage = usage
        if usage is not None:
            self.args = (f"{self.args[0]}\n{usage.format(**values)}",)
