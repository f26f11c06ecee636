"""index_lemmas/query_lemmas: the inflection-aware full-text search contract."""

from __future__ import annotations

import re

from monitor.matching import index_lemmas, query_lemmas


def finds(query: str, text: str) -> bool:
    """What storage does: every query word needs one of its alternatives in the index."""
    indexed = set(index_lemmas(text).split())
    words = query_lemmas(query)
    return bool(words) and all(indexed & set(alternatives) for alternatives in words)


def test_inflected_query_finds_other_forms() -> None:
    assert finds("визиты Ким", "Визитом Кима в Москву открыли неделю")
    assert finds("посетить", "Он посетил завод")
    assert finds("посещённый", "посещенный завод")
    assert finds("visits", "Kim visited Moscow")


def test_passive_voice_is_found_by_its_active_verb() -> None:
    assert finds("приглашать", "Гости приглашаются на приём")
    assert not finds("стучать", "Он стучится в дверь")


def test_unrelated_words_are_not_found() -> None:
    assert not finds("визиты Ким", "визитная карточка")
    assert not finds("посетить", "посетители музея")


def test_ambiguous_words_index_every_normal_form() -> None:
    lemmas = index_lemmas("нашли").split()
    assert {"найти", "наслать"} <= set(lemmas)
    assert {"найти", "наслать"} <= set(query_lemmas("нашли")[0])


def test_tokens_are_fts5_safe() -> None:
    text = "**Ёж** «Нью-Йорк»: F-16, 5G; [ссылка](https://x.ru) — it's 🔥 ok_ok"
    for token in index_lemmas(text).split():
        assert re.fullmatch(r"[^\W_]+", token), token
    assert index_lemmas("Ёж") == "еж"


def test_query_without_words() -> None:
    assert query_lemmas("  !!! — ") == []
    assert index_lemmas("") == ""


def test_a_name_the_dictionary_reads_as_a_plural_is_found_in_every_case() -> None:
    # "Илон" and "Кир" are genitive plurals of Илона and Кира to the dictionary.
    assert finds("Илон Маск", "Сэм Альтман обнародовал переписку с Илоном Маском")
    assert finds("Кир Стармер", "заявленной премьер-министром Киром Стармером «перезагрузки»")
    assert finds("Илон", "Илон Маск заявил")
