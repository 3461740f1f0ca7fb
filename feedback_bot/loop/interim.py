"""Interim updates: nobody waits in silence. A member whose feedback still waits for a
decision hears from us every INTERIM_UPDATE_DAYS, while nothing else is on its way to them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from .. import clock
from ..extensions import db
from ..models import (
    Contact,
    Decision,
    FeedbackItem,
    ItemStatus,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from ..outbox import owe_message
from .fan_out import WHAT_NEXT_KINDS

# Items still waiting to hear what happened: not yet linked to a decision, or reopened by
# the member's "no" and not linked again since. A reopened item keeps the decision it was
# linked to, and stays waiting when staff mark it triaged: only linking it again (to that
# decision or another) answers the member (``_relinked_since``).
WAITING = (ItemStatus.NEW, ItemStatus.TRIAGED, ItemStatus.REOPENED)


def awaits_decision(item: FeedbackItem) -> bool:
    """Whether ``item``'s member is still waiting to hear what happened (see ``WAITING``)."""
    return item.status in WAITING and (item.decision_id is None or item.reopened_at is not None)


# A "what happened next" that will go without anyone doing anything: owed and due (or held
# until morning, or by the send rate), or being sent.
ON_ITS_WAY = (OutboundStatus.PENDING, OutboundStatus.SENDING)


def _what_next_on_its_way() -> ColumnElement[bool]:
    """The item's "what happened next" is owed, or its decision's fan-out is about to owe
    it (published, and a run requested that has not finished)."""
    return or_(
        exists().where(
            OutboundMessage.item_id == FeedbackItem.id,
            OutboundMessage.kind.in_(WHAT_NEXT_KINDS),
            OutboundMessage.status.in_(ON_ITS_WAY),
        ),
        exists().where(
            Decision.id == FeedbackItem.decision_id,
            Decision.published_at.is_not(None),
            Decision.fan_out_done < Decision.fan_out_requests,
        ),
    )


def _waits_in_silence() -> ColumnElement[bool]:
    """Items whose member has nothing on its way to them about it: waiting for a decision
    (``awaits_decision``), or linked to one that cannot tell them yet. A linked item waits
    for the decision to be published, for an interpreter to translate its summary, or for
    an admin to add the WhatsApp template it needs; none of that has a date, and the
    acknowledgement promised word within INTERIM_UPDATE_DAYS."""
    return or_(
        and_(
            FeedbackItem.status.in_(WAITING),
            or_(FeedbackItem.decision_id.is_(None), FeedbackItem.reopened_at.is_not(None)),
        ),
        and_(FeedbackItem.status == ItemStatus.LINKED, ~_what_next_on_its_way()),
    )


def waits_in_silence(item_id: int) -> bool:
    """Whether the member of item ``item_id`` would hear nothing about it without an
    interim update (``_waits_in_silence``)."""
    return bool(
        db.session.scalar(select(exists().where(FeedbackItem.id == item_id, _waits_in_silence())))
    )


def owe_interim_updates(limit: int = 500) -> int:
    """Nobody waits in silence: one update per INTERIM_UPDATE_DAYS while nothing else is on
    its way to them (``_waits_in_silence``), counted from when the item came in, or from
    when the member reopened it."""
    from ..jobs import enqueue_send

    now = clock.now()
    period = timedelta(days=current_app.config["INTERIM_UPDATE_DAYS"])
    stale = now - period
    waiting_since = func.coalesce(FeedbackItem.reopened_at, FeedbackItem.created_at)
    waiting = db.session.execute(
        select(FeedbackItem, Contact)
        .join(Contact, FeedbackItem.contact_id == Contact.id)
        .where(
            _waits_in_silence(),
            waiting_since <= stale,
            or_(
                FeedbackItem.interim_sent_at.is_(None), FeedbackItem.interim_sent_at <= now - period
            ),
            Contact.forgotten_at.is_(None),
            Contact.opted_out_at.is_(None),
        )
        .limit(limit)
        # As a fan-out batch reads them (``_owe_what_next``): a member changing language,
        # or stopping, is waited for and read as they committed it.
        .with_for_update(read=True, key_share=True, of=Contact)
    ).all()
    owed = []
    for item, contact in waiting:
        row_id = owe_message(
            key=interim_key(item, now, period),
            kind=MessageKind.INTERIM,
            contact=contact,
            channel=item.channel,
            item=item,
            ref=item.ref,
            days=current_app.config["INTERIM_UPDATE_DAYS"],
        )
        item.interim_sent_at = now
        if row_id is not None:
            owed.append(row_id)
    db.session.commit()
    enqueue_send(owed, bulk=True)
    return len(owed)


def interim_key(item: FeedbackItem, now: datetime, period: timedelta) -> str:
    """One interim update per period of waiting; a reopened item's periods count afresh
    from the reopening, whether or not staff have marked it triaged since (its status is
    not in the key: marking it never owes a second update in the same period)."""
    if item.reopened_at is not None:
        periods = int((now - item.reopened_at) / period)
        return f"interim:item:{item.id}:reopened:{item.reopened_at:%Y%m%dT%H%M%S}:{periods}"
    return f"interim:item:{item.id}:{int((now - item.created_at) / period)}"
