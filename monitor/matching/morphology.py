"""Every surface form of a term's word: Russian through pymorphy3, English by suffix rules.

Forms are generated once per distinct word when topics are compiled, so that matching a
post never has to analyse the post's words.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import pymorphy3

logger = logging.getLogger(__name__)

NAME_GRAMMEMES: Final = frozenset({"Surn", "Name", "Patr", "Geox", "Orgn"})
"""Tags that make a capitalised term a proper name (matched only when capitalised)."""

_CYRILLIC: Final = re.compile(r"[а-яё]", re.IGNORECASE)
_ACCENTED_LATIN: Final = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")
_LATIN: Final = re.compile(r"[a-z]", re.IGNORECASE)
_DIGIT: Final = re.compile(r"\d")
_LATIN_VOWELS: Final = frozenset("aeiou")
_ENGLISH_SUFFIXES: Final = (
    ("ies", "y"),
    ("ied", "y"),
    ("ing", ""),
    ("es", ""),
    ("ed", ""),
    ("s", ""),
)

# Endings of unknown nouns (names the dictionary has never seen, such as "Ын"), keyed by
# what the word ends with; "" is a consonant: (singular endings, endings only a plural has).
# Chosen to cover how the press declines foreign names; extra forms cost nothing but an
# automaton key.
_UNKNOWN_NOUN_ENDINGS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "": (("а", "у", "ом", "ем", "е"), ("ы", "и", "ов", "ам", "ами", "ах")),
    "а": (("ы", "и", "е", "у", "ой", "ою"), ("ам", "ами", "ах")),
    "я": (("и", "е", "ю", "ей", "ёй"), ("ям", "ями", "ях")),
    "й": (("я", "ю", "ем", "ём", "е"), ("и", "ев", "ям", "ями", "ях")),
    "ь": (("я", "ю", "ем", "ём", "е", "и", "ью"), ("ей", "ям", "ями", "ях")),
}
# A surname in -ов/-ев/-ин also declines the Russian way (Нурмагомедовым, Токаевой).
_SURNAME_SUFFIXES: Final = ("ов", "ев", "ёв", "ин", "ын")
_SURNAME_ENDINGS: Final = (("а", "у", "ым", "е", "ой"), ("ы", "ых", "ыми"))
_INDECLINABLE_FINALS: Final = frozenset("оеёуюиыэ")


@dataclass(frozen=True, slots=True)
class WordForms:
    """The lower-case surface forms a term's word stands for (ё kept where the dictionary
    has it; the caller adds е-spellings) and whether only capitalised occurrences count.

    `name_forms` are forms of an ordinary word that are also forms of a name ("морозов" of
    "мороз" is the surname Морозов): capitalised inside a sentence they are the name."""

    forms: frozenset[str]
    capitalised_only: bool
    name_forms: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=1)
def shared_analyzer() -> Any:
    """The process's one pymorphy3 analyzer (loading dictionaries takes a while)."""
    logger.debug("loading pymorphy3 dictionaries")
    return pymorphy3.MorphAnalyzer()


def fold(word: str) -> str:
    """Lower case with ё spelled е: the form words are compared in."""
    return word.lower().replace("ё", "е")


def script_of(word: str) -> str:
    """ "ru" for Cyrillic words, "en" for Latin ones, "other" for anything else."""
    if _DIGIT.search(word):
        return "other"
    if _CYRILLIC.search(word):
        return "ru"
    if _LATIN.search(word):
        return "en"
    return "other"


@functools.lru_cache(maxsize=65536)
def word_forms(word: str, *, name: bool = False) -> WordForms:
    """All forms a term's word matches, for a word as the user wrote it; `name` makes it a
    proper name whatever the dictionary says (only capitalised occurrences count)."""
    capitalised = name or word[:1].isupper()
    script = script_of(word)
    if script == "ru":
        return _russian_forms(word.lower(), capitalised, name)
    if script == "en":
        return WordForms(frozenset(english_forms(word.lower())), capitalised)
    # Words with digits ("F-16", "5G") have no paradigm to speak of: exact spelling only.
    return WordForms(frozenset({word.lower()}), capitalised)


def _russian_forms(word: str, capitalised: bool, name: bool) -> WordForms:
    chosen, guessed, capitalised_only = _readings(word, capitalised, name)
    ordinary = [p for p in chosen if not NAME_GRAMMEMES & p.tag.grammemes]
    forms = {word}
    forms.update(_lexeme_words(chosen))
    forms.update(_lexeme_words(_passive_voice(chosen)))
    if guessed:
        forms.update(unknown_noun_forms(word))
    name_forms = frozenset() if capitalised or not ordinary else _name_forms(forms)
    return WordForms(frozenset(forms), capitalised_only, name_forms)


def _readings(word: str, capitalised: bool, name: bool) -> tuple[list[Any], bool, bool]:
    """The dictionary readings a term's word stands for, whether it also takes the paradigm
    of a noun the dictionary lacks (`unknown_noun_forms`), and whether only capitalised
    occurrences count."""
    parses = shared_analyzer().parse(word)
    known = [p for p in parses if p.is_known]
    folded = fold(word)
    own = [p for p in known if fold(p.normal_form) == folded]
    if own:
        # A term written as a dictionary form means that word only ("мороз", not "морозить").
        # A name the dictionary only has as an indeclinable feminine one ("Эммануэль") is
        # declined as well: news decline it for a man (Эммануэлем Макроном).
        chosen = own
        guessed = capitalised and all(_indeclinable_name(p) for p in own)
    elif not known:
        # A guess is only trusted when it keeps the word as its own normal form.
        chosen = [p for p in parses if fold(p.normal_form) == folded and _inflects(p)]
        guessed = True
    elif not capitalised:
        # Any other form means every known word it can be a form of ("нашли": найти, наслать).
        chosen, guessed = known, False
    else:
        # A capitalised word the dictionary has only as a form of other words: a genitive
        # plural of a noun ("Илон" of Илона, "Кир" of Кира, "Токаев" of токай) is never what
        # a term means, so it is a name the dictionary lacks and declines like one (Илоном,
        # Киром, Токаевым). An oblique form of a name still means that name ("Трампа":
        # Трамп), and a nominative plural its noun ("Штаты", "Госуслуги").
        chosen = [p for p in known if not _not_a_term_reading(p)]
        guessed = not any(not NAME_GRAMMEMES & p.tag.grammemes for p in chosen)
    names = [p for p in chosen if NAME_GRAMMEMES & p.tag.grammemes]
    capitalised_only = capitalised and (name or bool(names) or guessed)
    ordinary = [p for p in chosen if not NAME_GRAMMEMES & p.tag.grammemes]
    if capitalised_only and names:
        chosen = names
    elif not capitalised and ordinary:
        # A lower-case term is the ordinary word: "мороз" (frost), not the surname Мороз.
        chosen = ordinary
    return chosen, guessed, capitalised_only


_PERSON_NAME: Final = frozenset({"Name", "Surn", "Patr"})


def _not_a_term_reading(parse: Any) -> bool:
    """A reading no capitalised term means: a noun's genitive plural or a vocative."""
    tag = parse.tag
    if "voct" in tag.grammemes:
        return True
    return tag.POS == "NOUN" and tag.number == "plur" and tag.case in ("gent", "accs")


def _indeclinable_name(parse: Any) -> bool:
    grammemes = parse.tag.grammemes
    return "Fixd" in grammemes and bool(_PERSON_NAME & grammemes)


def _name_forms(forms: Iterable[str]) -> frozenset[str]:
    morph = shared_analyzer()
    return frozenset(
        form
        for form in forms
        if any(NAME_GRAMMEMES & p.tag.grammemes for p in morph.parse(form) if p.is_known)
    )


_VERB_POS: Final = frozenset({"INFN", "VERB", "PRTF", "PRTS", "GRND"})


def _passive_voice(parses: Iterable[Any]) -> list[Any]:
    """The -ся verb that is the passive voice of an imperfective transitive verb
    ("приглашать" -> "приглашаться": «гости приглашаются» is still an invitation);
    dictionaries list it as a word of its own."""
    morph = shared_analyzer()
    found: list[Any] = []
    for p in parses:
        if p.tag.POS not in _VERB_POS or not {"impf", "tran"} <= p.tag.grammemes:
            continue
        lemma = p.normal_form
        reflexive = lemma + ("сь" if lemma[-1:] in "аеёиоуыэюя" else "ся")
        found.extend(
            q
            for q in morph.parse(reflexive)
            if q.is_known and q.tag.POS == "INFN" and q.normal_form == reflexive
        )
    return found


def _inflects(parse: Any) -> bool:
    return parse.tag.POS in {"NOUN", "ADJF"}


def _lexeme_words(parses: Iterable[Any]) -> set[str]:
    return {f.word for f in _lexeme_parses(parses)}


def _lexeme_parses(parses: Iterable[Any]) -> Iterator[Any]:
    """Every form (as a parse, with its tag) of every distinct lexeme of `parses`."""
    seen: set[tuple[object, ...]] = set()
    for p in parses:
        method = p.methods_stack[0]
        # Parses of one dictionary paradigm share a lexeme; building it is the slow part.
        key = (p.normal_form, method[2]) if len(method) > 2 else (p.normal_form, str(p.tag))
        if key in seen:
            continue
        seen.add(key)
        yield from p.lexeme


@dataclass(frozen=True, slots=True)
class Homonym:
    """A form of a one-word name that is also a form of an ordinary noun ("Маска": Маск's
    genitive and the noun маска), with what each reading can be in a sentence."""

    subject: bool
    """A nominative singular of the name: it can be a sentence's subject («Мороз заявил»)."""
    oblique: bool
    """A singular oblique case of the name: it can be an object («Маска выдвинули»)."""
    noun: tuple[tuple[str, str, str | None], ...]
    """(case, number, gender) of each reading as the ordinary noun."""


@functools.lru_cache(maxsize=4096)
def name_homonyms(word: str, *, name: bool = False) -> dict[str, Homonym | None]:
    """For a one-word term naming a person: each of its forms that an ordinary noun shares
    (lower case, as in `word_forms`), with its readings; None for a form that is only a plural
    of the name, which a term for one person never means («Маски», «Долин» are the nouns).
    Empty for other terms: a place or a brand («Волга», «Восток») is the word in any sense."""
    forms = word_forms(word, name=name)
    if not forms.capitalised_only or script_of(word) != "ru":
        return {}
    lower = word.lower()
    chosen, guessed, _ = _readings(lower, True, name)
    if not (name or guessed or any(_PERSON_NAME & p.tag.grammemes for p in chosen)):
        return {}
    # The subject is the nominative of the term's own gender: "Путина" is Путин's genitive,
    # and the nominative only of another person (a namesake's wife).
    genders = {p.tag.gender for p in chosen}
    subject = {lower} if guessed else set()
    oblique: set[str] = set()
    plural: set[str] = set()
    for form in _lexeme_parses(chosen):
        tag = form.tag
        if tag.number == "plur":
            plural.add(form.word)
        elif tag.case != "nomn":
            oblique.add(form.word)
        elif tag.gender in genders:
            subject.add(form.word)
    if guessed:
        singular, plural_only = unknown_noun_paradigm(lower)
        oblique.update(singular)
        plural.update(plural_only)
    plural -= subject | oblique
    morph = shared_analyzer()
    homonyms: dict[str, Homonym | None] = {}
    for form in forms.forms:
        if not morph.word_is_known(form):  # a cheap lookup; parsing would guess at it
            continue
        noun = {
            (p.tag.case, p.tag.number, p.tag.gender)
            for p in morph.parse(form)
            if p.is_known and p.tag.POS == "NOUN" and not NAME_GRAMMEMES & p.tag.grammemes
        }
        if noun:
            homonyms[form] = (
                None
                if form in plural
                else Homonym(form in subject, form in oblique, tuple(sorted(noun, key=str)))
            )
    return homonyms


def unknown_noun_forms(word: str) -> set[str]:
    """Noun forms for a word the dictionary does not know (declined like a foreign name)."""
    singular, plural = unknown_noun_paradigm(word)
    return singular | plural


def unknown_noun_paradigm(word: str) -> tuple[set[str], set[str]]:
    """(singular oblique forms, forms only a plural has) of a noun the dictionary does not
    know, by its ending: «Маск» Маска, Маском… / Маски, Масков…; none when indeclinable."""
    if len(word) < 2 or not word.isalpha() or word[-1] in _INDECLINABLE_FINALS:
        return set(), set()
    last = word[-1]
    if last in _UNKNOWN_NOUN_ENDINGS:
        stem, (singular, plural) = word[:-1], _UNKNOWN_NOUN_ENDINGS[last]
    else:
        stem, (singular, plural) = word, _UNKNOWN_NOUN_ENDINGS[""]
    forms = {stem + ending for ending in singular}, {stem + ending for ending in plural}
    if word.endswith(_SURNAME_SUFFIXES):
        forms[0].update(word + ending for ending in _SURNAME_ENDINGS[0])
        forms[1].update(word + ending for ending in _SURNAME_ENDINGS[1])
    forms[1].difference_update(forms[0])
    return forms


def english_forms(word: str) -> set[str]:
    """A Latin word with its plural/3rd person, past and -ing forms (suffix rules)."""
    forms = {word}
    if len(word) < 2 or not word.isalpha():
        return forms
    last, before = word[-1], word[-2]
    consonant_y = last == "y" and before not in _LATIN_VOWELS
    if word.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.add(word + "es")
    if consonant_y:
        forms.update({word[:-1] + "ies", word[:-1] + "ied"})
    forms.add(word + "s")
    if last == "e":
        forms.update({word + "d", word + "s"})
        if word.endswith("ie"):
            forms.add(word[:-2] + "ying")
        elif not word.endswith("ee"):
            forms.add(word[:-1] + "ing")
        else:
            forms.add(word + "ing")
    else:
        forms.update({word + "ed", word + "ing"})
    if (
        len(word) >= 3
        and last not in _LATIN_VOWELS
        and last not in "wxy"
        and before in _LATIN_VOWELS
        and word[-3] not in _LATIN_VOWELS
    ):
        # ship -> shipped; also yields harmless extras such as "visitted".
        forms.update({word + last + "ed", word + last + "ing"})
    return forms


def english_stem(word: str) -> str:
    """A crude base of a lower-case Latin word, the same for its regular inflected forms."""
    base = word
    for suffix, replacement in _ENGLISH_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            base = word[: len(word) - len(suffix)] + replacement
            if len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "ls":
                base = base[:-1]  # shipped -> ship
            break
    # "make", "makes", "making" all end up as "mak".
    return base[:-1] if len(base) > 2 and base.endswith("e") else base


@functools.lru_cache(maxsize=262144)
def normal_forms(word: str) -> tuple[str, ...]:
    """Every normal form (folded) of one lower-case word of a post or query."""
    script = script_of(word)
    if script == "en":
        return (plain_latin(english_stem(word)),)
    if script != "ru":
        return (plain_latin(fold(word)),)
    seen: dict[str, None] = {}
    parses = shared_analyzer().parse(word)
    known = [p for p in parses if p.is_known]
    if known and all(_not_a_term_reading(p) for p in known):
        # As in matching, a genitive plural can be a name the dictionary lacks ("Илон",
        # "Кир"), so «Илон Маск» finds «Илоном Маском» (indexed as илон).
        seen[fold(word)] = None
    for p in parses:
        lemma = fold(p.normal_form)
        if not lemma.isalnum():
            # FTS5 tokens must stay letters and digits only (rare: checked first, as this
            # runs for every new word ingestion meets).
            lemma = "".join(ch for ch in lemma if ch.isalnum())
        if lemma:
            seen.setdefault(lemma, None)
            # Search agrees with matching: a passive -ся form is found by its active verb
            # (the ending is cheaper to look at than the tag).
            if lemma.endswith(("ся", "сь")) and p.tag.POS in _VERB_POS:
                active = _active_voice(p.normal_form)
                if active:
                    seen.setdefault(fold(active), None)
    return tuple(seen) or (fold(word),)


def plain_latin(word: str) -> str:
    """Latin letters without their accents ("café" -> "cafe"), as SQLite's unicode61
    tokenizer indexed words; other scripts keep theirs («й» is not «и»)."""
    if not _ACCENTED_LATIN.search(word):
        return word
    return "".join(_plain_letter(ch) for ch in word)


def _plain_letter(ch: str) -> str:
    if not _ACCENTED_LATIN.match(ch):
        return ch
    base = unicodedata.normalize("NFD", ch)[0]
    return base if base.isascii() else ch


@functools.lru_cache(maxsize=8192)
def _active_voice(reflexive: str) -> str | None:
    """ "приглашаться" -> "приглашать" when the -ся verb is the passive voice of a known
    imperfective transitive verb (see `_passive_voice`); None otherwise."""
    base = reflexive[:-2]
    for p in shared_analyzer().parse(base):
        known_infinitive = p.is_known and p.tag.POS == "INFN" and p.normal_form == base
        if known_infinitive and {"impf", "tran"} <= p.tag.grammemes:
            return base
    return None
