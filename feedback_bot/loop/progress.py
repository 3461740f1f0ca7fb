"""What a decision's page counts: where its "what happened next" messages are, and who
waits for what only someone else can give (a translation, a WhatsApp template).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import func, select

from .. import clock
from ..extensions import db
from ..models import (
    Contact,
    Decision,
    FeedbackItem,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from .fan_out import FAN_OUT_BATCH, WHAT_NEXT_KINDS, is_owed, revisions_owed


def progress(decision: Decision) -> dict[str, int]:
    """Where the decision's "what happened next" messages are, for the panel."""
    counts: Counter[str] = Counter()
    rows = db.session.execute(
        select(OutboundMessage.status, OutboundMessage.next_attempt_at, func.count())
        .where(
            OutboundMessage.decision_id == decision.id,
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        )
        .group_by(OutboundMessage.status, OutboundMessage.next_attempt_at)
    ).all()
    now = clock.now()
    for status, next_attempt_at, count in rows:
        if status == OutboundStatus.PENDING and next_attempt_at and next_attempt_at > now:
            counts["waiting_quiet_hours"] += count
        elif status in (OutboundStatus.PENDING, OutboundStatus.SENDING):
            counts["pending"] += count
        elif status == OutboundStatus.READ:
            counts["delivered"] += count
        elif status == OutboundStatus.NEEDS_TEMPLATE:
            counts["awaiting_whatsapp_template"] += count
        else:
            counts[status] += count
    # Members, as the page says ("Linked members"), not their items: the messages above
    # are one per item.
    counts["linked"] = (
        db.session.scalar(
            select(func.count(func.distinct(FeedbackItem.contact_id))).where(
                FeedbackItem.decision_id == decision.id
            )
        )
        or 0
    )
    counts["awaiting_translation"] = sum(awaiting_translation(decision).values())
    for key in ("queued", "sent", "delivered", "failed", "undelivered", "cancelled", "pending"):
        counts.setdefault(key, 0)
    counts.setdefault("waiting_quiet_hours", 0)
    counts.setdefault("awaiting_whatsapp_template", 0)
    return dict(counts)


def awaiting_whatsapp_template(decision: Decision) -> dict[str, int]:
    """Members waiting, by language, for a WhatsApp template to be told the decision: it
    is past the 24-hour window, they have no SMS and nobody has added the template for
    their language (``whatsapp.window.route_outside_window``). Only an admin can unblock
    them, by adding it; the sweeper then sends it by itself."""
    return _needing_template(decision, WHAT_NEXT_KINDS, per_member=True)


def questions_awaiting_whatsapp_template(decision: Decision) -> dict[str, int]:
    """The "Did we listen?" questions about the decision waiting, by language, for their
    own WhatsApp template, as ``awaiting_whatsapp_template``: each is owed once "what
    happened next" reached its member (``record_told``), often by a template, when the
    24-hour window is long shut."""
    return _needing_template(decision, (MessageKind.RATING_QUESTION,))


def _needing_template(
    decision: Decision, kinds: Sequence[str], per_member: bool = False
) -> dict[str, int]:
    """The decision's messages of ``kinds`` waiting for a WhatsApp template, by language;
    ``per_member``, the members they are for instead (one per item: a member with two
    items has two waiting, and is one member waiting)."""
    counted = func.count(func.distinct(OutboundMessage.contact_id)) if per_member else func.count()
    rows = db.session.execute(
        select(OutboundMessage.locale, counted)
        .where(
            OutboundMessage.decision_id == decision.id,
            OutboundMessage.kind.in_(kinds),
            OutboundMessage.status == OutboundStatus.NEEDS_TEMPLATE,
        )
        .group_by(OutboundMessage.locale)
    ).all()
    return {locale: count for locale, count in rows}


def awaiting_translation(decision: Decision) -> dict[str, int]:
    """Members of a published decision waiting for a summary in their language: those the
    fan-out would owe a message now (``is_owed``) but for the translation. A member told this
    version already, by a message that has not failed or been cancelled, is not waiting,
    even when the translation they read has since been marked outdated.

    Counted once each, however many of their items wait: the pages that show this say
    "members" (an interpreter's "texts this summary to the 3 members waiting"), and a
    member with two items is one person waiting, though they get one message per item."""
    if not decision.published:
        return {}
    staff_locale = current_app.config["STAFF_LOCALE"]
    linked = (
        FeedbackItem.decision_id == decision.id,
        Contact.forgotten_at.is_(None),
        Contact.opted_out_at.is_(None),
    )
    locales = db.session.scalars(
        select(Contact.locale)
        .join(FeedbackItem, FeedbackItem.contact_id == Contact.id)
        .where(*linked)
        .distinct()
    ).all()
    untranslated = [
        locale for locale in locales if decision.summary_in(locale, staff_locale) is None
    ]
    waiting: dict[str, set[int]] = {}
    last_id = 0
    while untranslated:
        batch = db.session.execute(
            select(FeedbackItem, Contact)
            .join(Contact, FeedbackItem.contact_id == Contact.id)
            .where(*linked, Contact.locale.in_(untranslated), FeedbackItem.id > last_id)
            .order_by(FeedbackItem.id)
            .limit(FAN_OUT_BATCH)
        ).all()
        if not batch:
            break
        last_id = batch[-1][0].id
        earlier = revisions_owed(decision.id, [item for item, _ in batch])
        for item, contact in batch:
            if is_owed(item, contact, decision.revision, earlier):
                waiting.setdefault(contact.locale, set()).add(contact.id)
    return {locale: len(members) for locale, members in waiting.items()}
