"""The translation catalogs against the code: every text the bot can send exists in every
language, with the same placeholders and HTML tags, and Russian plurals are right.

The texts are read from the source the way `pybabel extract` reads them (same keywords, from
pyproject.toml), so a text added in English only fails here until it is translated.
"""

from __future__ import annotations

import re
import shutil
import string
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_keywords
from babel.messages.pofile import read_po, write_po

from bot import texts
from bot.i18n import LANGUAGES, LOCALES, Catalogs, language_for, load_i18n, speaking

ROOT = Path(__file__).resolve().parent.parent
_TAG = re.compile(r"</?[a-z][a-z-]*")


def _extraction() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["babel"]["extract_messages"]


def code_messages() -> dict[str, tuple[str, ...]]:
    """Every marked text in the code: msgid -> (msgid, msgid_plural) or (msgid,)."""
    options = _extraction()
    keywords = parse_keywords(options["keywords"])
    found: dict[str, tuple[str, ...]] = {}
    for folder in options["input_paths"]:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / str(folder), keywords=keywords
        ):
            forms = (message,) if isinstance(message, str) else tuple(message)
            found[forms[0]] = forms
    return found


def catalog(language: str, root: Path = LOCALES) -> Catalog:
    with (root / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file, locale=language)


def entry(translated: Catalog, msgid: str) -> Message:
    found = translated.get(msgid)
    assert found is not None, msgid
    return found


def _fields(text: str) -> Counter[str]:
    return Counter(name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name)


def problems(code: dict[str, tuple[str, ...]], translated: Catalog) -> list[str]:
    """Everything wrong with one language's catalog, as sentences (empty: all good)."""
    found: list[str] = []
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in translated if m.id}
    for msgid, forms in code.items():
        entry = entries.get(msgid)
        strings: tuple[str, ...] = ()
        if entry is not None:
            value = entry.string
            strings = (value,) if isinstance(value, str) else tuple(value or ())
        if entry is None or not all(strings):
            found.append(f"untranslated: {msgid!r}")
            continue
        if entry.fuzzy:
            found.append(f"fuzzy (check and remove the flag): {msgid!r}")
        if len(forms) > 1 and len(strings) != translated.num_plurals:
            found.append(
                f"{len(strings)} plural forms, {translated.num_plurals} needed: {msgid!r}"
            )
        for text in strings:
            if _fields(text) != _fields(forms[-1]) and _fields(text) != _fields(forms[0]):
                found.append(f"placeholders {dict(_fields(text))} in {text!r} for {msgid!r}")
            if Counter(_TAG.findall(text)) != Counter(_TAG.findall(msgid)):
                found.append(f"HTML tags differ in {text!r} for {msgid!r}")
    found.extend(f"not in the code any more: {msgid!r}" for msgid in entries.keys() - code.keys())
    return found


@pytest.fixture(scope="module")
def code() -> dict[str, tuple[str, ...]]:
    messages = code_messages()
    assert len(messages) > 150, "the extraction found too few texts: is the config right?"
    return messages


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_text_exists_in_every_language(
    code: dict[str, tuple[str, ...]], language: str
) -> None:
    assert problems(code, catalog(language)) == []


def test_a_dropped_placeholder_an_untranslated_text_and_a_stale_one_are_all_caught(
    code: dict[str, tuple[str, ...]],
) -> None:
    broken = catalog("ru")
    entry(broken, "Hello, {name}!").string = "Здравствуйте, {имя}!"  # a renamed placeholder
    entry(broken, "Matches: {count}").string = "Совпадений"  # a dropped one
    entry(broken, "Hello!").string = ""
    broken.add("A text the code no longer has", "Текст, которого в коде уже нет")
    found = problems(code, broken)
    assert any("Hello, {name}!" in line and "placeholders" in line for line in found)
    assert any("Matches: {count}" in line and "placeholders" in line for line in found)
    assert "untranslated: 'Hello!'" in found
    assert "not in the code any more: 'A text the code no longer has'" in found


def test_a_text_added_in_english_only_is_caught(code: dict[str, tuple[str, ...]]) -> None:
    assert problems({**code, "A brand new text": ("A brand new text",)}, catalog("ru")) == [
        "untranslated: 'A brand new text'"
    ]


@pytest.fixture
def russian() -> Iterator[None]:
    with speaking(load_i18n(), "ru"):
        yield


@pytest.mark.usefixtures("russian")
def test_russian_plurals_agree_with_the_number() -> None:
    header = [texts.recent_header(n) for n in (1, 2, 5, 11, 21, 22, 25, 112)]
    assert [line.split("</b>")[0].removeprefix("<b>") for line in header] == [
        "Последнее 1 совпадение",
        "Последние 2 совпадения",
        "Последние 5 совпадений",
        "Последние 11 совпадений",
        "Последнее 21 совпадение",
        "Последние 22 совпадения",
        "Последние 25 совпадений",
        "Последние 112 совпадений",
    ]


def test_english_plurals() -> None:
    with speaking(load_i18n(), "en"):
        assert texts.recent_header(1).startswith("<b>Latest 1 matching post</b>")
        assert texts.recent_header(3).startswith("<b>Latest 3 matching posts</b>")


def test_app_languages_map_to_the_bots() -> None:
    for code in ("ru", "uk", "be", "kk", "ru-RU", "UK"):
        assert language_for(code) == "ru", code
    for other in ("en", "en-US", "de", "pt-br", "", None):
        assert language_for(other) == "en", other


def test_catalogs_are_compiled_from_the_po_so_an_edit_shows_at_the_next_start(
    tmp_path: Path,
) -> None:
    """No compiled .mo is kept anywhere: what the .po says is what the bot says."""
    shutil.copytree(LOCALES, tmp_path / "locales")
    edited = catalog("ru", tmp_path / "locales")
    entry(edited, "Hello!").string = "Привет!"
    with (tmp_path / "locales" / "ru" / "LC_MESSAGES" / "messages.po").open("wb") as file:
        write_po(file, edited)
    i18n = Catalogs(path=tmp_path / "locales", default_locale="en", domain="messages")
    assert i18n.gettext("Hello!", locale="ru") == "Привет!"
    assert not list(LOCALES.rglob("*.mo"))
