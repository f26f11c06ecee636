"""The Telegram session: an interactive first login, and opening it later without prompts.

The session file holds the account's authorisation key: whoever has it reads the account.
It is therefore kept readable by its owner only, and neither it nor the api_hash is logged.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from telethon import TelegramClient, errors, utils

from monitor.errors import AccountUnusable, SourceError
from monitor.sources.session_files import protect_session, session_file
from monitor.sources.telegram_auth import ACCOUNT_ERRORS, account_problem

logger = logging.getLogger(__name__)

LOGIN_ATTEMPTS: Final = 3
CREDENTIALS_HELP: Final = (
    "get api_id and api_hash at https://my.telegram.org → API development tools"
)

Prompt = Callable[[str], "str | Awaitable[str]"]
ClientFactory = Callable[[str, int, str], Any]
"""Builds a client from (session file, api_id, api_hash); TelegramClient unless testing."""


async def login(
    *,
    api_id: int,
    api_hash: str,
    session_path: Path,
    phone: str | None,
    input_func: Prompt,
    password_func: Prompt,
    client_factory: ClientFactory | None = None,
) -> str:
    """Log a user account in interactively and keep the session; returns "Logged in as …".

    Asks `input_func` for the phone (unless given) and the code Telegram sends, and
    `password_func` for the two-step verification password when the account has one.
    Logging in again with an authorised session asks nothing.
    """
    if phone is not None and not utils.parse_phone(phone):
        # Telethon would ask for a given phone again and again without saying why.
        raise SourceError(
            f"{phone!r} is not a phone number: give it in international format, e.g. +447700900123"
        )
    path = session_file(session_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    client = (client_factory or TelegramClient)(str(path), api_id, api_hash)
    protect_session(path)  # before anything secret is written into it
    try:
        await client.start(
            phone=lambda: phone or input_func("Phone number in international format (+...): "),
            code_callback=lambda: input_func("The login code Telegram sent you: "),
            password=lambda: password_func("Two-step verification password: "),
            max_attempts=LOGIN_ATTEMPTS,
        )
        me = await client.get_me()
    except errors.ApiIdInvalidError:
        raise SourceError(
            f"Telegram rejected the api_id/api_hash pair: {CREDENTIALS_HELP}"
        ) from None
    except errors.PhoneNumberInvalidError:
        raise SourceError(
            "Telegram says the phone number is invalid: give it in international format, "
            "e.g. +447700900123"
        ) from None
    except errors.PhoneNumberBannedError:
        raise SourceError("Telegram has banned this phone number") from None
    except errors.PasswordHashInvalidError:
        raise SourceError(
            f"the two-step verification password was wrong {LOGIN_ATTEMPTS} times"
        ) from None
    except errors.FloodWaitError as exc:
        raise SourceError(
            f"Telegram asks to wait {exc.seconds} s before the next login attempt"
        ) from None
    except errors.RPCError as exc:
        raise SourceError(f"Telegram refused the login: {exc}") from None
    except RuntimeError:
        # Telethon gives up with a RuntimeError after max_attempts wrong codes.
        raise SourceError(f"the login code was wrong {LOGIN_ATTEMPTS} times") from None
    except (OSError, EOFError) as exc:
        raise SourceError(
            f"cannot reach Telegram to log in ({exc or type(exc).__name__}); check the network"
        ) from None
    finally:
        await client.disconnect()
        protect_session(path)
    if me is None:
        raise SourceError("Telegram did not confirm the login; run `chanwatch login` again")
    name = utils.get_display_name(me) or me.username or "unnamed account"
    logger.info("Telegram session stored in %s", path)
    return f"Logged in as {name} ({me.id})"


async def open_client(
    api_id: int,
    api_hash: str,
    session_path: Path,
    *,
    client_factory: ClientFactory | None = None,
    login_command: str = "chanwatch login",
) -> Any:
    """A connected client for an already logged-in session; never prompts.

    Raises AccountUnusable telling to run `login_command` when the session file is missing or
    no longer authorised (logged out from another device, revoked, banned), SourceError when
    Telegram cannot be reached.
    """
    path = session_file(session_path)
    not_logged_in = (
        f"Telegram session {path} is missing or not logged in: run `{login_command}` first"
    )
    if not path.is_file():
        raise AccountUnusable(not_logged_in)
    protect_session(path)
    try:
        # Telethon opens the session (an SQLite file) here: another process holding it, or a
        # damaged file, fails now, for this account only.
        client = (client_factory or TelegramClient)(str(path), api_id, api_hash)
    except sqlite3.Error as exc:
        raise AccountUnusable(
            f"Telegram session {path} cannot be opened ({exc}): another chanwatch may be "
            f"using it, or it is damaged; run `{login_command}` to write a new one"
        ) from None
    try:
        await client.connect()
        authorized = await client.is_user_authorized()
    except (OSError, EOFError) as exc:
        await client.disconnect()
        raise SourceError(
            f"cannot reach Telegram ({exc or type(exc).__name__}); check the network"
        ) from None
    except ACCOUNT_ERRORS as exc:
        await client.disconnect()
        raise AccountUnusable(
            f"Telegram refused the session {path}: {account_problem(exc)}; "
            f"run `{login_command}` again"
        ) from None
    except errors.RPCError as exc:
        await client.disconnect()
        raise SourceError(f"Telegram refused the session {path}: {exc}") from None
    if not authorized:
        await client.disconnect()
        raise AccountUnusable(not_logged_in)
    return client
