"""Which language a chat is spoken to in, and the gettext catalogs behind every text.

The texts are written in English in the code, marked with `_()` (`gettext` below) or `N_()`
(errors from lower layers, translated when shown); `bot/locales/<lang>/LC_MESSAGES/
messages.po` holds their translations. The .po files are the only committed form: they are
compiled in memory when the bot starts (Babel reads them, a few milliseconds), so a fresh
clone, `pip install -e .` and a wheel all work without a build step, and no compiled .mo can
fall out of step with its .po.

A chat's language is stored with its subscriber row. It starts as the Telegram language of
the first user who talks to the bot there (Russian for ru, uk, be and kk, English for the
rest) and changes with /language. Answers use it through `bot.chat_language.ChatLanguage`, a
middleware; alerts, digests and notices, made outside any update, use `speaking()`.

This module does not import aiogram (the bot's middleware is in `bot.chat_language`): a
monitor process renders its operator notices with these texts, and aiogram's import costs
seconds and a hundred megabytes it has no other use for.
"""

from __future__ import annotations

import gettext as gnu
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from storage.errors import ChanwatchError
from storage.models import Subscriber

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


class Catalogs:
    """The committed .po catalogs of `domain` under `path`, compiled in memory."""

    def __init__(self, *, path: Path, default_locale: str = ENGLISH, domain: str = DOMAIN):
        self.path = path
        self.default_locale = default_locale
        self.domain = domain
        self.locales = self._find_locales()

    @property
    def available_locales(self) -> tuple[str, ...]:
        return tuple(self.locales)

    def gettext(
        self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None
    ) -> str:
        """`singular` (or `plural`, by `n` and the language's plural rule) in `locale`, by
        default the language spoken now; the English itself for a language with no
        catalog."""
        if locale is None:
            spoken = _SPOKEN.get(None)
            locale = spoken[1] if spoken is not None else self.default_locale
        translator = self.locales.get(locale)
        if translator is None:
            return singular if n == 1 or plural is None else plural
        if plural is None:
            return translator.gettext(singular)
        return translator.ngettext(singular, plural, n)

    def _find_locales(self) -> dict[str, gnu.GNUTranslations]:
        found: dict[str, gnu.GNUTranslations] = {}
        for po in sorted(self.path.glob(f"*/LC_MESSAGES/{self.domain}.po")):
            locale = po.parents[1].name
            with po.open("rb") as file:
                catalog = read_po(file, locale=locale, domain=self.domain)
            compiled = BytesIO()
            write_mo(compiled, catalog)  # fuzzy entries are left out: English shows instead
            compiled.seek(0)
            found[locale] = gnu.GNUTranslations(compiled)
        return found


_SPOKEN: ContextVar[tuple[Catalogs, str]] = ContextVar("spoken")
"""The catalogs and the language texts are made in now: set by `speaking()` for the
current task (and the tasks it starts), so concurrent chats each keep their own."""


@cache
def load_i18n(path: Path = LOCALES) -> Catalogs:
    """The catalogs (read once per process: they do not change while it runs)."""
    catalogs = Catalogs(path=path, default_locale=ENGLISH, domain=DOMAIN)
    missing = set(LANGUAGES) - {ENGLISH} - set(catalogs.available_locales)
    if missing:
        raise ChanwatchError(
            f"translation catalogs missing for {sorted(missing)} in {path}: "
            "reinstall chanwatch (the .po files are package data)"
        )
    return catalogs


@contextmanager
def speaking(catalogs: Catalogs, language: str | None) -> Iterator[None]:
    """Texts made inside this block are in `language` (English for one not spoken)."""
    token = _SPOKEN.set((catalogs, language if language in LANGUAGES else ENGLISH))
    try:
        yield
    finally:
        _SPOKEN.reset(token)


def _spoken() -> tuple[Catalogs, str]:
    try:
        return _SPOKEN.get()
    except LookupError:
        # A text made outside `speaking()` and the middleware is a bug, not a language.
        raise LookupError("no language is being spoken: make texts inside speaking()") from None


def current_language() -> str:
    """The language texts are being made in right now."""
    return _spoken()[1]


def gettext(singular: str, plural: str | None = None, n: int = 1) -> str:
    """`_()`: `singular` (or `plural`, by `n`) in the language spoken now."""
    catalogs, language = _spoken()
    return catalogs.gettext(singular, plural, n, locale=language)
