"""The story detector through its public interface, `monitor.stories.StoryIndex`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.stories import StoryIndex, StoryRef
from monitor.stories.text import TOKEN, words

T0 = datetime(2024, 11, 20, 10, 0, tzinfo=UTC)
NEWS = (
    "Лидер КНДР Ким Чен Ын пригласил президента России посетить Пхеньян в любое удобное "
    "время, сообщило центральное телеграфное агентство Кореи"
)
OTHER = (
    "В Подмосковье загорелся склад площадью две тысячи квадратных метров, на месте работают "
    "пожарные расчёты, пострадавших нет"
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_copy_with_another_header_and_footer_joins_the_first_post() -> None:
    index = StoryIndex()
    assert index.assign("pul_1", 10, at(0), NEWS) == StoryRef("pul_1", 10)
    copy = f"⚡️ Срочно\n\n{NEWS}\n\nПодписаться на @rian_ru https://t.me/rian_ru"
    assert index.assign("rian_ru", 77, at(3), copy) == StoryRef("pul_1", 10)
    assert index.assign("mash", 5, at(4), OTHER) == StoryRef("mash", 5)
    assert index.story_of("rian_ru", 77) == StoryRef("pul_1", 10)


def test_assigning_a_post_again_keeps_its_story() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), NEWS)
    assert index.assign("b", 1, at(1), NEWS) == StoryRef("a", 1)
    assert index.assign("b", 1, at(1), OTHER) == StoryRef("a", 1)


def test_a_forgotten_post_is_judged_again_and_is_no_original_meanwhile() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), NEWS)
    index.forget("a", 1)  # its save failed
    assert index.story_of("a", 1) is None and len(index) == 0
    assert index.assign("b", 1, at(1), NEWS) == StoryRef("b", 1)
    # Handed again, it is decided again: now a copy of what came meanwhile.
    assert index.assign("a", 1, at(0), NEWS) == StoryRef("b", 1)
    index.forget("c", 9)  # never filed: nothing to do


def test_posts_further_apart_than_the_window_are_separate_stories() -> None:
    index = StoryIndex(window_hours=2)
    index.assign("a", 1, at(0), NEWS)
    assert index.assign("b", 1, at(121), NEWS) == StoryRef("b", 1)


def test_posts_older_than_the_window_are_forgotten() -> None:
    index = StoryIndex(window_hours=1)
    for i in range(100):
        index.assign("a", i, at(i * 10), f"{OTHER} номер {i}")
    assert len(index) <= 7
    assert index.story_of("a", 0) is None


def test_short_texts_start_their_own_story() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), "Видео")
    assert index.assign("b", 1, at(1), "Видео") == StoryRef("b", 1)
    assert index.assign("c", 1, at(2), "") == StoryRef("c", 1)


def test_an_edit_moves_a_post_only_when_its_text_changed_substantially() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), NEWS)
    index.assign("b", 1, at(1), OTHER)
    assert index.update("b", 1, at(1), OTHER + "!") == StoryRef("b", 1)
    assert index.update("b", 1, at(1), NEWS) == StoryRef("a", 1)
    assert index.story_of("b", 1) == StoryRef("a", 1)


def test_rebuild_files_posts_in_date_order() -> None:
    rows = [("b", 1, at(5), NEWS), ("c", 9, at(9), OTHER), ("a", 1, at(0), NEWS)]
    index = StoryIndex.rebuild(rows)
    assert index.story_of("b", 1) == StoryRef("a", 1)
    assert index.story_of("a", 1) == StoryRef("a", 1)
    assert index.story_of("c", 9) == StoryRef("c", 9)


RATE = "Доллар поднялся выше {} рублей на бирже, евро — выше {} рублей, — данные торгов"


def test_a_new_number_makes_another_story() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), RATE.format(107, 113))
    assert index.assign("b", 1, at(60), RATE.format(108, 114)) == StoryRef("b", 1)
    # The same figures again are a copy.
    assert index.assign("c", 1, at(61), RATE.format(108, 114)) == StoryRef("b", 1)


def test_a_post_that_adds_another_event_is_news_but_a_shortened_copy_is_not() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), NEWS)
    longer = f"{NEWS}. {OTHER}, сообщили в МЧС"
    assert index.assign("b", 1, at(5), longer) == StoryRef("b", 1)
    shortened = "Ким Чен Ын пригласил президента России посетить Пхеньян в любое удобное время"
    assert index.assign("c", 1, at(6), shortened) in {StoryRef("a", 1), StoryRef("b", 1)}
    assert set(index.originals("c", 1)) == {StoryRef("a", 1), StoryRef("b", 1)}
    assert index.originals("a", 1) == ()


def test_lines_a_channel_keeps_repeating_are_not_compared() -> None:
    footer = (
        "Подписывайтесь на наш канал, присылайте свои новости, фото и видео в бот, "
        "ставьте реакции и делитесь постами с друзьями и знакомыми"
    )
    index = StoryIndex()
    for n in range(3):
        weather = f"Другая новость номер {n} о погоде в городе сегодня"
        index.assign("b", n, at(n), f"{weather}\n{footer}")
    index.assign("a", 1, at(10), NEWS)
    # Without its footer the copy is the news; with it, it would be mostly footer.
    assert index.assign("b", 9, at(11), f"{NEWS}\n{footer}") == StoryRef("a", 1)


LAW = (
    "{} закон о регулировании оборота цифровой валюты. Кабмин сможет запрещать майнинг "
    "цифровой валюты в отдельных субъектах, регулировать деятельность операторов "
    "майнинговой инфраструктуры"
)


def test_the_next_step_of_a_procedure_is_another_story() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), LAW.format("Госдума приняла"))
    # The same words, but the law has moved on: another event.
    assert index.assign("b", 1, at(60), LAW.format("Совфед одобрил")) == StoryRef("b", 1)
    # The approval retold is the approval.
    assert index.assign("c", 1, at(70), LAW.format("Совфед одобрил")) == StoryRef("b", 1)
    # «Одобрила» and «приняла» tell one step of the chamber: the same vote, reworded ...
    index = StoryIndex()
    index.assign("a", 1, at(0), LAW.format("Госдума одобрила"))
    assert index.assign("d", 1, at(30), LAW.format("Госдума приняла")) == StoryRef("a", 1)
    # ... and the signature is still the next step.
    assert index.assign("e", 1, at(90), LAW.format("Путин подписал")) == StoryRef("e", 1)


def test_a_copy_that_adds_a_statement_also_made_is_another_story() -> None:
    index = StoryIndex()
    first = "Владимир Путин заявил, что поздравляет Трампа с избранием на пост президента США"
    index.assign("a", 1, at(0), first)
    more = f"{first}. Он также заявил, что готов к контактам с Трампом"
    assert index.assign("b", 1, at(20), more) == StoryRef("b", 1)
    # «Also» in the first sentence belongs to the news itself: still a copy.
    index = StoryIndex()
    index.assign("a", 1, at(0), first)
    same = "Путин также поздравляет Трампа с избранием на пост президента США, заявил он"
    assert index.assign("c", 1, at(30), same) == StoryRef("a", 1)


def test_remember_files_a_story_decided_elsewhere() -> None:
    index = StoryIndex()
    # Another process stored ("b", 7) as a copy of ("a", 1), which this index never saw.
    index.remember("b", 7, at(0), NEWS, StoryRef("a", 1))
    index.remember("c", 2, at(1), OTHER, None)
    assert index.story_of("b", 7) == StoryRef("a", 1)
    assert index.story_of("c", 2) == StoryRef("c", 2)
    assert index.originals("b", 7) == (StoryRef("a", 1),)
    # A later copy joins the stored story; remembering a filed post changes nothing.
    assert index.assign("d", 3, at(2), f"⚡️ {NEWS}") == StoryRef("a", 1)
    index.remember("b", 7, at(0), OTHER, None)
    assert index.story_of("b", 7) == StoryRef("a", 1)
    assert index.assign("e", 4, at(3), OTHER) == StoryRef("c", 2)


def test_a_headline_that_swaps_a_name_is_another_story() -> None:
    index = StoryIndex()
    taken = (
        "Российская армия взяла под контроль населенный пункт {} в Донбассе, сообщили в Минобороны"
    )
    index.assign("a", 1, at(0), taken.format("Ильинка"))
    assert index.assign("a", 2, at(600), taken.format("Дальнее")) == StoryRef("a", 2)
    # The same village again, under another header: a copy.
    copy = f"❗️ Срочно\n{taken.format('Дальнее')}"
    assert index.assign("b", 1, at(601), copy) == StoryRef("a", 2)


def test_a_count_written_as_a_word_is_a_number() -> None:
    index = StoryIndex()
    shot = (
        "Ещё {} беспилотников, летевших на Москву, сбили силами ПВО в городских округах, — Собянин"
    )
    index.assign("a", 1, at(0), shot.format("восемь"))
    assert index.assign("b", 1, at(30), shot.format("три")) == StoryRef("b", 1)
    assert index.assign("c", 1, at(31), shot.format("3")) == StoryRef("b", 1)


def test_a_collective_count_is_a_number() -> None:
    index = StoryIndex()
    theft = (
        "Вечером {} мужчин украли из супермаркета на Варшавском шоссе сорок банок красной "
        "икры, одного из воров задержали охранники магазина"
    )
    index.assign("a", 1, at(0), theft.format("двое"))
    # «двое» and «два» are one count: a copy, though the later has a number word the
    # first lacks...
    assert index.assign("b", 1, at(10), theft.format("два")) == StoryRef("a", 1)
    # ...while «трое» after «двое» is another count.
    assert index.assign("c", 1, at(20), theft.format("трое")) == StoryRef("c", 1)


RAIN = (
    "Рекордное количество осадков ожидается в Москве в четверг, дождь начнётся утром и "
    "усилится {}, сообщили синоптики столичного Гидрометцентра"
)


def test_a_copy_that_adds_a_time_of_day_is_a_copy_but_another_time_is_news() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), RAIN.format("к 15 часам"))
    # «к 15:00» for «к 15 часам», and when the warning starts: details of the same news.
    copy = f"{RAIN.format('к 15:00')}. Предупреждение действует с 09:00"
    assert index.assign("b", 1, at(4), copy) == StoryRef("a", 1)
    # Any other new number is news ...
    assert index.assign("c", 1, at(6), RAIN.format("к 15 часам, выпадет 30 мм")) == StoryRef(
        "c", 1
    )
    # ... and so is a time the first post gave, changed.
    index = StoryIndex()
    index.assign("a", 1, at(0), RAIN.format("к 16:00"))
    assert index.assign("d", 1, at(2), RAIN.format("к 18:00")) == StoryRef("d", 1)


def guide(dates: str, events: list[str]) -> str:
    lines = [f"Куда сходить в Москве: идеи для прогулок и интересные мероприятия {dates}"]
    for n, event in enumerate(events):
        lines += [event, f"https://t.me/moscow_events/{100 + n}"]
    return "\n".join(lines)


EVENTS = [
    "Рождественская ярмарка в Петровском пассаже",
    "Фестиваль керамики на Винзаводе",
    "День матери в Музее Победы",
    "Открытие катка в парке Северного речного вокзала",
    "Световое шоу в павильоне на ВДНХ",
    "Бесплатный спектакль в Доме культуры",
]


def test_another_issue_of_a_round_up_is_another_story() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), guide("23-24 ноября", EVENTS))
    # The same guide in a sister channel is a copy ...
    assert index.assign("b", 1, at(2), guide("23-24 ноября", EVENTS)) == StoryRef("a", 1)
    # ... but the next day's issue, most of its lines the same, is another post.
    assert index.assign("a", 2, at(24 * 60 - 30), guide("24 ноября", EVENTS[1:])) == StoryRef(
        "a", 2
    )


def test_a_channel_repeating_its_own_post_hours_later_reports_news() -> None:
    alarm = "Воздушная тревога объявлена на всей территории Украины, сообщают местные власти"
    index = StoryIndex()
    index.assign("ria", 1, at(0), alarm)
    # Within the hour the channel's repost is a copy ...
    assert index.assign("ria", 2, at(40), alarm) == StoryRef("ria", 1)
    # ... the next morning, in the same words, it is the next alarm ...
    index = StoryIndex()
    index.assign("ria", 1, at(0), alarm)
    assert index.assign("ria", 3, at(20 * 60), alarm) == StoryRef("ria", 3)
    # ... while another channel's copy of the first, as late, still joins the story.
    index = StoryIndex()
    index.assign("ria", 1, at(0), alarm)
    assert index.assign("mash", 1, at(20 * 60), alarm) == StoryRef("ria", 1)


def test_words_are_the_same_with_or_without_emoji_and_letters_beyond_the_basic_plane() -> None:
    # `words` spells the word classes out for speed; they must be TOKEN's exactly.
    every_char = "".join(map(chr, range(0x10000))).replace("@", "")  # no @mention in it
    for text in (
        " ".join(char * 3 for char in every_char),  # each character as a word of its own
        every_char,  # each next to others of every class
        f"{every_char} 😀",  # the same text, stored wider because of an emoji
        "Срочно 🔥 новость 2024 года 😀 abc1234def",
        "𝐁𝐨𝐥𝐝 буквы 𝐀𝐁𝐂 слово 😀 и цифры 𝟏𝟐𝟑",  # letters and digits beyond U+FFFF
    ):
        assert words(text) == TOKEN.findall(text)


def test_a_long_run_of_new_words_keeps_finding_copies_inside_the_window() -> None:
    # Each post brings new stems, so postings are created and left empty by forgetting by
    # the tens of thousands (and swept away once in a while).
    index = StoryIndex(window_hours=1)
    letters = "абвгдежзиклмнопрстуфхцчшщэюя"

    def word(n: int) -> str:
        spelled = ""
        for _ in range(5):
            n, digit = divmod(n, len(letters))
            spelled += letters[digit]
        return spelled + "ов"

    def post(i: int) -> str:
        return " ".join(word(i * 20 + j) for j in range(20))

    for i in range(1500):
        index.assign("a", i, at(i), post(i))
        if i % 5 == 0 and i >= 30:
            assert index.assign("b", i, at(i), f"⚡️ {post(i - 30)}") == StoryRef("a", i - 30)
    assert index.assign("c", 1, at(1500), post(1400)) == StoryRef("c", 1)  # forgotten
    assert index.update("a", 1499, at(1499), post(1495)) == StoryRef("a", 1495)
    assert index.assign("c", 2, at(1501), post(1499)) == StoryRef("c", 2)


FINE = (
    "Штраф за безбилетный проезд в общественном транспорте Подмосковья увеличат вдвое: "
    "зайцам придётся заплатить {}, закон утвердили депутаты областной думы"
)


def test_a_figure_written_another_way_is_no_new_number() -> None:
    index = StoryIndex()
    index.assign(
        "a", 1, at(0), FINE.format("2 тысячи рублей вместо 1 тысячи, в среднем полторы тысячи")
    )
    # «2 000» and «1000» for «2 тысячи» and «1 тысячи», «1,5 тыс» for «полторы тысячи».
    copy = FINE.format("2 000 рублей вместо 1000, в среднем 1,5 тыс")
    assert index.assign("b", 1, at(5), copy) == StoryRef("a", 1)
    # Another figure, however written, is still news.
    other = FINE.format("3 000 рублей вместо 1000, в среднем 1,5 тыс")
    assert index.assign("c", 1, at(7), other) == StoryRef("c", 1)


def test_an_age_rating_is_no_figure() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), NEWS)
    assert index.assign("b", 1, at(3), f"🔞 18+\n{NEWS}") == StoryRef("a", 1)


SNOW = (
    "Москву сегодня ночью занесло снегом. Днём ожидаются гололедица, налипание мокрого "
    "снега на провода и порывистый ветер, предупреждает МЧС"
)


def test_a_headline_telling_what_followed_the_first_post_is_news() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), SNOW)
    # The same warning under a headline of what happened after the snowfall: news ...
    later = (
        "На дорогах Подмосковья массовые аварии после снегопада. Днём ожидаются гололедица, "
        "налипание мокрого снега на провода и порывистый ветер, предупреждает МЧС"
    )
    assert index.assign("b", 1, at(90), later) == StoryRef("b", 1)
    # ... while a headline merely reworded, «после» and all, is a copy.
    rest = SNOW.split(". ", 1)[1]
    index = StoryIndex()
    index.assign("a", 1, at(0), f"Массовые аварии на дорогах после снегопада. {rest}")
    reworded = f"На дорогах Подмосковья массовые ДТП после снегопада. {rest}"
    assert index.assign("c", 1, at(20), reworded) == StoryRef("a", 1)


RATES = (
    "Сбербанк поднимет ставки по рыночной ипотеке сразу на 3 процентных пункта{}, минимальная "
    "ставка на строящееся жильё составит 24,9%, на готовое 24,6%"
)


def test_a_copy_that_adds_a_date_is_a_copy_but_another_date_is_news() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), RATES.format(""))
    # When, added to a post that named no date, is a detail of the same news ...
    assert index.assign("b", 1, at(30), RATES.format(" с 22 октября")) == StoryRef("a", 1)
    # ... while a date the first post gave, changed, is news.
    index = StoryIndex()
    index.assign("a", 1, at(0), RATES.format(" с 22 октября"))
    assert index.assign("c", 1, at(30), RATES.format(" с 29 октября")) == StoryRef("c", 1)


def test_a_headline_with_another_figure_of_the_first_post_is_news() -> None:
    index = StoryIndex()
    index.assign("a", 1, at(0), "Биткоин поднялся выше $95 000 на бирже. Аналитики ждут $98 000")
    # The same headline with the figure the first post only expected is the next level...
    later = "Биткоин поднялся выше $98 000 на бирже"
    assert index.assign("b", 1, at(120), later) == StoryRef("b", 1)
    # ...while the same headline with the same figure is a copy, and so is a shortened
    # post whose headline tells the first post's second sentence.
    assert index.assign("c", 1, at(121), f"⚡️{later}") == StoryRef("b", 1)
    index = StoryIndex()
    index.assign("a", 1, at(0), "Биткоин поднялся выше $95 000 на бирже. Аналитики ждут $98 000")
    assert index.assign("d", 1, at(5), "Аналитики ждут биткоин по $98 000") == StoryRef("a", 1)


def test_a_name_spelled_another_way_is_no_name_swapped() -> None:
    index = StoryIndex()
    first = (
        "Минская фабрика «Коммунарка» начнёт поставлять шоколад в Киргизию с января, "
        "сообщили в министерстве торговли Белоруссии"
    )
    later = (
        "Фабрика «Коммунарка» из Беларуси с января начнёт поставлять шоколад в Кыргызстан, "
        "сообщили в министерстве торговли"
    )
    index.assign("a", 1, at(0), first)
    assert index.assign("b", 1, at(15), later) == StoryRef("a", 1)
    # Another country is still another story.
    other = later.replace("Кыргызстан", "Казахстан")
    assert index.assign("c", 1, at(16), other) == StoryRef("c", 1)


SUMMIT = (
    "Лукашенко прибыл в Бишкек на заседание Высшего Евразийского экономического совета\n"
    "Что он заявил журналистам по прибытии:\n"
    "— Белоруссия готова увеличить поставки тракторов и комбайнов в Центральную Азию;\n"
    "— переговоры о газе с Москвой идут тяжело, но договорённость будет найдена;\n"
    "— союзное государство не станет вводить общую валюту в ближайшие годы;\n"
    "— санкции Запада белорусская экономика пережила лучше, чем ожидали в Брюсселе;\n"
    "— на выборах в январе он намерен выступить кандидатом снова;\n"
    "— отношения с Польшей остаются тяжёлыми, пограничные переходы закрыты;\n"
    "— вопрос о размещении новых ракетных комплексов решён окончательно."
)


def test_one_line_of_a_long_round_up_told_alone_soon_after_is_a_copy() -> None:
    line = "Лукашенко заявил, что союзное государство не станет вводить общую валюту"
    index = StoryIndex()
    index.assign("a", 1, at(0), SUMMIT)
    # Minutes later, one statement of the round-up told alone is a copy of it...
    assert index.assign("b", 1, at(10), line) == StoryRef("a", 1)
    # ...while hours later the same line is not taken for one.
    index = StoryIndex()
    index.assign("a", 1, at(0), SUMMIT)
    assert index.assign("c", 1, at(180), line) == StoryRef("c", 1)


CALL = (
    "Путин и президент Казахстана Токаев обсудили по телефону поставки зерна и работу "
    "Каспийского трубопроводного консорциума, сообщили в Кремле"
)


def test_a_statement_told_again_under_also_is_a_copy() -> None:
    index = StoryIndex()
    index.assign(
        "a", 1, at(0), f"{CALL}. Кроме того, лидеры договорились о встрече в Астане в декабре."
    )
    # «Также» over what the first post said in other words is a copy...
    retold = f"⚡️{CALL}. Также лидеры договорились о встрече в Астане в декабре."
    assert index.assign("b", 1, at(10), retold) == StoryRef("a", 1)
    # ...while a new headline over an «also said» recap of it is news.
    index = StoryIndex()
    index.assign("a", 1, at(0), f"{CALL}.")
    recap = (
        "Лидеры договорились о встрече в декабре. Они также обсудили по телефону поставки "
        "зерна и работу Каспийского трубопроводного консорциума, сообщили в Кремле."
    )
    assert index.assign("c", 1, at(10), recap) == StoryRef("c", 1)


FROST = (
    "Аномальные морозы до минус 35 градусов придут в Новосибирскую область в четверг, "
    "предупредили синоптики регионального гидрометцентра"
)


def test_a_copy_that_recalls_earlier_reports_is_a_copy_but_not_in_its_own_channel() -> None:
    recalled = (
        f"{FROST}. Ранее власти региона рекомендовали жителям не выходить из дома без "
        "необходимости и проверить отопление, а школы перевели на дистанционное обучение"
    )
    index = StoryIndex()
    index.assign("a", 1, at(0), FROST)
    # What was reported before («Ранее …») is background, not news of the later post...
    assert index.assign("b", 1, at(30), recalled) == StoryRef("a", 1)
    # ...unless the channel recalls its own report: then it follows that report up.
    index = StoryIndex()
    index.assign("a", 1, at(0), FROST)
    assert index.assign("a", 2, at(30), recalled) == StoryRef("a", 2)


def test_a_headline_opening_with_another_acting_body_is_the_next_step() -> None:
    first = "⚡️Сенат Чили проголосовал за отмену чрезвычайного положения в стране, заявил спикер"
    index = StoryIndex()
    index.assign("a", 1, at(0), first)
    # Hours later the government, in the same words, takes the procedure's next step...
    later = "⚡️Правительство Чили проголосовало за отмену чрезвычайного положения в стране"
    assert index.assign("b", 1, at(240), later) == StoryRef("b", 1)
    # ...while a copy that names the first body, or opens with no acting body, is a copy.
    assert index.assign("c", 1, at(241), f"{first} — Reuters") == StoryRef("a", 1)
    retold = "Чили: сенат проголосовал за отмену чрезвычайного положения в стране"
    assert index.assign("d", 1, at(242), retold) == StoryRef("a", 1)


def test_a_short_post_half_a_day_after_the_same_words_is_news() -> None:
    alarm = "⚡️Воздушная тревога объявлена на всей территории Молдавии"
    index = StoryIndex()
    index.assign("a", 1, at(0), alarm)
    # Another channel's copy within hours joins the story...
    assert index.assign("b", 1, at(3 * 60), alarm) == StoryRef("a", 1)
    # ...the same few words the next day, in any channel, are the next alarm...
    assert index.assign("c", 1, at(20 * 60), f"{alarm}.") == StoryRef("c", 1)
    # ...while a longer post retold as late is still a copy.
    index = StoryIndex()
    index.assign("a", 1, at(0), NEWS)
    assert index.assign("c", 1, at(20 * 60), NEWS) == StoryRef("a", 1)


def test_a_short_post_whose_words_a_long_one_holds_is_news_hours_later() -> None:
    speech = (
        "⚡️Президент Чили Габриэль Борич заявил о введении чрезвычайного положения в столице "
        "из-за массовых беспорядков. «Мы быстро восстановим порядок и нормализуем обстановку, "
        "эти меры необходимы для сохранения страны, и мы понимаем, что это вызовет "
        "неудобства», — сказал он. Армия выведена на улицы Сантьяго."
    )
    short = "Президент Чили Габриэль Борич заявил, что отменит чрезвычайное положение"
    index = StoryIndex()
    index.assign("a", 1, at(0), speech)
    # Within hours, a short post whose words the speech holds is one shortened...
    assert index.assign("b", 1, at(2 * 60), short) == StoryRef("a", 1)
    # ...five hours later it tells what came next.
    index = StoryIndex()
    index.assign("a", 1, at(0), speech)
    assert index.assign("b", 1, at(5 * 60), short) == StoryRef("b", 1)
