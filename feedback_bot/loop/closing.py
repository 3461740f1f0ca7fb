"""Closing an item as no action: its member is told, in their language, that we read
their feedback and will not be taking it further, and then asked whether they felt heard.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import (
    Contact,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from ..outbox import owe_message
from .fan_out import UNSENT, WHAT_NEXT_KINDS, cancel_unsent

# What staff can close as "no action": feedback whose member has not been told of a
# decision. A told item's loop is closed already (the member heard what we did, and was
# asked whether they felt heard); "we will not be taking it further" would contradict it.
CLOSABLE = (ItemStatus.NEW, ItemStatus.TRIAGED, ItemStatus.LINKED, ItemStatus.REOPENED)


def closable(item: FeedbackItem) -> bool:
    return item.status in CLOSABLE


def close_no_action(item: FeedbackItem, reason: str) -> bool:
    """Close ``item`` as "no action". Commits, then enqueues; True if it was closed.

    ``reason`` stays for staff: it is in the staff language, and members only ever read
    text in their own. The member is told, in their language, that we read their feedback
    and are not taking it further (a template, so interpreters have translated it), unless
    they opted out or asked to be forgotten: once per closure (``closure_key``).

    Closing unlinks the item from its decision, so that publishing or updating that
    decision never tells the member "what happened next" after all; such a message, or a
    "still working on it", not sent yet is cancelled. Linking the item again reopens it
    (``link``).

    False if the item cannot be closed: closed already, its member told of a decision
    (``closable``), or being told one right now (a "what happened next" a worker is
    sending, or that may have reached Twilio). Then nothing changes, and the session is
    rolled back, with whatever the caller added to it (its audit entry of the closing).
    """
    # Locked and read afresh: two staff closing the same item at once owe one message,
    # and a closing that waited for a link sees the link.
    db.session.refresh(item, with_for_update=True)
    if not closable(item) or being_told(item.id):
        db.session.rollback()
        return False
    item.status = ItemStatus.CLOSED
    item.closed_reason = reason
    item.decision_id = None
    cancel_unsent(
        "the feedback was closed as no action before this went",
        OutboundMessage.item_id == item.id,
        OutboundMessage.kind.in_((*WHAT_NEXT_KINDS, MessageKind.INTERIM)),
    )
    owed = _owe_closure(item)
    db.session.commit()
    from ..jobs import enqueue_send

    enqueue_send(owed, bulk=True)
    return True


def being_told(item_id: int) -> bool:
    """Whether a "what happened next" about the item may be reaching its member now: a
    worker holds it, or an earlier attempt may have reached Twilio. It cannot be taken
    back, so the item is not closed under it."""
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.item_id == item_id,
                OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
                or_(
                    OutboundMessage.status == OutboundStatus.SENDING,
                    (
                        OutboundMessage.status.in_(UNSENT)
                        & OutboundMessage.unconfirmed_since.is_not(None)
                    ),
                ),
            )
        )
    )


def _owe_closure(item: FeedbackItem) -> list[int]:
    """Owe the member of ``item``, just closed, the closure message; the caller commits."""
    contact = member_as_committed(item.contact_id)
    if contact is None or contact.forgotten or contact.opted_out:
        return []
    owed = owe_message(
        key=closure_key(item),
        kind=MessageKind.CLOSED_NO_ACTION,
        contact=contact,
        channel=item.channel,
        item=item,
        ref=item.ref,
    )
    return [owed] if owed else []


def member_as_committed(contact_id: int | None) -> Contact | None:
    """The contact, to owe them a message: locked FOR KEY SHARE and read afresh, as a
    fan-out batch reads its members (``_owe_what_next``). A message of theirs changing
    their language holds the row until it commits, and renders again only the rows it can
    see; read without the lock, the old language went into a row it never saw."""
    if contact_id is None:
        return None
    return db.session.get(
        Contact,
        contact_id,
        with_for_update={"read": True, "key_share": True},
        populate_existing=True,
    )


def closure_key(item: FeedbackItem) -> str:
    """The closure message's idempotency key: one per closure of the item. An item closed,
    reopened by linking it and closed again is told again; the count is read holding the
    item's lock (``close_no_action``)."""
    closures = db.session.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .where(
            OutboundMessage.item_id == item.id,
            OutboundMessage.kind == MessageKind.CLOSED_NO_ACTION,
            OutboundMessage.fallback_of_id.is_(None),
        )
    )
    return f"{MessageKind.CLOSED_NO_ACTION}:item:{item.id}:{closures or 0}"
