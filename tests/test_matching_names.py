"""Names through the matcher's public API, on sentences taken from real channel posts:
foreign names the dictionary does not know, and surnames that are also ordinary nouns."""

from __future__ import annotations

import pytest

from monitor.matching import Matcher, TopicRule


def hits(term: str, text: str) -> list[str]:
    return [
        hit.text
        for match in Matcher.compile([TopicRule("t", (term,))]).match(text)
        for hit in match.hits
    ]


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        # "Илон" and "Кир" are genitive plurals of Илона and Кира to the dictionary.
        (
            "Илон Маск",
            "Глава OpenAI Сэм Альтман обнародовал переписку с Илоном Маском, в которой "
            "последний указывает на то, что ожидает от OpenAI прибыли.",
            "Илоном Маском",
        ),
        (
            "Илон Маск",
            "Компания SpaceX Илона Маска успешно провела шестой испытательный",
            "Илона Маска",
        ),
        ("Илон Маск", "В ходе «торгов» Илону Маску просто плюнули на ботинки", "Илону Маску"),
        (
            "Кир Стармер",
            "вакансию представителя на переговорах с ЕС для заявленной премьер-министром "
            "Киром Стармером «перезагрузки» отношений",
            "Киром Стармером",
        ),
        (
            "Марчел Чолаку",
            "он встретится с действующим премьер-министром Марчелом Чолаку, который "
            "изначально считался фаворитом гонки.",
            "Марчелом Чолаку",
        ),
        # The dictionary has Эммануэль only as an indeclinable woman's name.
        (
            "Эммануэль Макрон",
            "перед переговорами с президентом Франции Эммануэлем Макроном.",
            "Эммануэлем Макроном",
        ),
        # "Кая" is Кай's genitive to the dictionary.
        (
            "Кая Каллас",
            "утвердил новый состав Еврокомиссии во главе с Урсулой фон дер Ляйен и Каей Каллас "
            "на посту главы дипломатии ЕС.",
            "Каей Каллас",
        ),
        # "Нурмагомедов" is a plural of the first name Нурмагомед, "Токаев" of токай.
        (
            "Хабиб Нурмагомедов",
            "Налоговая заблокировала счета организаций экс-чемпиона UFC Хабиба Нурмагомедова.",
            "Хабиба Нурмагомедова",
        ),
        (
            "Токаев",
            "Путин заявил, что обсуждал с Токаевым возможность создания новых маршрутов",
            "Токаевым",
        ),
        # Indeclinable names keep working.
        (
            "Нарендра Моди",
            "Адани поддерживает тесные связи с премьер-министром Нарендрой Моди и его "
            "правительством",
            "Нарендрой Моди",
        ),
        (
            "Си Цзиньпин",
            "Председатель КНР Си Цзиньпин рассчитывает на «плавный транзит» в контактах",
            "Си Цзиньпин",
        ),
        (
            "Марин Ле Пен",
            "Марин Ле Пен трижды принимала участие в президентских выборах во Франции",
            "Марин Ле Пен",
        ),
    ],
)
def test_foreign_name_matches_in_every_case(term: str, text: str, found: str) -> None:
    assert hits(term, text) == [found]


def test_a_name_read_anew_keeps_no_other_word() -> None:
    # Илон declines as a man's name now, not as the woman's name Илона it was taken for.
    assert hits("Илон", "Когда правда вскрылась, с Илоной поговорили в полиции") == []
    # A nominative plural is still the dictionary's word: "Штаты" are штат's.
    assert hits("Штаты", "Поставки в Штатах выросли") == ["Штатах"]


@pytest.mark.parametrize(
    ("term", "text"),
    [
        (
            "Маск",
            "Вор обокрал пять коттеджей. Маска фантомасу не помогла, и его в Апрелевке задержали.",
        ),
        (
            "Маск",
            "Маски квадроберов и игрушечные лошадки для хоббихорсинга просят российские дети",
        ),
        ("name:Волк", "Волки стали менее защищённым видом в Европе"),
        ("name:Волк", "Сюжет: Волк-детектив охотится на Зайца, который стал серийным маньяком."),
        ("Пол", "Пол декоративного вагона рухнул во время съемок фильма «Василий Тёркин»"),
        ("name:Долина", "Природный парк «Долина реки Сходни в Куркино»"),
        (
            "name:Долина",
            "Togas, Medsleep, Micasa, Belpol, AlViTek, «Долина снов», Dargez, Kariguz",
        ),
        ("name:Долина", "писал о ленте кинокритик Антон Долин (в реестре «иноагентов»)"),
        ("Лада", "В Подольске гонщик на «Ладе» сбил женщину с ребенком во дворе."),
    ],
)
def test_the_noun_is_not_the_surname_where_the_sentence_says_so(term: str, text: str) -> None:
    assert hits(term, text) == []


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("Маск", "Маск заявил, что такие беспилотные автомобили будут безопаснее", "Маск"),
        # Plural verb: «Маска» cannot be the noun as subject, so it is the object.
        ("Маск", "Маска выдвинули на Нобелевскую премию мира", "Маска"),
        ("Маск", "Маску предрекли ключевую роль в перестройке NASA", "Маску"),
        # Feminine verb, masculine noun: the woman Ирина Волк.
        ("name:Волк", "Волк отметила, что, несмотря на рост нагрузки на личный состав", "Волк"),
        ("name:Долина", "Долина отдала всё, что нажито непосильным трудом", "Долина"),
        ("name:Долина", "Лариса Долина пытается оспорить сделку по продаже квартиры.", "Долина"),
        ("Пол", "Пол провёл 12 боксёрских поединков и одержал 11 побед", "Пол"),
        # Quoted speech starts a sentence; it is not a title.
        ("Путин", "«Путин прямо сейчас наносит ракетный удар по Киеву», — написал Ермак", "Путин"),
    ],
)
def test_the_surname_still_counts_at_a_sentence_start(term: str, text: str, found: str) -> None:
    assert hits(term, text) == [found]


def test_a_quoted_title_counts_only_when_the_post_names_the_person() -> None:
    title = "В Мытищах в ЖК «Кит» с фасада вниз летят части плит."
    assert hits("Кит", title) == []
    assert hits("Кит", "Спецпосланником назначен Кит Келлог. " + title) == ["Кит", "Кит"]


def test_hits_settled_by_the_sentence_stay_in_text_order() -> None:
    matcher = Matcher.compile([TopicRule("t", ("Маск",))])
    text = "Маска выдвинули на премию. Комитет поддержал Маска, а Маск промолчал."
    [match] = matcher.match(text)
    assert [(h.start, h.text) for h in match.hits] == [(0, "Маска"), (45, "Маска"), (54, "Маск")]
