"""Which language to answer in.

A new member's language is guessed from their first message with lingua (built for short
text), limited to the languages we offer and trusted only above a confidence threshold (a
higher one for a short text, ``SHORT_TEXT_MIN_CONFIDENCE``); otherwise from the official
languages of their number's country; otherwise the default. A member can always choose
with the LANGUAGE keyword.

Lingua and the country data name languages ("pt", "zh_Hant"); an offered locale may name a
country or script too ("pt_BR"). A language is answered in its very locale when offered,
else in an offered variant of it (see ``offered_locale_for``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from babel import Locale, parse_locale
from babel.languages import get_official_languages
from babel.localedata import locale_identifiers
from flask import current_app
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from ..models import LocaleSource
from .keywords import normalise, reply_number, without_polite

# Below this many letters a guess is noise ("ok", "👍", "K7Q2").
MIN_LETTERS = 4
# A short text tells a language only when lingua is all but certain of it: a word with
# letters of one language's own ("Dziękuję", "Привіт") is read at 1.0, while a greeting, a
# thanks or a typo shared by many, in a word or two ("Hiya", "Salaam", "Shukriya bhai",
# "Ji haan", "languge"), is read as Somali or Romanian at 0.66 to 0.94, and would set the
# language a member is answered in for good.
SHORT_TEXT_MIN_CONFIDENCE = 0.99
# Fewer letters than this make a short text: a word or two, a greeting and a name.
SHORT_TEXT_LETTERS = 15
# Letters enough for a sentence, whose language lingua could tell if we offered it: fewer
# ("ok", "hi", a name) say nothing either way.
SENTENCE_LETTERS = 40
# BCP 47's tag for an undetermined language: the ``detected_locale`` of a sentence whose
# language lingua could not place among those we offer (French, Tigrinya, Urdu in Latin
# letters). Interpreters of every language see it, for any of them may know it, and
# staff see it needs translating; it is never given the writer's own language, which is
# only what we answer them in.
UNRECOGNISED = "und"
# This much of lingua's confidence on the language of the writer's country makes a text
# mixed, not one in another language ('"Ar gau tan ddydd Llun" on the door again!' is 0.2
# English, 0.78 Welsh; a text wholly in Welsh is under 0.1 English).
MIXED_WITH_COUNTRY = 0.15


@dataclass(frozen=True)
class LocaleChoice:
    locale: str
    source: str


# Languages we do not ship but that look like ones we do. Without them French reads as
# Spanish, Russian as Ukrainian, Farsi as Urdu, and the member gets a reply in a language
# that is not theirs; with them, such a message falls back to the number's country.
LOOK_ALIKES = ("fr", "pt", "it", "de", "nl", "ca", "ru", "be", "bg", "fa", "hi", "pa", "tr", "cs")


# The sets of languages whose models are all loaded (see ``warm_up``).
_preloaded: set[tuple[str, ...]] = set()


def _languages(locales: tuple[str, ...]) -> list[Language]:
    codes = dict.fromkeys(code.split("_")[0] for code in (*locales, *LOOK_ALIKES))
    # A language lingua does not know can still be chosen from the menu, just not guessed.
    return [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
        for code in codes
        if hasattr(IsoCode639_1, code.upper())
    ]


# The detector for the languages offered now; a language enabled or disabled in the panel
# builds a new one in place of the old. Building is instant: lingua loads a language's
# models (seconds, and most of a process's memory) the first time a text could be in it,
# into one cache that every detector in the process shares. So a worker's first message
# in Arabic loads the Arabic-script models only (about 1 s), not every language's (7 s).
@lru_cache(maxsize=1)
def _detector(locales: tuple[str, ...]) -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_languages(locales)).build()


def warm_up(app_locales: tuple[str, ...]) -> None:
    """Load every model now (seconds of CPU) rather than in the first message that needs
    them: the models land in lingua's shared cache, where ``_detector``'s finds them. The
    names of the world's languages too (half a second)."""
    _own_and_english_names()
    if app_locales in _preloaded:
        return
    languages = _languages(app_locales)
    LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()
    _preloaded.add(app_locales)


def models_loaded(app_locales: tuple[str, ...]) -> bool:
    """Whether detecting among ``app_locales`` would start at once (no models to load)."""
    return app_locales in _preloaded


def is_sentence(text: str | None) -> bool:
    """``text`` has letters enough to tell its language (``SENTENCE_LETTERS``)."""
    return sum(ch.isalpha() for ch in text or "") >= SENTENCE_LETTERS


class Detection(NamedTuple):
    """What lingua made of a text (``detection``)."""

    # The offered locale it is written in, if lingua is confident enough.
    locale: str | None = None
    # Instead, the offered locale of the writer's country, when the text is partly in it
    # and mostly in another language (an English message quoting a Welsh sign).
    mixed_with: str | None = None


def detect(text: str | None, region: str | None = None) -> str | None:
    """The offered locale ``text`` is written in, if lingua is confident enough, and the
    text is not partly in the language of ``region``, the writer's country."""
    return detection(text, region).locale


def detection(text: str | None, region: str | None = None) -> Detection:
    """``detect``'s answer, and why it has none when the text is partly in the language of
    the writer's country: that says nothing of the writer's language, but the text is
    still one that speakers of it read (staff of a British service read an English message
    quoting a Welsh sign)."""
    if not text or sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return Detection()
    named = named_languages(text)
    if named and not any(offered_locale_for(code, region) for code in named):
        # The name of a language we do not offer ("Deutsch", "Norsk bokmål") is no text
        # in one we do, whatever lingua reads in it (Welsh, for "Norsk bokmål").
        return Detection()
    detector = _detector(offered_locales())
    confidences = detector.compute_language_confidence_values(text)
    if not confidences:
        return Detection()
    best = confidences[0]
    if best.value < _min_confidence(text):
        return Detection()
    locale = offered_locale_for(_code(best.language), region)
    country = from_region(region)
    if locale and country and locale != country:
        # Partly in the language of the writer's country: a sign quoted in Welsh in an
        # English message from a British number says nothing of the writer's language.
        share = sum(c.value for c in confidences if _code(c.language) == country.split("_")[0])
        if share >= MIXED_WITH_COUNTRY:
            return Detection(mixed_with=country)
    return Detection(locale)


def _min_confidence(text: str) -> float:
    """How sure lingua must be of ``text``'s language: more so of a short text."""
    configured = float(current_app.config["LANGUAGE_DETECTION_MIN_CONFIDENCE"])
    if sum(ch.isalpha() for ch in text) < SHORT_TEXT_LETTERS:
        return max(configured, SHORT_TEXT_MIN_CONFIDENCE)
    return configured


def _code(language: Language) -> str:
    return language.iso_code_639_1.name.lower()


def offered_locales() -> tuple[str, ...]:
    from ..languages import enabled_locales

    return enabled_locales()


def offered_locale_for(language: str, region: str | None = None) -> str | None:
    """The offered locale to answer a reader of ``language`` ("pt", "zh_Hant", "pt_BR"):
    that very locale, else one of the same language, the one of the member's country first
    (a Brazilian number gets "pt_BR" rather than "pt_PT"); None if none is offered."""
    offered = offered_locales()
    if language in offered:
        return language
    base = parse_locale(language)[0]
    variants = [locale for locale in offered if parse_locale(locale)[0] == base]
    local = [locale for locale in variants if _of_region(locale, region)]
    return next(iter(local or variants), None)


def _of_region(locale: str, region: str | None) -> bool:
    if not region:
        return False
    territory = parse_locale(locale)[1]
    return territory == region or locale in get_official_languages(region, de_facto=True)


def from_region(region: str | None) -> str | None:
    """The offered locale of the first language official in ``region`` (phonenumbers' ISO
    country) that we offer."""
    if not region:
        return None
    for language in get_official_languages(region, de_facto=True):
        locale = offered_locale_for(language, region)
        if locale:
            return locale
    return None


def region_of(e164: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None


def choose_locale(
    text: str | None, region: str | None, detected: str | None = None
) -> LocaleChoice:
    # The caller's guess may be a language (a keyword's catalogue, lingua's code), or one
    # not offered any more: answer in what we offer of it.
    locale = offered_locale_for(detected, region) if detected else detect(text, region)
    if locale:
        return LocaleChoice(locale, LocaleSource.DETECTED)
    by_region = from_region(region)
    if by_region:
        return LocaleChoice(by_region, LocaleSource.COUNTRY)
    return LocaleChoice(current_app.config["DEFAULT_LOCALE"], LocaleSource.DEFAULT)


def menu_locales() -> list[str]:
    """The languages offered by the LANGUAGE menu, numbered from 1 in this order."""
    return list(offered_locales())


def menu_options() -> str:
    return "\n".join(
        f"{number} {native_name(locale)}" for number, locale in enumerate(menu_locales(), 1)
    )


def native_name(locale: str) -> str:
    name = Locale.parse(locale).get_display_name(locale) or locale
    return name[:1].upper() + name[1:]


def menu_choice(text: str | None) -> str | None:
    """The locale a reply to the menu picks: "2", " 2. ", "٢" (any digit script), "two", a
    name as the menu shows it or as typed without its accents ("Espanol"), its name in the
    staff language ("Spanish"), or a code ("pt_br"); or any name ``named_languages`` knows
    of a language we offer ("Polish" under Welsh staff, "Brazilian Portuguese", "inglés"
    from a Spanish member, "англійська" from a Ukrainian one). Polite words aside, as
    around a keyword: "English please", "1 please", "Español, gracias"."""
    if not text:
        return None
    stripped = without_polite(text)
    locales = menu_locales()
    # Read as an answer to "Did we listen?" is: one or two digits in any script, a keycap
    # or an English number word. A longer run of digits is feedback, no choice.
    number = reply_number(text)
    if number is not None:
        return locales[number - 1] if 1 <= number <= len(locales) else None
    if stripped.isdecimal():
        return None
    # Compared as keywords are: case, the accents a member may leave out and punctuation
    # aside, so "ROMANA" is "Română" and "pt-br" is "pt_BR".
    word = normalise(stripped)
    staff_locale = current_app.config["STAFF_LOCALE"]
    for locale in locales:
        # Its name in the staff language too: "Polish" as well as "Polski".
        names = {native_name(locale), Locale.parse(locale).get_display_name(staff_locale) or ""}
        if word and word in {normalise(name) for name in names} | {normalise(locale)}:
            return locale
    return next(filter(None, map(offered_locale_for, named_languages(stripped))), None)


# Babel's names that name no language: "Unknown language", "Multiple languages", "No
# linguistic content", and the root of its locale tree.
NOT_LANGUAGES = frozenset({"und", "mul", "zxx", "mis", "root"})
# A language's name is a word or two ("Deutsch", "Norsk bokmål", "Brazilian Portuguese");
# a longer text is a sentence about something, even one that names a language.
MAX_NAME_WORDS = 2


def named_languages(text: str | None) -> tuple[str, ...]:
    """The languages (Babel's codes) ``text`` is the name of, and nothing more: any
    language's name in that language ("Français", "Deutsch", "Tiếng Việt"), in English
    ("French", "Tagalog"), in the staff language, or in a language we offer ("inglés",
    "англійська", "francés": members name languages in theirs), compared as keywords are
    (case, the accents a member may leave out and punctuation aside). Empty if it names
    none.

    A member answers the language menu with the language they read, offered or not: one
    we do not offer is answered with the menu again (``intake.ask_again``), not taken
    for feedback and told "a person will read it" in a language they do not read."""
    word = normalise(text or "")
    if not word or len(word.split()) > MAX_NAME_WORDS:
        return ()
    found = _own_and_english_names().get(word, ())
    staff_locale = current_app.config["STAFF_LOCALE"]
    others = _names_in_each((staff_locale, *offered_locales())).get(word, ())
    return found + tuple(code for code in others if code not in found)


@lru_cache(maxsize=1)
def _own_and_english_names() -> dict[str, tuple[str, ...]]:
    """Normalised name -> codes: each language's names in itself (and its variants':
    "français canadien"), from every locale Babel has that names no country, and every
    language's name in English. About a thousand names; half a second to read."""
    names: dict[str, tuple[str, ...]] = {}
    for identifier in locale_identifiers():
        locale = Locale.parse(identifier)
        if locale.territory or locale.language in NOT_LANGUAGES:
            continue
        own = locale.language
        for code, name in locale.languages.items():
            if code == own or code.startswith(own + "_"):
                _add_name(names, name, code)
    for name, codes in _names_in("en").items():
        for code in codes:
            _add_name(names, name, code)
    return names


@lru_cache(maxsize=4)
def _names_in(locale: str) -> dict[str, tuple[str, ...]]:
    """Normalised name -> codes, of every language as ``locale`` names it."""
    names: dict[str, tuple[str, ...]] = {}
    for code, name in Locale.parse(locale).languages.items():
        _add_name(names, name, code)
    return names


@lru_cache(maxsize=4)
def _names_in_each(locales: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Normalised name -> codes, of every language as each of ``locales`` names it."""
    names: dict[str, tuple[str, ...]] = {}
    for locale in locales:
        for name, codes in _names_in(locale).items():
            for code in codes:
                _add_name(names, name, code)
    return names


def _add_name(names: dict[str, tuple[str, ...]], name: str, code: str) -> None:
    key = normalise(name)
    if key and code.split("_")[0] not in NOT_LANGUAGES and code not in names.get(key, ()):
        names[key] = (*names.get(key, ()), code)
