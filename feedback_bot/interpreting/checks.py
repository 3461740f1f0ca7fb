"""The checks a translation of a member's message must pass before it is saved."""

from __future__ import annotations

from ..messaging.keywords import keyword_list_problems
from ..messaging.templates import KEYWORD_CONTEXT, KEYWORD_MSGIDS
from .placeholders import placeholder_problems

ACTION_OF_KEYWORDS = {msgid: action for action, msgid in KEYWORD_MSGIDS.items()}


def translation_problems(context: str, msgid: str, locale: str, text: str) -> list[str]:
    """What is wrong with ``text`` as the ``locale`` translation of ``msgid``, in words for
    the interpreter; empty when all is well."""
    problems = placeholder_problems(msgid, text)
    if context == KEYWORD_CONTEXT and msgid in ACTION_OF_KEYWORDS:
        problems += keyword_list_problems(ACTION_OF_KEYWORDS[msgid], locale, text)
    return problems
