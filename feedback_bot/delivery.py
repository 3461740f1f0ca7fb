"""Twilio's delivery status callbacks: what each one changes."""

from __future__ import annotations

from datetime import datetime

from .extensions import db
from .jobs import enqueue_send
from .models import DeliveryEvent, OutboundStatus
from .outbox import advance_status
from .whatsapp.window import owe_sms_fallback


def record_status(sid: str, status: str, error_code: str | None, received_at: datetime) -> None:
    """Keep the callback, move its row forward, owe an SMS fallback if it failed; commit.

    The event is kept even when no row has this SID yet: the callback can overtake the
    send job's commit, which then applies it.
    """
    try:
        db.session.add(
            DeliveryEvent(
                twilio_sid=sid, status=status, error_code=error_code, received_at=received_at
            )
        )
        advance_status(sid, status, error_code)
        fallback = None
        if status in (OutboundStatus.UNDELIVERED, OutboundStatus.FAILED):
            fallback = owe_sms_fallback(sid)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if fallback is not None:
        enqueue_send([fallback])
