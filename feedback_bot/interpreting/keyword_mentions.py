"""The keywords a message tells members to send, and the lists that must keep them working.

A message says how to stop by naming a word to send ("Reply STOP to stop"); the help reply
names LANGUAGE and FORGET too. Two edits can break that promise, and both are checked here:
a translation that drops the word (``keyword_problems``), and a keyword list that drops a
word a message still names (``dropped_word_problems``): the member who sends it is then
acknowledged as feedback, and neither stopped nor erased.

A word counts as named when it stands out as the word to send: in capitals where its script
has them (STOP, СТОП, USUŃ), as the translator notes ask, or in quotation marks where it has
none ("زبان", «لغة»). A word of the sentence ("darse de baja", where BAJA means STOP, or the
Bengali "বন্ধ", to close) tells nobody what to send. Which keywords a message must name is
read from its English text, the same way: the STOP confirmation names START and not STOP,
the FORGET confirmation none, so their translations need only what their source offers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from ..messaging.keywords import normalise, split_words
from ..messaging.templates import KEYWORD_MSGIDS, keywords_for

# A placeholder is filled with a value (an organisation's name, a reference): never the
# message naming a keyword. Loosely matched, so a mistyped one is left out too.
PLACEHOLDERS = re.compile(r"%\([^)]*\)\w?|\{\w+\}")

# What a member can do by sending a word of each list, as a message tells them.
HOW = {
    "stop": "how to stop",
    "start": "how to get messages again",
    "help": "how to ask for help",
    "language": "how to change language",
    "forget": "how to have their data erased",
}
# What happens to a member who sends a word the list no longer has: it is feedback.
INSTEAD = {
    "stop": "would go on getting messages",
    "start": "would not get messages again",
    "help": "would not get the help reply",
    "language": "would not get the language menu",
    "forget": "would not be erased",
}


def keyword_name(action: str) -> str:
    """The English keyword messages name for ``action``: "STOP", "FORGET"."""
    return split_words(KEYWORD_MSGIDS[action])[0]


def english_words(action: str) -> list[str]:
    """The English words for ``action``: they work in every language."""
    return split_words(KEYWORD_MSGIDS[action])


@dataclass(frozen=True)
class _Token:
    word: str  # as typed, without the punctuation around it
    opens: bool  # a quotation mark or bracket just before it
    closes: bool  # and just after it


QUOTES = "\"'"


def _edge(ch: str) -> bool:
    """Punctuation, a symbol or a space around a word: not part of it."""
    return unicodedata.category(ch)[0] in "PSZC"


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for raw in PLACEHOLDERS.sub(" ", text).split():
        start, end = 0, len(raw)
        while start < end and _edge(raw[start]):
            start += 1
        while end > start and _edge(raw[end - 1]):
            end -= 1
        if start == end:
            continue
        tokens.append(
            _Token(
                raw[start:end],
                any(ch in QUOTES or unicodedata.category(ch) in ("Pi", "Ps") for ch in raw[:start]),
                any(ch in QUOTES or unicodedata.category(ch) in ("Pf", "Pe") for ch in raw[end:]),
            )
        )
    return tokens


def _stands_out(tokens: list[_Token]) -> bool:
    """Whether these words are set apart as a word to send: capitals, or quotation marks
    around a word of a script without capitals."""
    typed = " ".join(token.word for token in tokens)
    if any(ch.islower() for ch in typed):
        return False
    if any(ch.isupper() for ch in typed):
        return True
    return tokens[0].opens and tokens[-1].closes


def named_words(text: str, words: Iterable[str], loose: bool = False) -> list[str]:
    """The words of ``words`` that ``text`` names as words to send, in the order it names
    them (``words``' spelling); with ``loose``, wherever they stand (case, accents and
    quotation marks aside), to tell an interpreter what to put right."""
    wanted = {normalise(word): word for word in words if normalise(word)}
    if not wanted:
        return []
    longest = max(len(key.split()) for key in wanted)
    tokens = _tokens(text)
    found: list[str] = []
    for start in range(len(tokens)):
        for length in range(1, longest + 1):
            phrase = tokens[start : start + length]
            if len(phrase) < length:
                break
            word = wanted.get(normalise(" ".join(token.word for token in phrase)))
            if word and (loose or _stands_out(phrase)) and word not in found:
                found.append(word)
    return found


def named_actions(source: str) -> list[str]:
    """The actions whose English keyword ``source`` (a message's English text) names."""
    return [action for action in KEYWORD_MSGIDS if named_words(source, english_words(action))]


def accepted_words(action: str, locale: str) -> list[str]:
    """The words for ``action`` a message in ``locale`` may name: the language's current
    list (what members' messages are matched against now: a draft list is not), and the
    English words, which work in every language."""
    return _unique([*english_words(action), *keywords_for(action, locale)])


def _unique(words: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for word in words:
        seen.setdefault(normalise(word), word)
    return [word for key, word in seen.items() if key]


def keyword_problems(source: str, locale: str, text: str) -> list[str]:
    """What ``text``, as the ``locale`` translation of message ``source``, fails to tell
    members: for each keyword the English names, a word for it that works in ``locale``."""
    problems = []
    for action in named_actions(source):
        accepted = accepted_words(action, locale)
        if named_words(text, accepted):
            continue
        name = keyword_name(action)
        loose = named_words(text, accepted, loose=True)
        if loose:
            problems.append(_stand_out_problem(action, loose[0]))
            continue
        # The language's own words, after the English name (not all the English words:
        # STOP alone has 22).
        english = {normalise(word) for word in english_words(action)}
        own = [name] + [w for w in keywords_for(action, locale) if normalise(w) not in english]
        problems.append(
            f"This message must still tell members {HOW[action]}: include one of your words "
            f"for {name}: {', '.join(own)}."
        )
    return problems


def _stand_out_problem(action: str, word: str) -> str:
    start = f"This message must still tell members {HOW[action]}:"
    if word.upper() != word.lower():  # a word of a script with capitals
        return f"{start} write {word.upper()} in capitals, so they see it is the word to send."
    return f'{start} put "{word}" in quotation marks, so they see it is the word to send.'


@dataclass(frozen=True)
class MemberText:
    """A message as members of a language get it now, and how the editor names it."""

    name: str  # "Help", "Acknowledgement (For 2, 3, 4… days)"
    text: str


def dropped_word_problems(
    action: str, locale: str, new_list: str, messages: Iterable[MemberText]
) -> list[str]:
    """What saving ``new_list`` as the ``locale`` words for ``action`` would break: each
    message members get in ``locale`` that names a word of the current list which the new
    one drops (the English words always work, so dropping none of those breaks anything).

    Refused, rather than saved with a remedy, because every remedy is worse for someone.
    Keeping the dropped word working anyway would make the list mean more than the
    interpreter wrote (they may have dropped it for a reason: it is also an everyday word,
    or a wrong one). Putting another word into the message ourselves would edit a sentence
    in a language we cannot read ("USUŃ, by usunąć": a replacement may need another
    grammar). Falling back to the English text leaves the member a message in a language
    they may not read. The interpreter can always reach their list in two saves: change the
    message first to a word the list keeps (it is in the current list, so the message passes
    its own check), then save the list; or in three, for a word new to the list: the list
    with both words, the message, the list without the old word. The refusal says which.
    """
    current = {normalise(word) for word in keywords_for(action, locale)}
    typed = _unique(split_words(new_list))
    kept = {normalise(word) for word in (*typed, *english_words(action))}
    # A message may name only a word that works now: of the words kept, those the current
    # list has (else the English one); a new word works once the list is saved with it.
    working = [word for word in typed if normalise(word) in current] or [keyword_name(action)]
    new = [word for word in typed if normalise(word) not in current]
    problems = []
    for message in messages:
        dropped = [
            word
            for word in named_words(message.text, keywords_for(action, locale))
            if normalise(word) in current and normalise(word) not in kept
        ]
        if not dropped:
            continue
        words = " and ".join(dropped)
        problem = (
            f"“{message.name}” tells members to send {words}, which this list drops: a member "
            f"who sent {words} {INSTEAD[action]}. Keep {words} in the list, or first change "
            f"“{message.name}” to name a word you keep ({', '.join(working)})."
        )
        if new:
            problem += (
                f" To name {' or '.join(new)} there, first save the list with "
                f"{' and '.join([*new, *dropped])}."
            )
        problems.append(problem)
    return problems
