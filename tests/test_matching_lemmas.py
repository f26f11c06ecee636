"""index_lemmas/query_lemmas: the inflection-aware full-text search contract."""

from __future__ import annotations

import re

from monitor.matching import Lemmatizer, index_lemmas, query_lemmas


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


def test_a_lemmatizer_that_remembers_words_indexes_as_a_fresh_one_does() -> None:
    texts = [
        "Гости приглашаются на приём, гости приглашаются снова",
        "Нашли 5 000 рублей и 16 F-16; нашли ещё",
        "Визитом Кима в Москву открыли неделю визитов",
    ]
    small = Lemmatizer(max_words=3)  # forgets all the time
    roomy = Lemmatizer()
    for _ in range(2):
        for text in texts:
            expected = index_lemmas(text)
            assert small(text) == expected
            assert roomy(text) == expected
    # Each normal form once per post: search asks whether, not how often.
    assert index_lemmas("визит визитом визиту визита").split() == ["визит"]


def test_accents_of_latin_letters_are_dropped_and_cyrillic_letters_kept() -> None:
    # The search index splits its tokens byte-wise: lemmas must come plain already.
    assert index_lemmas("Müller, Škoda") == "muller skoda"
    assert {"йошкар", "ола"} <= set(index_lemmas("Йошкар-Ола").split())
    assert finds("Muller", "Herr Müller kommt")
    assert finds("йод", "Йод") and not finds("иод", "Йод")


def test_a_name_the_dictionary_reads_as_a_plural_is_found_in_every_case() -> None:
    # "Илон" and "Кир" are genitive plurals of Илона and Кира to the dictionary.
    assert finds("Илон Маск", "Сэм Альтман обнародовал переписку с Илоном Маском")
    assert finds("Кир Стармер", "заявленной премьер-министром Киром Стармером «перезагрузки»")
    assert finds("Илон", "Илон Маск заявил")
