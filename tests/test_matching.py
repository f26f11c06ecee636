"""Behaviour of the topic matcher through its public API: inflection, names, phrases, syntax."""

from __future__ import annotations

import pytest

from monitor.errors import TermError
from monitor.matching import Matcher, TermHit, TopicMatch, TopicRule, validate_term

SEED_POST = "Лидер КНДР пригласил Первого посетить его страну в любое удобное время"
MEETING_POST = "Путин встретился с лидером КНДР Ким Чен Ыном в Пхеньяне."


@pytest.fixture(scope="module")
def mission() -> Matcher:
    return Matcher.compile(
        [
            TopicRule("visit", ("визит", "посетить", "посещение")),
            TopicRule("invitation", ("пригласить", "приглашение")),
            TopicRule("kim", ("Ким Чен Ын", "Kim Jong Un")),
        ]
    )


def single(term: str) -> Matcher:
    return Matcher.compile([TopicRule("t", (term,))])


def matched_texts(matcher: Matcher, text: str) -> list[str]:
    return [hit.text for match in matcher.match(text) for hit in match.hits]


def test_seed_post_matches_visit_and_invitation(mission: Matcher) -> None:
    matches = mission.match(SEED_POST)
    assert [m.topic for m in matches] == ["visit", "invitation"]
    visit, invitation = matches
    assert visit.hits == (TermHit("посетить", 29, 37, "посетить"),)
    assert invitation.hits == (TermHit("пригласить", 11, 20, "пригласил"),)


def test_meeting_post_matches_kim_jong_un(mission: Matcher) -> None:
    assert mission.match(MEETING_POST) == [
        TopicMatch("kim", (TermHit("Ким Чен Ын", 32, 44, "Ким Чен Ыном"),))
    ]


def test_no_match_is_an_empty_list(mission: Matcher) -> None:
    assert mission.match("Погода в Москве: без осадков") == []
    assert mission.match("") == []


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("визит", "после визита"),
        ("визит", "с визитом"),
        ("визит", "визиты"),
        ("визиты", "с визитом"),
        ("посетить", "он посетил завод"),
        ("посетить", "он посетит завод"),
        ("посетить", "посетив завод"),
        ("посетить", "завод посещён"),
        ("посетить", "посещённый завод"),
        ("пригласить", "его пригласила"),
        ("пригласить", "он приглашён"),
        ("пригласить", "список приглашённых"),
        ("приглашение", "нет приглашения"),
        ("приглашения", "с приглашением"),
        ("нашли", "ничего не нашёл"),
        ("нашли", "найти выход"),
        ("Ким Чен Ын", "для Ким Чен Ына"),
        ("Ким Чен Ын", "с Ким Чен Ыном"),
        ("Ким Чен Ын", "с Ким Чен-Ыном"),
        ("Александр Лукашенко", "позвонил Александру Лукашенко"),
        ("Южная Корея", "из Южной Кореи"),
        ("Южная Корея", "посетил Южную Корею"),
        ("Мороз", "у Мороза"),
        ("Мороз", "Морозу звонили"),
        ("Визит", "визит прошёл"),
        ("Государственная дума", "в государственной думе"),
        ("Государственная дума", "Государственной Думы"),
    ],
)
def test_inflected_forms_match(term: str, text: str) -> None:
    assert single(term).match(text), f"{term!r} should match {text!r}"


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("визит", "визитная карточка"),
        ("визит", "визитной карточкой"),
        ("посетить", "посетители музея"),
        ("посетить", "один посетитель"),
        ("Ким Чен Ын", "у Кима"),
        ("Ким Чен Ын", "Ким сказал"),
        ("Ким Чен Ын", "Ким, Чен, Ын"),
        ("Мороз", "мороза не было"),
        ("Мороз", "сильный мороз"),
        ("Южная Корея", "южная часть, Корея"),
        ("визит", "превизитный"),
        ("приглашение", "пригласить"),
    ],
)
def test_lookalikes_do_not_match(term: str, text: str) -> None:
    assert single(term).match(text) == [], f"{term!r} should not match {text!r}"


def test_hits_point_into_the_original_text() -> None:
    text = "«Визитом» — Ким Чен Ына\xa0и ВИЗИТЫ."
    matcher = Matcher.compile([TopicRule("t", ("визит", "Ким Чен Ын"))])
    [match] = matcher.match(text)
    assert [(h.term, h.text) for h in match.hits] == [
        ("визит", "Визитом"),
        ("Ким Чен Ын", "Ким Чен Ына"),
        ("визит", "ВИЗИТЫ"),
    ]
    for hit in match.hits:
        assert text[hit.start : hit.end] == hit.text


def test_yo_and_ye_are_the_same_letter() -> None:
    assert matched_texts(single("посещённый"), "посещенный дом") == ["посещенный"]
    assert matched_texts(single("посещенный"), "посещённый дом") == ["посещённый"]
    assert matched_texts(single("Ёлкин"), "у Елкина") == ["Елкина"]
    assert matched_texts(single("Елкин"), "у Ёлкина") == ["Ёлкина"]


def test_punctuation_and_emoji_around_words_are_ignored() -> None:
    text = "🔥Визит!!! (визиты), «визитом»…#визит"
    assert matched_texts(single("визит"), text) == ["Визит", "визиты", "визитом", "визит"]


def test_words_are_matched_whole() -> None:
    assert single("ким").match("таким образом") == []
    assert single("визит").match("визитёр") == []
    assert single("ship").match("friendship") == []


def test_phrase_words_must_be_adjacent() -> None:
    matcher = single("Южная Корея")
    assert matcher.match("Южная  \n Корея")
    assert matcher.match("Южная-Корея")
    assert matcher.match("Южная, Корея") == []
    assert matcher.match("Южная и Корея") == []
    assert matcher.match("Корея Южная") == []


def test_english_terms_inflect_as_english() -> None:
    matcher = single("visit")
    for text in ("visit", "two visits", "he visited", "visiting Seoul", "VISITS"):
        assert matcher.match(text), text
    assert matched_texts(single("ship"), "shipped and shipping") == ["shipped", "shipping"]
    assert matched_texts(single("country"), "countries") == ["countries"]
    assert matched_texts(single("Kim Jong Un"), "Kim Jong Un's sister") == ["Kim Jong Un"]


def test_capitalised_english_name_needs_capitals() -> None:
    assert single("Kim Jong Un").match("kim jong un") == []


def test_lowercase_term_matches_any_case() -> None:
    assert matched_texts(single("мороз"), "Мороз и мороза") == ["Мороз", "мороза"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Глава района Морозов заявил, что морозов не будет", ["морозов"]),
        ("Сказал Мороз: «Морозы ударят»", ["Морозы"]),
        ("Морозов не ждут. ⚡️Морозы до -30", ["Морозов", "Морозы"]),
        ("Синоптики: (Мороза не будет)", ["Мороза"]),
    ],
)
def test_lowercase_term_skips_a_capitalised_name_inside_a_sentence(
    text: str, expected: list[str]
) -> None:
    # "морозов" is frost in the genitive plural and the surname Морозов: capitalised inside
    # a sentence it is the surname; at a sentence start it can be either, and counts.
    assert matched_texts(single("мороз"), text) == expected


def test_imperfective_transitive_verb_includes_its_passive_voice() -> None:
    text = "Гости приглашаются на приём; музей посещается редко"
    assert matched_texts(single("приглашать"), text) == ["приглашаются"]
    assert matched_texts(single("посещать"), text) == ["посещается"]
    # An intransitive verb has no passive: "стучаться" (knock at) is another word.
    assert single("стучать").match("он стучится в дверь") == []


def test_name_prefix_makes_an_ordinary_word_a_name() -> None:
    # The dictionary knows "Долина" only as a valley; `name:` says it is the singer.
    matcher = single("name:Долина")
    assert matched_texts(matcher, "концерт Долиной, долины рек, ДОЛИНУ") == ["Долиной", "ДОЛИНУ"]
    assert matched_texts(single("Долина"), "долины рек") == ["долины"]


def test_exact_term_matches_only_that_form() -> None:
    matcher = single("=визит")
    assert matched_texts(matcher, "Визит, визита, ВИЗИТ") == ["Визит", "ВИЗИТ"]
    assert matched_texts(single("=посещённый"), "посещенный") == ["посещенный"]
    assert single("=визит").match("визитёр") == []


def test_regex_term_is_case_insensitive_and_folds_yo() -> None:
    matcher = single(r"re:\bвиз\w+")
    assert matched_texts(matcher, "ВИЗИТЫ и визитная") == ["ВИЗИТЫ", "визитная"]
    assert matched_texts(single("re:ёлк"), "ЕЛКА") == ["ЕЛК"]


def test_require_means_and() -> None:
    matcher = Matcher.compile([TopicRule("t", ("визит",), require=("КНДР", "Пхеньян"))])
    assert matcher.match("визит в Москву") == []
    [match] = matcher.match("визит в Пхеньян")
    assert [h.text for h in match.hits] == ["визит", "Пхеньян"]
    assert matcher.match("Пхеньян без визитов")


def test_require_alone_does_not_match() -> None:
    matcher = Matcher.compile([TopicRule("t", ("визит",), require=("КНДР",))])
    assert matcher.match("КНДР") == []


def test_exclude_vetoes() -> None:
    matcher = Matcher.compile([TopicRule("t", ("визит",), exclude=("карточка",))])
    assert matcher.match("визит в Сеул")
    assert matcher.match("визит и визитная карточки") == []


def test_topics_come_in_rule_order_and_share_terms() -> None:
    matcher = Matcher.compile([TopicRule("b", ("визит",)), TopicRule("a", ("визиты", "Сеул"))])
    assert matcher.topics == ("b", "a")
    matches = matcher.match("Сеул ждёт визита")
    assert [m.topic for m in matches] == ["b", "a"]
    assert [(h.term, h.text) for h in matches[1].hits] == [("Сеул", "Сеул"), ("визиты", "визита")]


def test_term_in_terms_and_require_is_reported_once() -> None:
    matcher = Matcher.compile([TopicRule("t", ("визит",), require=("визит",))])
    [match] = matcher.match("визит")
    assert len(match.hits) == 1


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        (TopicRule("news", ("",)), 'Topic "news", term ""'),
        (TopicRule("news", ("  ",)), "empty"),
        (TopicRule("news", ("123 !!",)), 'term "123 !!"'),
        (TopicRule("news", ("=",)), "letter"),
        (TopicRule("news", ("re:(визит",)), 'term "re:(визит"'),
        (TopicRule("news", ("re:",)), "empty"),
        (TopicRule("news", ("re:a*",)), "empty text"),
        (TopicRule("news", ("визит",), exclude=("re:[",)), 'Topic "news", term "re:["'),
        (TopicRule("news", ()), 'Topic "news" has no terms'),
    ],
)
def test_bad_terms_raise_term_error(rule: TopicRule, fragment: str) -> None:
    with pytest.raises(TermError) as caught:
        Matcher.compile([rule])
    assert fragment in str(caught.value)


def test_validate_term() -> None:
    validate_term("Ким Чен Ын")
    validate_term("re:\\d+ визит")
    with pytest.raises(TermError, match='Term "re:\\(":'):
        validate_term("re:(")
    with pytest.raises(TermError, match="letter"):
        validate_term("42")


def test_empty_rule_list_compiles_to_nothing() -> None:
    matcher = Matcher.compile([])
    assert matcher.topics == ()
    assert matcher.match("визит") == []


def test_dictionary_form_term_means_only_its_own_word() -> None:
    # "сталь" and "стать" share the form "стали"; a lemma term keeps to its own word.
    assert matched_texts(single("сталь"), "из стали, сталью") == ["стали", "сталью"]
    assert single("сталь").match("он станет") == []
    assert single("стать").match("сталью") == []
    assert single("стать").match("он станет")


def test_inflected_term_means_every_word_it_can_be() -> None:
    # "нашли" is a form of найти and of наслать: both count, nothing else does.
    matcher = single("нашли")
    assert matcher.match("найдут")
    assert matcher.match("наслали")
    assert matcher.match("нашествие") == []
