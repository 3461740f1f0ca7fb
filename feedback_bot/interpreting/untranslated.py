"""Which members' messages still need translating into the staff language.

One rule for staff's "Needs translation" filter and the interpreters' list of feedback to
translate, so that what one calls done the other does too.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from ..models import InboundMessage, MessageTranslation, ReviewState


def needs_translation(staff_locale: str) -> ColumnElement[bool]:
    """True of a member's message (an ``InboundMessage`` in the query) with no finished
    translation into ``staff_locale``: none at all, or only a draft.

    A draft still needs translating. The interpreter who saved it said it is not ready
    (the same word keeps a template or a summary from members), and it may be a sentence
    of a long message, or a guess they meant to check. Were it to count as translated,
    saving one would take the item off staff's "Needs translation" list and off the
    interpreters' list at once, and nothing would say that anyone still had to finish it.
    Staff read the draft meanwhile beside the original, marked draft. "Needs review" is
    finished: its interpreter stands by it, and a second reading only checks it (the
    interpreters' workspace lists those to review).
    """
    finished = select(MessageTranslation.id).where(
        MessageTranslation.message_id == InboundMessage.id,
        MessageTranslation.locale == staff_locale,
        MessageTranslation.state != ReviewState.DRAFT,
    )
    return ~finished.exists()
