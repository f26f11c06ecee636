"""How the bot's Bot API calls went, told to its `BotObserver`: the kind of a send's failure,
and the outcome of every poll for updates."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

from bot.observer import BotObserver

if TYPE_CHECKING:
    from aiogram.methods import Response


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
