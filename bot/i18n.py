"""Which language a chat is spoken to in, and the gettext catalogs behind every text.

The texts are written in English in the code, marked with `_()` (aiogram's gettext) or
`N_()` (errors from lower layers, translated when shown); `bot/locales/<lang>/LC_MESSAGES/
messages.po` holds their translations. The .po files are the only committed form: they are
compiled in memory when the bot starts (Babel reads them, a few milliseconds), so a fresh
clone, `pip install -e .` and a wheel all work without a build step, and no compiled .mo can
fall out of step with its .po.

A chat's language is stored with its subscriber row. It starts as the Telegram language of
the first user who talks to the bot there (Russian for ru, uk, be and kk, English for the
rest) and changes with /language. Answers use it through `ChatLanguage`, a middleware of
aiogram's i18n kind; alerts, digests and notices, made outside any update, use `speaking()`.
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, Final

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from aiogram.utils.i18n.context import get_i18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from storage import Store
from storage.errors import ChanwatchError
from storage.models import Subscriber

logger = logging.getLogger(__name__)

ENGLISH: Final = "en"
RUSSIAN: Final = "ru"
LANGUAGES: Final = (ENGLISH, RUSSIAN)
"""Every language the bot speaks; English is the language of the code and the fallback."""
RUSSIAN_READERS: Final = frozenset({"ru", "uk", "be", "kk"})
"""Telegram app languages whose users are spoken to in Russian."""
LOCALES: Final = Path(__file__).parent / "locales"
DOMAIN: Final = "messages"


def language_for(language_code: str | None) -> str:
    """The bot's language for a Telegram `language_code` ("ru", "uk", "en-US", None…)."""
    base = (language_code or "").replace("_", "-").split("-", 1)[0].lower()
    return RUSSIAN if base in RUSSIAN_READERS else ENGLISH


def chat_language(subscriber: Subscriber | None) -> str:
    """The language to speak in a chat; English while none is known."""
    language = subscriber.language if subscriber is not None else None
    return language if language in LANGUAGES else ENGLISH


class Catalogs(I18n):
    """aiogram's I18n over the committed .po catalogs, compiled in memory."""

    @contextmanager
    def context(self) -> Iterator[I18n]:
        # aiogram keeps "the current I18n" per class; its gettext asks I18n's, not ours.
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        found: dict[str, gettext.GNUTranslations] = {}
        for po in sorted(self.path.glob(f"*/LC_MESSAGES/{self.domain}.po")):
            locale = po.parents[1].name
            with po.open("rb") as file:
                catalog = read_po(file, locale=locale, domain=self.domain)
            compiled = BytesIO()
            write_mo(compiled, catalog)  # fuzzy entries are left out: English shows instead
            compiled.seek(0)
            found[locale] = gettext.GNUTranslations(compiled)
        return found


@cache
def load_i18n(path: Path = LOCALES) -> I18n:
    """The catalogs (read once per process: they do not change while it runs)."""
    i18n = Catalogs(path=path, default_locale=ENGLISH, domain=DOMAIN)
    missing = set(LANGUAGES) - {ENGLISH} - set(i18n.available_locales)
    if missing:
        raise ChanwatchError(
            f"translation catalogs missing for {sorted(missing)} in {path}: "
            "reinstall chanwatch (the .po files are package data)"
        )
    return i18n


@contextmanager
def speaking(i18n: I18n, language: str | None) -> Iterator[None]:
    """Texts made inside this block are in `language` (for what is sent outside an update)."""
    with i18n.context(), i18n.use_locale(language if language in LANGUAGES else ENGLISH):
        yield


def current_language() -> str:
    """The language texts are being made in right now."""
    return get_i18n().current_locale


class ChatLanguage(I18nMiddleware):
    """Answers in the chat's stored language (aiogram's i18n middleware, our rule).

    Registered after the middleware that puts the chat's `subscriber` into the handler data;
    for an error the chat is looked up, and a chat never seen speaks its user's language.
    """

    def __init__(self, i18n: I18n, store: Store) -> None:
        super().__init__(i18n)
        self._store = store

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
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
