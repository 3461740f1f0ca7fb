""" "Did we listen?": asked once a member has been told what happened (or that nothing
will), and answered 1, 2 or 3, or in words; a "no" reopens the item for staff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from .. import clock
from ..dbutil import lock_until_commit
from ..extensions import db
from ..messaging import keywords
from ..models import (
    Contact,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from ..outbox import owe_message
from .closing import member_as_committed
from .fan_out import WHAT_NEXT_KINDS

# The first key of the advisory locks on a member's questions about a decision.
QUESTION_LOCKS = 0x2A7E
# How long after a "Did we listen?" reached Twilio another item told of the same decision
# shares it instead of being asked again (``_question_waiting``): the items of one fan-out.
QUESTION_SHARED_FOR = timedelta(days=1)


def leads_somewhere(kind: str) -> bool:
    """Whether a message of ``kind``, once accepted, owes more (see ``record_told``)."""
    return kind in WHAT_NEXT_KINDS or kind == MessageKind.CLOSED_NO_ACTION


def record_told(row: OutboundMessage) -> list[int]:
    """What "what happened next", accepted by Twilio, leads to: the item is told, and its
    member owed the rating question. A closure ("we will not be taking it further") is an
    answer too, and is asked about the same way (``_ask_about_closure``). Returns outbox
    rows to enqueue once the caller, who records the acceptance in the same transaction,
    has committed."""
    if not leads_somewhere(row.kind) or not row.item_id:
        return []
    item = db.session.get(FeedbackItem, row.item_id)
    if item is None:
        return []
    if row.kind == MessageKind.CLOSED_NO_ACTION:
        return _ask_about_closure(row, item)
    if item.status == ItemStatus.LINKED:
        item.status = ItemStatus.TOLD
    item.told_at = item.told_at or clock.now()
    owed = None
    # Only "what happened next" asks the question; an update does not ask again.
    contact = member_as_committed(item.contact_id) if row.kind == MessageKind.WHAT_NEXT else None
    if (
        contact is not None
        and not contact.forgotten
        and row.decision_id is not None
        and not _question_waiting(contact.id, row.decision_id)
    ):
        # Keyed per decision and reopening: an item reopened and linked again, to another
        # decision or the same one (``_relinked_since``), is asked again, and
        # ``rating_item`` credits the answer to the question, not to ``told_at``.
        key = f"rating_question:decision:{row.decision_id}:item:{item.id}"
        if item.reopened_at is not None:
            key += f":reopened:{item.reopened_at:%Y%m%dT%H%M%S}"
        owed = owe_message(
            key=key,
            kind=MessageKind.RATING_QUESTION,
            contact=contact,
            channel=item.channel,
            item=item,
            decision_id=row.decision_id,
        )
    return [owed] if owed else []


def _ask_about_closure(row: OutboundMessage, item: FeedbackItem) -> list[int]:
    """Owe "Did we listen?" after a closure message reached Twilio: "no" is the member's
    way to have a person look again (``record_rating`` reopens the item). Not if the item
    was linked again meanwhile (its decision will ask), nor to a member who asked to be
    forgotten. Keyed per closure: the first row of it, as an SMS fallback of the closure
    message is the same closure."""
    contact = member_as_committed(item.contact_id)
    if item.status != ItemStatus.CLOSED or contact is None or contact.forgotten:
        return []
    first = row
    while first.fallback_of_id is not None:
        earlier = db.session.get(OutboundMessage, first.fallback_of_id)
        if earlier is None:
            break
        first = earlier
    owed = owe_message(
        key=f"rating_question:closure:{first.id}",
        kind=MessageKind.RATING_QUESTION,
        contact=contact,
        channel=item.channel,
        item=item,
    )
    return [owed] if owed else []


RATINGS = {1: "yes", 2: "partly", 3: "no"}


def _question_waiting(contact_id: int, decision_id: int) -> bool:
    """Whether the member was asked "Did we listen?" about this decision and can still
    answer (``asked_about``). Their answer is about the decision, so it rates every item
    of theirs told of it (``rated_by``): a member whose two messages were linked to one
    decision hears of it twice, each with its ref, and is asked once. Feedback told of it
    after they answered, or after RATING_REPLY_DAYS, is asked about afresh.

    Two workers may record two of the member's items told at once, each finding no
    question yet: the lock makes the second wait for the first's commit, and see it."""
    lock_until_commit(QUESTION_LOCKS, f"{contact_id}:{decision_id}")
    now = clock.now()
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    OutboundMessage.contact_id == contact_id,
                    OutboundMessage.kind == MessageKind.RATING_QUESTION,
                    OutboundMessage.decision_id == decision_id,
                    OutboundMessage.status.not_in(
                        (
                            OutboundStatus.CANCELLED,
                            OutboundStatus.FAILED,
                            OutboundStatus.UNDELIVERED,
                        )
                    ),
                    # Still to go, or gone lately: a member told of the decision again
                    # near the end of an old question's RATING_REPLY_DAYS would have only
                    # hours left to answer for both.
                    or_(
                        OutboundMessage.accepted_at.is_(None),
                        OutboundMessage.accepted_at >= now - QUESTION_SHARED_FOR,
                    ),
                    _unanswered(),
                )
            )
        )
    )


def _unanswered() -> ColumnElement[bool]:
    """The question (an ``OutboundMessage``) has not been answered since it was asked:
    its item (joined, or correlated) has no rating from after it reached Twilio (or,
    while it waits to go, after it was owed)."""
    asked = func.coalesce(OutboundMessage.accepted_at, OutboundMessage.created_at)
    return and_(
        FeedbackItem.id == OutboundMessage.item_id,
        or_(FeedbackItem.rated_at.is_(None), FeedbackItem.rated_at < asked),
    )


@dataclass(frozen=True)
class Rating:
    """A member's answer to "Did we listen?"."""

    items: list[FeedbackItem]  # what it rates, the question's own item first (``rated_by``)
    answer: str  # "yes", "partly" or "no"
    asked_at: datetime  # when the question reached Twilio
    # What the member wrote after their answer ("2 - but it should run every half hour"):
    # kept with it, as they wrote it, in the message itself. Empty for an answer alone.
    comment: str = ""


def rating_item(contact: Contact, body: str, now: datetime) -> Rating | None:
    """What a bare "1", "2" or "3" rates, or an answer in words ("no", "Tak"), or a
    message that starts with one ("2 - but it is late"), if the member was asked
    recently."""
    found = answer_and_comment(body)
    if found is None:
        return None
    asked = asked_about(contact, now)
    if asked is None:
        return None
    question, item = asked
    assert question.accepted_at is not None  # asked_about: it reached Twilio
    return Rating(rated_by(question, item), found[0], question.accepted_at, found[1])


def rating_of(body: str) -> str | None:
    """ "yes", "partly" or "no" for a reply of "1", "2" or "3" or their words, or a message
    that starts with one; None for anything else (``answer_and_comment``)."""
    found = answer_and_comment(body)
    return found[0] if found else None


def answer_and_comment(body: str) -> tuple[str, str] | None:
    """The answer ``body`` gives "Did we listen?" and what the member wrote after it: a
    reply that is only an answer ("3", "not really", "👍") has no comment
    (``keywords.rating_answer``); one that starts with an answer ("2 ale za późno", "No,
    the lift is still broken") has the rest (``keywords.leading_rating``)."""
    answer = keywords.rating_answer(body, RATINGS)
    if answer is not None:
        return answer, ""
    return keywords.leading_rating(body, RATINGS)


def rated_by(question: OutboundMessage, item: FeedbackItem) -> list[FeedbackItem]:
    """The items an answer to ``question`` (about ``item``) rates: ``item``, and for a
    question about a decision, the member's other items told of that decision since
    their last answer, if any (``_question_waiting`` asked about them with this one). An
    item answered since it was told keeps its answer."""
    if question.decision_id is None:
        return [item]
    told_since_answered = exists().where(
        OutboundMessage.item_id == FeedbackItem.id,
        OutboundMessage.kind == MessageKind.WHAT_NEXT,
        OutboundMessage.decision_id == question.decision_id,
        OutboundMessage.accepted_at > FeedbackItem.rated_at,
    )
    others = db.session.scalars(
        select(FeedbackItem)
        .where(
            FeedbackItem.contact_id == item.contact_id,
            FeedbackItem.decision_id == question.decision_id,
            FeedbackItem.status == ItemStatus.TOLD,
            FeedbackItem.id != item.id,
            or_(FeedbackItem.rated_at.is_(None), told_since_answered),
        )
        .order_by(FeedbackItem.id)
    )
    return [item, *others]


def asked_about(contact: Contact, now: datetime) -> tuple[OutboundMessage, FeedbackItem] | None:
    """The latest "Did we listen?" asked of ``contact`` within RATING_REPLY_DAYS of
    ``now`` that they have not answered since it was asked, with its item.

    Found from the questions, not from the item's ``told_at`` and ``rating``: an item rated
    "no" (reopened) and then told of another decision is asked again (``record_told``),
    yet keeps its first ``told_at`` (when the member first heard back, for the dashboard)
    and its old rating until the new answer replaces it. The old answer is not lost: it
    stays as the member's message, with the reopening in ``reopened_at``.

    A question asked after a closure (it has no decision) counts only while the item is
    still closed: once staff link it again, a "3" must not reopen it under the decision
    the member is about to hear of.
    """
    days = current_app.config["RATING_REPLY_DAYS"]
    found = db.session.execute(
        select(OutboundMessage, FeedbackItem)
        .join(FeedbackItem, OutboundMessage.item_id == FeedbackItem.id)
        .where(
            OutboundMessage.contact_id == contact.id,
            OutboundMessage.kind == MessageKind.RATING_QUESTION,
            # Asked before the member wrote: Twilio had it. One still held then (quiet
            # hours, a WhatsApp template) had not been seen, and a "1" sent meanwhile is
            # the member's own message, even if a worker reaches it after the question went.
            OutboundMessage.accepted_at <= now,
            OutboundMessage.accepted_at >= now - timedelta(days=days),
            _unanswered(),
            or_(
                OutboundMessage.decision_id.is_not(None),
                FeedbackItem.status == ItemStatus.CLOSED,
            ),
        )
        # The question the member saw last: one held for a template and sent after a
        # newer one went by SMS is the one on their screen.
        .order_by(OutboundMessage.accepted_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()
    return (found[0], found[1]) if found is not None else None


def record_rating(items: Sequence[FeedbackItem], rating: str, now: datetime) -> str:
    """Store the rating; a "no" reopens the items for staff. Returns the reply's kind."""
    for item in items:
        item.rating = rating
        item.rated_at = now
        if rating == "no":
            item.status = ItemStatus.REOPENED
            item.reopened_at = now
    return MessageKind.RATING_REOPENED if rating == "no" else MessageKind.RATING_THANKS
