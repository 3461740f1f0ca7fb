"""Keywords members can send, in every language the service works in.

A message is a keyword only when it is nothing but that word (give or take case, accents,
punctuation and spaces): "stop" is a keyword, "please stop the roadworks" is feedback.
Only marks a member may leave out are forgiven; see ``normalise``. A few words around it
are forgiven too, as people write: "Stop please", "STOP STOP", "opt out", "PARA, gracias"
(``_padded``).

Answers to our questions ("Did we listen?", the language menu) are read here too, and only
while a question waits (the caller knows): a number in any digit script or an English
number word ("3", "٣", "three"), polite words aside ("1 please"), or "Did we listen?"'s
words or a thumb ("not really", "👎"). A message that starts with an answer to "Did we
listen?" and goes on is that answer with a comment ("2 - but it is late",
``leading_rating``); nothing later in a message is guessed at ("stop the 2 buses"). A
keyword still comes first: "3 STOP" stops us, as "STOP" does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from .overrides import overrides_version
from .templates import (
    KEYWORD_MSGIDS,
    POLITE_MSGID,
    RATING_WORD_MSGIDS,
    keywords_for,
    polite_words_for,
    rating_words_for,
)

ACTIONS = tuple(KEYWORD_MSGIDS)

# What people type between the words of a list: the comma and semicolon, and the ones of
# other scripts an interpreter's keyboard gives (Arabic and Urdu "،" and "؛", CJK "、", "，"
# and "；", the small "﹐", Ethiopic "፣"). Splitting only on "," would make an Arabic list
# one long "word" no member ever sends, and that language's keywords would silently stop.
SEPARATORS = re.compile(r"[,;\u060c\u061b\u3001\uff0c\uff1b\ufe50\u1363]")


def split_words(text: str) -> list[str]:
    """The words of a keyword list, as typed (empty ones included, for the check to name)."""
    return [word.strip() for word in SEPARATORS.split(text)]


# The marks a phone's keycap "3️⃣" adds to its digit.
KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")

# English number words, read as their digits in a reply to a question that asks for a
# number ("three" to "Did we listen?"). English only, as English keywords work in every
# language: the catalogues hold no number words, and digits are every language's.
NUMBER_WORDS = {
    word: number
    for number, word in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    )
}
# What joins numbers in a reply that gives more than one ("1 or 2", "2-3", "2/3").
NUMBER_JOINERS = frozenset({"or", "and", "to"})


def bare_number(text: str | None) -> bool:
    """A reply that is only a number, in the shape of an answer to a question we asked (the
    rating, the language menu): one or two digits in any script ("3", " 2. ", "٢", "3️⃣"),
    or an English number word ("three"), polite words aside ("1 please"), or numbers and
    nothing else ("1 or 2", "2/3")."""
    if reply_number(text) is not None:
        return True
    parts = re.split(r"[^\w]+", without_polite(text).translate(KEYCAP).casefold())
    words = [part for part in parts if part]
    numbers = [word for word in words if _number(word) is not None]
    return bool(numbers) and all(word in NUMBER_JOINERS for word in words if word not in numbers)


def reply_number(text: str | None) -> int | None:
    """The number a reply is, polite words aside: one or two digits in any script ("3",
    " 2. ", "٢", "3️⃣", "1 please"), or an English number word ("three", "Two!"); None
    for anything else ("²", "12345", "two buses")."""
    return _number(without_polite(text).translate(KEYCAP).strip())


def _number(word: str) -> int | None:
    # isdecimal, not isdigit: "²" is a digit that int() cannot read.
    if 0 < len(word) <= 2 and word.isdecimal():
        return int(word)  # int() reads any script's decimal digits, "٢" too
    return NUMBER_WORDS.get(normalise(word))


def without_polite(text: str | None) -> str:
    """``text`` as typed, its polite words and the marks around it left out: "1" of
    "1 please", "English" of "English, please!", "inglés" of "inglés por favor"."""
    polite = _polite(_working_locales(), overrides_version())
    words = [word for word in (text or "").split() if normalise(word) not in polite]
    return _strip_marks(" ".join(words))


def _strip_marks(text: str) -> str:
    """``text`` without the punctuation, symbols and spaces at either end (a keycap's
    marks are marks, and stay on its digit for ``KEYCAP`` to take off)."""
    start, end = 0, len(text)
    while start < end and not _word_char(text[start]):
        start += 1
    while end > start and not _word_char(text[end - 1]):
        end -= 1
    return text[start:end]


def _word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


# One letter, two code points, by keyboard: an Urdu word typed on an Arabic keyboard gets
# the Arabic yeh and kaf ("رکيں"), on an Urdu one the Farsi yeh and keheh ("رکیں").
SAME_LETTER = str.maketrans({"\u064a": "\u06cc", "\u0643": "\u06a9"})


def normalise(text: str) -> str:
    """``text`` as the keyword table is keyed: case, optional marks, punctuation and extra
    spaces gone, so "Stóp!" is "stop"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(SAME_LETTER))
    kept = "".join(ch for ch in decomposed if _kept(ch))
    # Recomposed so that a kept mark sits on its letter again (the hamza of "أ").
    return unicodedata.normalize("NFC", " ".join(kept.split()))


def _kept(ch: str) -> bool:
    if _optional_mark(ch):
        return False
    # Marks other than the optional ones are letters in their own right: a Bengali vowel
    # sign or virama, the Arabic hamza. Punctuation, symbols and controls go.
    return ch.isalnum() or ch.isspace() or unicodedata.category(ch).startswith("M")


def _optional_mark(ch: str) -> bool:
    """A mark a member may leave out without changing the word.

    Only the Latin, Greek and Cyrillic accents (U+0300-U+036F: "stóp", "ȘTERGE" typed
    "STERGE"), the Arabic short vowels everyday spelling leaves out (U+064B-U+0652) and the
    tatweel that only stretches a word (U+0640). Dropping every mark would merge distinct
    words: "বন্ধু" (friend) would be "বন্ধ" (STOP), and "أبداً" (never!) "ابدأ" (START).
    """
    code = ord(ch)
    return 0x0300 <= code <= 0x036F or 0x064B <= code <= 0x0652 or code == 0x0640


# Cached by the load of the overrides they were built from (``overrides_version``), which
# never repeats: an interpreter's edit counts from the next message on.
@lru_cache(maxsize=4)
def _table(locales: tuple[str, ...], version: int) -> dict[str, str]:
    """Normalised word -> action, over every locale (English last, so it always wins)."""
    return _word_table(KEYWORD_MSGIDS, keywords_for, locales)


def _word_table(
    msgids: dict[str, str], words_for: Callable[[str, str], list[str]], locales: tuple[str, ...]
) -> dict[str, str]:
    """Normalised word -> the key of ``msgids`` whose list holds it in some locale
    (``words_for(key, locale)``), or in English, which comes last and so always wins."""
    table: dict[str, str] = {}
    for locale in (*[loc for loc in locales if loc != "en"], "en"):
        for key in msgids:
            for word in words_for(key, locale):
                table[normalise(word)] = key
    for key, msgid in msgids.items():
        for word in split_words(msgid):
            table[normalise(word)] = key
    return table


@lru_cache(maxsize=4)
def _languages(locales: tuple[str, ...], version: int) -> dict[str, frozenset[str]]:
    """Normalised word -> the locales whose own catalogue lists it (English words excluded)."""
    english = {normalise(word) for msgid in KEYWORD_MSGIDS.values() for word in split_words(msgid)}
    found: dict[str, set[str]] = {}
    for locale in locales:
        for action in ACTIONS:
            for word in keywords_for(action, locale):
                if normalise(word) not in english:
                    found.setdefault(normalise(word), set()).add(locale)
    return {word: frozenset(owners) for word, owners in found.items()}


def language_of(text: str | None) -> str | None:
    """The language of a keyword, when only one offered language uses that word.

    A keyword is too short to guess a language from ("LANGUAGE" looks Romanian to lingua),
    and the English words are accepted in every language, so they say nothing: None. It
    is a guess like lingua's, so only offered languages count (a new member is never
    given a language that is switched off).
    """
    if not text:
        return None
    from ..languages import enabled_locales

    version = overrides_version()
    languages = _languages(enabled_locales(), version)
    # "PARAR, gracias" is Spanish as "PARAR" is; English polite words leave it so.
    words = normalise(text)
    polite = _polite(_working_locales(), version)
    owners = languages.get(words) or languages.get(_without(words, polite))
    return next(iter(owners)) if owners is not None and len(owners) == 1 else None


# The longest message read as a keyword with words around it ("please stop, thank you").
MAX_PADDED_WORDS = 8


def match(text: str | None) -> str | None:
    """The action ``text`` asks for ("stop", "start", "help", "language", "forget"), if any."""
    if not text:
        return None
    word = normalise(text)
    if not word or len(word) > 80:
        return None
    # Every language the service works in, offered or not: a member whose language was
    # switched off must still be able to say STOP in it.
    locales, version = _working_locales(), overrides_version()
    table = _table(locales, version)
    return table.get(word) or _padded(word.split(), table, _polite(locales, version))


def _padded(words: list[str], table: dict[str, str], polite: frozenset[str]) -> str | None:
    """The action of a short message that is one keyword with polite words around it
    ("Please stop texting me, thanks"), or said twice ("stop stop"), or split by a space
    ("opt out", "stop all"); None if any other word is in it, or keywords of two actions
    ("stop help": which?)."""
    if len(words) < 2 or len(words) > MAX_PADDED_WORDS:
        return None
    kept = [word for word in words if word not in polite]
    found = table.get("".join(words)) or table.get(" ".join(kept))
    if found or not kept:
        return found
    actions = {table.get(word) for word in kept}
    return next(iter(actions)) if len(actions) == 1 and None not in actions else None


def _working_locales() -> tuple[str, ...]:
    from ..languages import working_locales

    return working_locales()


def _without(normalised: str, polite: frozenset[str]) -> str:
    """``normalised`` text, its polite words left out: the keyword or answer it holds."""
    return " ".join(word for word in normalised.split() if word not in polite)


def courtesy(text: str | None) -> bool:
    """``text`` says only thanks: polite words ("Thanks!", "thank you", "Diolch") or no
    word at all ("👍", "🙏🏽", "!!")."""
    if text is None or len(text) > 80:
        return False
    return not _without(normalise(text), _polite(_working_locales(), overrides_version()))


# Words for our messages: polite around a keyword ("STOP texts please"), never around an
# answer. "No texts please" asks us to stop; read as "no", it reopened the item and
# promised more messages. English only, as ``NUMBER_WORDS``: the other languages' lists
# do not say which of their polite words these are.
MESSAGE_WORDS = frozenset({"messages", "message", "texts", "text", "sms"})


def _polite_around_answers(locales: tuple[str, ...], version: int) -> frozenset[str]:
    return _polite(locales, version) - MESSAGE_WORDS


def rating_answer(text: str | None, digits: dict[int, str] | None = None) -> str | None:
    """ "yes", "partly" or "no", if ``text`` answers "Did we listen?": a digit of
    ``digits``, if given ("1", "1!", "3️⃣", "1 thanks"), or an English number word for one
    ("three"); the words of one ("No", "not really", "Tak", "yes please"); or a thumb up or
    down ("👍", "👎🏽"). The caller knows whether a question waits."""
    if not text or len(text) > 80:
        return None
    locales, version = _working_locales(), overrides_version()
    words = normalise(text.translate(KEYCAP))
    kept = _without(words, _polite_around_answers(locales, version))
    number = reply_number(text) if digits is not None else None
    if digits is not None and number is not None:
        return digits.get(number)
    ratings = _ratings(locales, version)
    # Whole first: "yes you did" holds "you", a polite word (of "thank you").
    return ratings.get(words) or ratings.get(kept) or (_thumb(text) if not kept else None)


# A thumb up or down, in any skin tone: how many people answer a yes-or-no question.
THUMBS = {"\U0001f44d": "yes", "\U0001f44e": "no"}
# A thumb, its skin tone and its emoji mark ("👍🏽"), said once or more, at the start.
LEADING_THUMBS = re.compile(r"\s*(?:[\U0001f44d\U0001f44e][\U0001f3fb-\U0001f3ff\ufe0f]*\s*)+")
# A digit at the start, set off from the rest by a dash, comma, colon or the like ("2 - but
# it is late", "3, still broken"): an answer with a comment. Not a digit the words go on
# from ("2 weeks and still broken", "1 more thing", "2 am noise"), which is feedback, nor
# a list's "1." or "1)", nor "20", "2nd", "2.5" or "2:30".
LEADING_DIGIT = re.compile(r"\s*(\d)(?![.,:]\d)\s*(?=[\-\u2010-\u2015,;:!])")
# A keycap digit ("3️⃣ still broken") is an answer whatever follows: nobody counts with one.
LEADING_KEYCAP = re.compile(r"\s*(\d)\ufe0f?\u20e3")
# A digit, then a space: an answer only when a keyword follows ("3 STOP").
LEADING_PLAIN_DIGIT = re.compile(r"\s*(\d)\s+")
# What a member types between the answer and the rest ("2 - but", "No, the lift", "1: ok").
BETWEEN = re.compile(r"^[\s\-\u2010-\u2015.,;:!?)/|]+")
# The most words an answer with polite words can take at the start ("No, not really, thanks").
MAX_LEADING_WORDS = 6


def _thumb(text: str) -> str | None:
    """The answer of a thumb or thumbs of one kind (polite words aside); None for both."""
    found = {THUMBS[ch] for ch in text if ch in THUMBS}
    return found.pop() if len(found) == 1 else None


def leading_rating(text: str | None, digits: dict[int, str]) -> tuple[str, str] | None:
    """The answer to "Did we listen?" a longer message starts with, and the rest of it as
    typed, if it does: a digit of ``digits`` set off by a mark ("2 - but it should run
    every half hour", ``LEADING_DIGIT``); the words of one, or an English number
    word, with a punctuation mark after them ("No, the lift is still broken", "Not really
    - it is late", "Yes thanks, and..."); or a thumb ("👍 great"). Nothing else is guessed:
    "stop the 2 buses" and "No heating since Monday" answer nothing. The caller knows
    whether a question waits, and tries ``rating_answer`` first: a message that is only an
    answer has no rest."""
    if not text or bare_number(text):  # "1 or 2", "2/3": which?
        return None
    thumbs = LEADING_THUMBS.match(text)
    if thumbs and (thumb := _thumb(thumbs.group())):
        return thumb, _comment(text[thumbs.end() :])
    plain = LEADING_PLAIN_DIGIT.match(text)
    # "3 STOP": whatever else it says, a keyword must be honoured (the caller does).
    followed_by_keyword = plain is not None and match(text[plain.end() :]) is not None
    digit = (
        LEADING_KEYCAP.match(text)
        or LEADING_DIGIT.match(text)
        or (plain if followed_by_keyword else None)
    )
    if digit:
        answer = digits.get(int(digit.group(1)))
        return (answer, _comment(text[digit.end() :])) if answer else None
    locales, version = _working_locales(), overrides_version()
    ratings, polite = _ratings(locales, version), _polite_around_answers(locales, version)
    ends = [word.end() for word in re.finditer(r"\S+", text)][:MAX_LEADING_WORDS]
    for end in reversed(ends):  # the longest answer first: "not really", not "not"
        head, rest = text[:end], text[end:]
        words = normalise(head)
        kept = _without(words, polite)
        if kept.split()[:1] != words.split()[:1]:
            kept = ""  # it starts with a polite word ("The one, by the shop, ..."): no answer
        number = NUMBER_WORDS.get(kept)
        answer = ratings.get(words) or ratings.get(kept)
        answer = answer or (digits.get(number) if number is not None else None)
        # "Yes STOP": a keyword after the answer is honoured, comma or not (the caller).
        if answer and (_punctuated(head, rest) or match(rest) is not None):
            return answer, _comment(rest)
    return None


def _punctuated(head: str, rest: str) -> bool:
    """A punctuation mark ends ``head`` or starts ``rest``: "No," or "No - ..."."""
    marks = head.rstrip()[-1:] + rest.lstrip()[:1]
    return any(unicodedata.category(ch).startswith("P") for ch in marks)


def _comment(rest: str) -> str:
    """The member's words after their answer, without the marks between ("- but..." is
    "but...")."""
    return BETWEEN.sub("", rest, count=1).strip()


@lru_cache(maxsize=4)
def _ratings(locales: tuple[str, ...], version: int) -> dict[str, str]:
    """Normalised words -> answer, over every locale (English last, so it always wins)."""
    return _word_table(RATING_WORD_MSGIDS, rating_words_for, locales)


@lru_cache(maxsize=4)
def _polite(locales: tuple[str, ...], version: int) -> frozenset[str]:
    """Every polite word, English and each locale's, one word each ("thank you" is two)."""
    lists = [split_words(POLITE_MSGID)] + [polite_words_for(locale) for locale in locales]
    return frozenset(part for words in lists for word in words for part in normalise(word).split())


def keyword_list_problems(action: str, locale: str, text: str) -> list[str]:
    """What is wrong with ``text`` as the words for ``action`` in ``locale``, in words for
    the interpreter; empty when all is well.

    Every language's words are matched for every member, so a word must never be one a
    member sends for something else: digits answer "Did we listen?" and the language menu,
    and another action's word would then do two things.
    """
    words = [normalise(word) for word in split_words(text)]
    problems = []
    if not all(words):
        problems.append("A keyword is empty: separate the words with single commas.")
    numbers = [word for word in words if word and word.replace(" ", "").isdecimal()]
    if numbers:
        problems.append(
            f"Numbers cannot be keywords ({', '.join(numbers)}): members send numbers to "
            "answer questions."
        )
    taken = _other_actions_words(action, locale)
    clashes = sorted({word for word in words if word in taken})
    problems += [
        f"{word!r} already means {taken[word].upper()}; a word can mean one thing only."
        for word in clashes
    ]
    return problems


def rating_list_problems(answer: str, locale: str, text: str) -> list[str]:
    """What is wrong with ``text`` as the words answering "Did we listen?" with ``answer``
    in ``locale``: a keyword's problems (no number, no word of an action: "no" must never
    mean STOP), and no word that gives another answer in any language."""
    problems = keyword_list_problems("rating", locale, text)
    from ..languages import working_locales

    taken = {
        normalise(word): other
        for other, msgid in RATING_WORD_MSGIDS.items()
        if other != answer
        for word in [
            *split_words(msgid),
            *(w for loc in working_locales() for w in rating_words_for(other, loc)),
        ]
    }
    clashes = sorted({word for word in map(normalise, split_words(text)) if word in taken})
    problems += [
        f"{word!r} already answers {taken[word]!r}; a word can mean one thing only."
        for word in clashes
    ]
    return problems


def _other_actions_words(action: str, locale: str) -> dict[str, str]:
    """Normalised word -> action, for the words of every action but ``action``, English and
    every language matched. (A word may mean STOP in two languages, never STOP in one and
    HELP in another.)"""
    from ..languages import working_locales

    taken: dict[str, str] = {}
    for other in ACTIONS:
        if other == action:
            continue
        for word in split_words(KEYWORD_MSGIDS[other]):
            taken[normalise(word)] = other
        for other_locale in working_locales():
            for word in keywords_for(other, other_locale):
                taken[normalise(word)] = other
    return taken


def clear_cache() -> None:
    _table.cache_clear()
    _languages.cache_clear()
    _polite.cache_clear()
    _ratings.cache_clear()
