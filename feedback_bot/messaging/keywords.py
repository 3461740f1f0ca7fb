"""Keywords members can send, in every shipped language.

A message is a keyword only when it is nothing but that word (give or take case, accents,
punctuation and spaces): "stop" is a keyword, "please stop the roadworks" is feedback.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from flask import current_app

from .templates import KEYWORD_MSGIDS, keywords_for

ACTIONS = tuple(KEYWORD_MSGIDS)


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = (
        ch for ch in decomposed if not unicodedata.combining(ch) and (ch.isalnum() or ch.isspace())
    )
    return " ".join("".join(kept).split())


@cache
def _table(locales: tuple[str, ...]) -> dict[str, str]:
    """Normalised word -> action, over every locale (English last, so it always wins)."""
    table: dict[str, str] = {}
    for locale in (*[loc for loc in locales if loc != "en"], "en"):
        for action in ACTIONS:
            for word in keywords_for(action, locale):
                table[normalise(word)] = action
    for action, msgid in KEYWORD_MSGIDS.items():
        for word in msgid.split(","):
            table[normalise(word)] = action
    return table


def match(text: str | None) -> str | None:
    """The action ``text`` asks for ("stop", "start", "help", "language", "forget"), if any."""
    if not text:
        return None
    word = normalise(text)
    if not word or len(word) > 40:
        return None
    return _table(tuple(current_app.config["SHIPPED_LOCALES"])).get(word)


def clear_cache() -> None:
    _table.cache_clear()
