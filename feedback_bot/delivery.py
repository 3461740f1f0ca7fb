"""Twilio's delivery status callbacks: what each one changes.

A callback can overtake the send job: Twilio may report on a message before the job has
committed the SID it got back. The callback is then kept as an event, and the job applies
it in the transaction that stores the SID (``apply_early_events``). The two transactions
take a lock on the SID first (on PostgreSQL; SQLite runs one writer at a time anyway), so
one of them always sees the other's work: without it, a callback whose UPDATE found no row
but which committed after the job had looked for events would be lost.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from .dbutil import lock_until_commit
from .extensions import db
from .jobs import enqueue_send
from .messaging.transport import OUTSIDE_WHATSAPP_WINDOW
from .models import DeliveryEvent, OutboundStatus
from .outbox import advance_status
from .whatsapp.window import owe_outside_window, owe_sms_fallback

# The first key of the advisory locks on SIDs: a namespace of their own.
SID_LOCKS = 0x5D1D


def record_status(sid: str, status: str, error_code: str | None, received_at: datetime) -> None:
    """Keep the callback, move its row forward, owe an SMS fallback if it failed; commit.

    The event is kept even when no row has this SID yet (see the module's docstring).
    """
    try:
        lock_sid(sid)
        db.session.add(
            DeliveryEvent(
                twilio_sid=sid, status=status, error_code=error_code, received_at=received_at
            )
        )
        owed = apply_status(sid, status, error_code)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    enqueue_send(owed)


def apply_early_events(sid: str) -> list[int]:
    """Apply the callbacks that came before the SID was stored, in the caller's transaction,
    which has just stored it. Returns the outbox rows they owe, to enqueue after the commit."""
    lock_sid(sid)
    events = db.session.scalars(
        select(DeliveryEvent).where(DeliveryEvent.twilio_sid == sid).order_by(DeliveryEvent.id)
    ).all()
    owed: list[int] = []
    for event in events:
        owed.extend(apply_status(sid, event.status, event.error_code))
    return owed


def apply_status(sid: str, status: str, error_code: str | None) -> list[int]:
    """Move the row with ``sid`` forward; if the message failed, owe what should follow:
    a WhatsApp message refused as outside the 24-hour window goes again by the template
    route, any other failed WhatsApp message by SMS."""
    advance_status(sid, status, error_code)
    if status not in (OutboundStatus.UNDELIVERED, OutboundStatus.FAILED):
        return []
    if error_code == OUTSIDE_WHATSAPP_WINDOW:
        owed = owe_outside_window(sid)
    else:
        owed = owe_sms_fallback(sid)
    return [owed] if owed is not None else []


def lock_sid(sid: str) -> None:
    """Hold a lock on ``sid`` until the transaction ends (PostgreSQL only)."""
    lock_until_commit(SID_LOCKS, sid)
