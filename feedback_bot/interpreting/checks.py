"""The checks a translation of a member's message must pass before it is saved."""

from __future__ import annotations

from ..messaging.keywords import keyword_list_problems, rating_list_problems
from ..messaging.overrides import form_of
from ..messaging.templates import (
    COUNT_OF_MSGID,
    KEYWORD_CONTEXT,
    KEYWORD_MSGIDS,
    POLITE_MSGID,
    RATING_WORD_MSGIDS,
    TEMPLATES,
)
from .keyword_mentions import keyword_problems
from .placeholders import placeholder_problems

ACTION_OF_KEYWORDS = {msgid: action for action, msgid in KEYWORD_MSGIDS.items()}
# Polite words are checked as a list of their own: no number, no word of any action.
ACTION_OF_KEYWORDS[POLITE_MSGID] = "polite"
ANSWER_OF_WORDS = {msgid: answer for answer, msgid in RATING_WORD_MSGIDS.items()}
MESSAGE_MSGIDS = {template.msgid for template in TEMPLATES.values()}


def translation_problems(context: str, msgid: str, locale: str, text: str) -> list[str]:
    """What is wrong with ``text`` as the ``locale`` translation of ``msgid``, in words for
    the interpreter; empty when all is well."""
    # A plural form may say its number in words instead ("within two days" is one word
    # in Arabic), as gettext's own plural forms may.
    count = COUNT_OF_MSGID.get(msgid) if form_of(context) is not None else None
    problems = placeholder_problems(msgid, text, optional={count} if count else set())
    if context != KEYWORD_CONTEXT and msgid in MESSAGE_MSGIDS:
        # Drafts too, as for placeholders: a draft is what will be sent once it is done.
        problems += keyword_problems(msgid, locale, text)
    if context == KEYWORD_CONTEXT and msgid in ACTION_OF_KEYWORDS:
        problems += keyword_list_problems(ACTION_OF_KEYWORDS[msgid], locale, text)
    if context == KEYWORD_CONTEXT and msgid in ANSWER_OF_WORDS:
        problems += rating_list_problems(ANSWER_OF_WORDS[msgid], locale, text)
    return problems
