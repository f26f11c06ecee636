"""What the bot tells whoever watches it run (the app's metrics and health check).

The bot only reports through this Protocol; it never learns about Prometheus or HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

import aiohttp
from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram.methods import Response

FAILURE_KINDS: Final = ("429", "403", "400", "401", "5xx", "network", "other")
"""How a send can fail, as `failure_kind` names it."""


class BotObserver(Protocol):
    """Told about every message the bot sends on its own and every poll for updates."""

    def message_sent(self, kind: str) -> None:
        """An outbox message ("alert", "edit", "digest", "notice") reached Telegram."""

    def send_failed(self, kind: str, failure: str) -> None:
        """An outbox message of `kind` was refused or lost; `failure` is a FAILURE_KINDS."""

    def bot_polled(self) -> None:
        """A getUpdates call succeeded: the bot hears its users."""

    def bot_poll_failed(self, reason: str) -> None:
        """A getUpdates call failed; aiogram retries it with a backoff."""

    def bot_answered(self) -> None:
        """Another Bot API call succeeded: Telegram is reachable (a long poll that waits
        for news answers only after its timeout)."""


class NoObserver:
    """Nobody is watching (tests, benchmarks, one-off commands)."""

    def message_sent(self, kind: str) -> None:
        return None

    def send_failed(self, kind: str, failure: str) -> None:
        return None

    def bot_polled(self) -> None:
        return None

    def bot_poll_failed(self, reason: str) -> None:
        return None

    def bot_answered(self) -> None:
        return None


def failure_kind(error: BaseException) -> str:
    """The FAILURE_KINDS name of a Bot API error (413 and 404 count as 400: a refusal of
    that message)."""
    if isinstance(error, TelegramRetryAfter):
        return "429"
    if isinstance(error, TelegramForbiddenError):
        return "403"
    if isinstance(error, TelegramUnauthorizedError):
        return "401"
    if isinstance(error, TelegramServerError):
        return "5xx"
    refused = (TelegramBadRequest, TelegramNotFound, TelegramMigrateToChat, TelegramEntityTooLarge)
    if isinstance(error, refused):
        return "400"
    if isinstance(error, (TelegramNetworkError, ClientDecodeError, aiohttp.ClientError)):
        return "network"
    if isinstance(error, TimeoutError):
        return "network"
    return "other"


class _PollWatch(BaseRequestMiddleware):
    """Reports the outcome of every getUpdates call (aiogram retries failed polls itself,
    so the polling task stays alive while the Bot API is away: only the calls tell)."""

    def __init__(self, observer: BotObserver) -> None:
        self._observer = observer

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)
        try:
            response = await make_request(bot, method)
        except Exception as error:
            if polling:
                self._observer.bot_poll_failed(_describe(error))
            raise
        if polling:
            self._observer.bot_polled()
        else:
            self._observer.bot_answered()
        return response


def watch_polling(bot: Bot, observer: BotObserver) -> None:
    """Tell `observer` how each of the bot's polls for updates went."""
    bot.session.middleware(_PollWatch(observer))


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text
