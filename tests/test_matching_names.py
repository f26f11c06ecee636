"""Names through the matcher's public API, on sentences taken from real channel posts:
foreign names the dictionary does not know."""

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
