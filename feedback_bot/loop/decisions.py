"""Decisions and the feedback linked to them: linking, publishing, and changing a decision
members have been told. Each commits its own change and only then enqueues the fan-out
(``fan_out``), so a job never looks for a row that is not there yet.
"""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select

from .. import clock
from ..extensions import db
from ..models import (
    Contact,
    Decision,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    ReviewState,
)
from .closing import being_told
from .fan_out import WHAT_NEXT_KINDS, cancel_unsent, owe_fan_out, schedule_fan_out


def link(decision: Decision, items: list[FeedbackItem]) -> None:
    """Link ``items`` to ``decision``: once it is published, their members are told it.

    Callers leave out items whose members have been told another decision (``told``): a
    second "what happened next" would contradict the first. An item moved from a decision
    its member has not heard yet loses that decision's message if it has not gone (quiet
    hours, a WhatsApp template), in the same commit: the member hears the new one only.

    An item closed as no action is reopened by this, explicitly: it is no action no longer,
    and its member will be told the decision. Its closure message, if it has not gone yet
    (quiet hours, a WhatsApp template), is cancelled in the same commit: "we will not be
    taking it further" must not arrive just before what we decided. (One a worker holds,
    or that may have reached Twilio, goes; the decision follows it.)
    """
    moved = [item.id for item in items if item.decision_id not in (None, decision.id)]
    if moved:
        cancel_unsent(
            "the feedback was linked to another decision before this went",
            OutboundMessage.item_id.in_(moved),
            OutboundMessage.decision_id != decision.id,
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        )
    reopened = []
    for item in items:
        item.decision_id = decision.id
        if item.status == ItemStatus.CLOSED:
            item.closed_reason = None  # the audit log keeps it, with the closing
            reopened.append(item.id)
        if item.status in (
            ItemStatus.NEW,
            ItemStatus.TRIAGED,
            ItemStatus.REOPENED,
            ItemStatus.CLOSED,
        ):
            item.status = ItemStatus.LINKED
    if reopened:
        # The closure's "Did we listen?" too: the decision will ask (``asked_about``
        # no longer credits a closure's question once the item is linked).
        cancel_unsent(
            "the feedback was linked to a decision before this went",
            OutboundMessage.item_id.in_(reopened),
            or_(
                OutboundMessage.kind == MessageKind.CLOSED_NO_ACTION,
                (OutboundMessage.kind == MessageKind.RATING_QUESTION)
                & OutboundMessage.decision_id.is_(None),
            ),
        )
    if decision.published:
        owe_fan_out(decision)
    db.session.commit()
    if decision.published:
        schedule_fan_out(decision)


def told(item: FeedbackItem) -> bool:
    """Whether the member of ``item`` has heard the decision it is linked to, or may be
    hearing it right now (``being_told``): its loop is closed, and linking it to another
    decision would send them a second, contradicting outcome. A changed decision reaches
    them as an update (``update_outcome``); a member who answers "no" to "Did we listen?"
    reopens the item, and it can be linked again (``_relinked_since``)."""
    if item.status == ItemStatus.TOLD:
        return True
    return item.status == ItemStatus.LINKED and being_told(item.id)


def publish(decision: Decision) -> None:
    if decision.published_at is None:
        decision.published_at = clock.now()
    owe_fan_out(decision)
    db.session.commit()
    schedule_fan_out(decision)


def update_outcome(decision: Decision, notify_told: bool, summary_changed: bool = False) -> None:
    """Save an edit to a published decision; optionally tell those already told.

    A changed summary makes its translations outdated: members in those languages wait for
    a fresh translation rather than get the old text framed as an update. Told or not,
    nobody is sent the old text any more: a message not sent yet is replaced by the current
    text, or waits for its translation (``owe_fan_out``).
    """
    if summary_changed:
        mark_translations_outdated(decision)
    if notify_told and decision.published:
        decision.revision += 1
    fan_out = decision.published and (notify_told or summary_changed)
    if fan_out:
        owe_fan_out(decision)
    db.session.commit()
    if fan_out:
        schedule_fan_out(decision)


def told_of(decision: Decision) -> dict[str, int]:
    """Members an update of ``decision`` would text (``update_outcome``), by language: those
    with feedback linked to it whose "what happened next" of it reached Twilio, unless they
    opted out or asked to be forgotten. Those in a language other than the staff's wait
    for the new summary's translation."""
    told = exists().where(
        OutboundMessage.item_id == FeedbackItem.id,
        OutboundMessage.decision_id == decision.id,
        OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
        OutboundMessage.accepted_at.is_not(None),
    )
    rows = db.session.execute(
        select(Contact.locale, func.count(func.distinct(Contact.id)))
        .join(FeedbackItem, FeedbackItem.contact_id == Contact.id)
        .where(
            FeedbackItem.decision_id == decision.id,
            Contact.forgotten_at.is_(None),
            Contact.opted_out_at.is_(None),
            told,
        )
        .group_by(Contact.locale)
    ).all()
    return {locale: count for locale, count in rows}


def mark_translations_outdated(decision: Decision) -> None:
    for translation in decision.translations:
        translation.state = ReviewState.OUTDATED
