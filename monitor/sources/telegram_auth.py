"""Which Telegram errors mean that the account itself stopped working, and in what words.

These are answers about the session or the user, not about one channel: every further request
of that account fails the same way, so its channels must be read by another account. A flood
wait, a private channel or a dropped connection is none of these.
"""

from __future__ import annotations

from typing import Final

from telethon import errors

from monitor.errors import AccountUnusable

ACCOUNT_ERRORS: Final = (errors.UnauthorizedError, errors.AuthKeyError)
"""401 (not logged in, revoked, banned, deleted) and 406 AUTH_KEY_DUPLICATED: the same errors
on which Telethon's own update loop gives up and disconnects."""

_REASONS: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (errors.UserDeactivatedBanError, "banned by Telegram (USER_DEACTIVATED_BAN)"),
    (errors.UserDeactivatedError, "the account was deleted or deactivated (USER_DEACTIVATED)"),
    (
        errors.SessionRevokedError,
        "its session was terminated from another device (SESSION_REVOKED)",
    ),
    (errors.SessionExpiredError, "its session expired (SESSION_EXPIRED)"),
    (
        errors.SessionPasswordNeededError,
        "Telegram asks for the two-step verification password (SESSION_PASSWORD_NEEDED)",
    ),
    (
        errors.AuthKeyDuplicatedError,
        "its session file was used from two places at once and Telegram cancelled it; "
        "never run two chanwatch processes with one session (AUTH_KEY_DUPLICATED)",
    ),
    (errors.AuthKeyUnregisteredError, "it was logged out (AUTH_KEY_UNREGISTERED)"),
)


def account_problem(exc: BaseException) -> AccountUnusable:
    """The AccountUnusable for one of ACCOUNT_ERRORS, with a reason in plain words."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return AccountUnusable(reason)
    return AccountUnusable(f"Telegram no longer accepts its session ({type(exc).__name__})")
