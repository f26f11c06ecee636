"""The middleware that answers each chat in its language (`bot.i18n` holds the rule and the
catalogs; this is the aiogram side of it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.i18n import LANGUAGES, Catalogs, language_for, speaking
from storage import Store
from storage.models import Subscriber

logger = logging.getLogger(__name__)


class ChatLanguage(BaseMiddleware):
    """Answers in the chat's stored language.

    Registered after the middleware that puts the chat's `subscriber` into the handler data;
    for an error the chat is looked up, and a chat never seen speaks its user's language.
    """

    def __init__(self, catalogs: Catalogs, store: Store) -> None:
        self._catalogs = catalogs
        self._store = store

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        with speaking(self._catalogs, await self._language(data)):
            return await handler(event, data)

    async def _language(self, data: dict[str, Any]) -> str:
        subscriber: Subscriber | None = data.get("subscriber")
        if subscriber is None:
            chat = data.get("event_chat")
            if chat is not None:
                try:
                    subscriber = await self._store.subscribers.get(chat.id)
                except Exception:
                    # Answering an error must not fail on the database that may have caused it.
                    logger.warning("chat %d: language unknown, database unreadable", chat.id)
        if subscriber is not None and subscriber.language in LANGUAGES:
            return subscriber.language
        user: User | None = data.get("event_from_user")
        return language_for(user.language_code if user is not None else None)
