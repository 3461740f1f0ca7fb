"""The language a member's message is written in, as staff and interpreters both see it.

A message's language is its own, detected when it came in (``detected_locale``), not its
writer's: a member answered in English may write in French, and one who later chooses
Polish from the menu has not made their French Polish. A sentence lingua could not place
among the languages we offer is ``UNRECOGNISED``: every interpreter is shown it, since any
of them may know the language, and staff see that it needs translating. Only a message
that says nothing of its language (a photo, a voice note, "ok", an emoji, a name) is taken
to be in its item's, the language we answer the member in: marked unrecognised, every
"ok" would be in every interpreter's queue.

Staff's "Needs translation" and the interpreters' queue ask the same question of the same
expression (``untranslated_feedback``), so what one flags the other lists; what counts as
translated is ``untranslated.needs_translation``'s.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, func, select

from ..extensions import db
from ..messaging.language import UNRECOGNISED, native_name
from ..models import Disposition, FeedbackItem, InboundMessage
from .untranslated import needs_translation

# How the panel names the language of a message we could not place (English: staff-facing).
UNRECOGNISED_LABEL = "Language not recognised"


def language_column() -> ColumnElement[Any]:
    """The language of an ``InboundMessage`` joined to its ``FeedbackItem``, in SQL."""
    return func.coalesce(InboundMessage.detected_locale, FeedbackItem.locale)


def message_language(message: InboundMessage) -> str:
    """``language_column`` of one message, in Python."""
    if message.detected_locale:
        return message.detected_locale
    item = db.session.get(FeedbackItem, message.item_id) if message.item_id else None
    return item.locale if item else str(current_app.config["STAFF_LOCALE"])


def language_label(locale: str) -> str:
    """A message's language as the panel names it: "Polski", or that we do not know it."""
    return UNRECOGNISED_LABEL if locale == UNRECOGNISED else native_name(locale)


def feedback(*columns: Any) -> Select[Any]:
    """``columns`` of members' feedback, not erased, not written in the staff language: the
    caller narrows it by ``language_column``."""
    return (
        select(*columns)
        .join(FeedbackItem, InboundMessage.item_id == FeedbackItem.id)
        .where(
            InboundMessage.disposition == Disposition.FEEDBACK,
            InboundMessage.erased_at.is_(None),
            language_column() != current_app.config["STAFF_LOCALE"],
        )
    )


def untranslated_feedback(*columns: Any) -> Select[Any]:
    """``feedback`` that nobody has finished translating into the staff language (a draft
    is not finished: ``untranslated.needs_translation``)."""
    return feedback(*columns).where(needs_translation(current_app.config["STAFF_LOCALE"]))
