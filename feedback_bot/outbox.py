"""Writing to the outbox, and moving rows through it.

Every change of a row's status is a compare-and-set UPDATE, so that two workers, a worker
and the sweeper, or a job delivered twice can never both act on the same row.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, Executable, and_, func, or_, select, update

from . import clock, sending_locks
from .dbutil import insert_ignoring_conflict, insert_many_ignoring_conflict
from .extensions import db
from .logs import redact
from .messaging.templates import render
from .models import (
    Contact,
    FeedbackItem,
    OutboundMessage,
    OutboundStatus,
)
from .privacy import vault

log = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"


def address_for(e164: str, channel: str) -> str:
    return WHATSAPP_PREFIX + e164 if channel == "whatsapp" else e164


def owe_message(*, key: str, kind: str, contact: Contact, channel: str, **rest: Any) -> int | None:
    """Add a row to the outbox, unless one with ``key`` exists. Returns the new row's id.

    The body is rendered now, in the member's language, so the row says exactly what will
    be sent. The caller commits, then enqueues (``enqueue_send``). ``rest``: the other
    arguments of ``outbox_row``, and the template's values.
    """
    row = outbox_row(key=key, kind=kind, contact=contact, channel=channel, **rest)
    if row is None:
        return None
    return insert_ignoring_conflict(OutboundMessage, _addressed(row), key="idempotency_key")


def owe_messages(rows: list[dict[str, Any]]) -> list[int]:
    """Add many ``outbox_row``s in one statement, skipping keys that exist; the new ids."""
    return insert_many_ignoring_conflict(
        OutboundMessage, [_addressed(row) for row in rows], key="idempotency_key"
    )


def _addressed(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as it is stored: a row owed already final (the acknowledgement given inline
    while the database was down) keeps no address, like any row once final."""
    if row.get("status") in FINAL:
        return {**row, "to_ciphertext": None}
    return row


def outbox_row(
    *,
    key: str,
    kind: str,
    contact: Contact,
    channel: str,
    locale: str | None = None,
    item: FeedbackItem | None = None,
    to_e164: str | None = None,
    status: str = OutboundStatus.PENDING,
    decision_id: int | None = None,
    decision_revision: int | None = None,
    fallback_of_id: int | None = None,
    not_before: datetime | None = None,
    **values: Any,
) -> dict[str, Any] | None:
    """The columns of an outbox row, rendered and encrypted; None if the member has no
    number any more (forgotten). ``decision_revision``: which version of the decision a
    "what happened next" (or a follow-up of one) tells. ``not_before``: the row is not due
    until then (the sweeper enqueues it once it is)."""
    locale = locale or contact.locale
    if to_e164 is None:
        if contact.phone_ciphertext is None:
            log.info("not owing %s to contact %s: no number (forgotten)", kind, contact.id)
            return None
        to_e164 = vault().decrypt(contact.phone_ciphertext)
    now = clock.now()
    return {
        "idempotency_key": key,
        "contact_id": contact.id,
        "item_id": item.id if item is not None else None,
        "decision_id": decision_id,
        "decision_revision": decision_revision,
        "fallback_of_id": fallback_of_id,
        "kind": kind,
        "channel": channel,
        "locale": locale,
        "body": render(kind, locale, **values),
        "variables": {key: str(value) for key, value in values.items()},
        "to_ciphertext": vault().encrypt(address_for(to_e164, channel)),
        "status": status,
        "attempts": 0,
        "next_attempt_at": not_before,
        "created_at": now,
        "updated_at": now,
    }


def rowcount(statement: Executable) -> int:
    """Rows an UPDATE changed (a compare-and-set that changed none lost the race)."""
    result = db.session.execute(statement)
    return cast("CursorResult[Any]", result).rowcount


def claim(row_id: int) -> OutboundMessage | None:
    """Take a pending row for sending; None if it is not due or somebody else has it."""
    now = clock.now()
    claimed = rowcount(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == row_id,
            OutboundMessage.status == OutboundStatus.PENDING,
            or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now),
        )
        .values(
            status=OutboundStatus.SENDING,
            attempts=OutboundMessage.attempts + 1,
            sending_started_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if not claimed:
        return None
    return db.session.get(OutboundMessage, row_id, populate_existing=True)


# Statuses after which a row is never sent again (so it no longer needs its address).
FINAL = frozenset(
    (*OutboundStatus.ACCEPTED_BY_TWILIO, OutboundStatus.FAILED, OutboundStatus.CANCELLED)
)


def _fenced_update(
    row: OutboundMessage, *, also: Callable[[], object] | None = None, **values: Any
) -> bool:
    """Update a row we claimed, only if it is still ours; commits. False if it was not.

    ``also`` runs in the same transaction when the update took: what follows from the
    change (an item marked told, a question owed) is committed with it or not at all, so a
    worker killed between the two can never leave one without the other.
    """
    values.setdefault("updated_at", clock.now())
    changed = rowcount(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == row.id,
            OutboundMessage.status == OutboundStatus.SENDING,
            # The attempt number fences off a worker that lost its claim to the sweeper.
            OutboundMessage.attempts == row.attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed and also is not None:
        also()
    db.session.commit()
    if not changed:
        log.error("outbound %s was reclaimed while attempt %s ran", row.id, row.attempts)
    return bool(changed)


def _finish(row: OutboundMessage, also: Callable[[], object] | None = None, **values: Any) -> bool:
    """Move a row we claimed out of SENDING; False if it was taken from us meanwhile.

    A row that ends (sent, failed, cancelled) is never sent again, so its address goes:
    the number is kept only while something is still owed to it. What follows a row (an
    SMS fallback, a retry outside WhatsApp's window, the rating question) is addressed
    from the member's contact, so it never needs the address of the row it follows; and
    the confirmation of a FORGET was the erased number's last use.
    """
    if values.get("status") in FINAL:
        values["to_ciphertext"] = None
    return _fenced_update(row, also=also, **values)


def mark_accepted(
    row: OutboundMessage, sid: str, twilio_status: str, also: Callable[[], object] | None = None
) -> bool:
    """Record that Twilio has the message; ``also`` runs in the same transaction (see
    ``jobs.send.accept``: it applies the status callbacks that came first)."""
    status = twilio_status_to_ours(twilio_status) or OutboundStatus.QUEUED
    done = _finish(
        row,
        also=also,
        status=status,
        twilio_sid=sid,
        accepted_at=clock.now(),
        unconfirmed_since=None,
        error_code=None,
        error_message=None,
    )
    return done


def mark_retry(row: OutboundMessage, code: str, message: str, uncertain: bool) -> datetime | None:
    """Schedule another attempt; returns when, or None if attempts are exhausted."""
    config = current_app.config
    if row.attempts >= config["SEND_MAX_ATTEMPTS"]:
        mark_failed(row, code, message)
        return None
    delay = backoff_seconds(row.attempts)
    when = clock.now() + timedelta(seconds=delay)
    values: dict[str, Any] = {
        "status": OutboundStatus.PENDING,
        "next_attempt_at": when,
        "error_code": code,
        "error_message": error_text(row, message),
    }
    if uncertain and row.unconfirmed_since is None:
        # Twilio may have the message: ask before sending again.
        values["unconfirmed_since"] = row.sending_started_at
    return when if _finish(row, **values) else None


def amend(row: OutboundMessage, **values: Any) -> bool:
    """Change a row we hold, keeping it SENDING (fenced like ``_finish``); refreshes ``row``."""
    changed = _fenced_update(row, **values)
    db.session.refresh(row)
    return changed


def defer_as(row: OutboundMessage, status: str, reason: str) -> bool:
    """Park a claimed row in ``status`` without spending an attempt."""
    return _finish(row, status=status, attempts=row.attempts - 1, error_message=reason)


def defer(row: OutboundMessage, until: datetime, reason: str) -> bool:
    """Put a claimed row back until ``until`` without spending an attempt."""
    return _finish(
        row,
        status=OutboundStatus.PENDING,
        next_attempt_at=until,
        attempts=row.attempts - 1,
        error_message=reason,
    )


def mark_failed(row: OutboundMessage, code: str, message: str) -> None:
    text = error_text(row, message)
    _finish(row, status=OutboundStatus.FAILED, error_code=code, error_message=text)


def error_text(row: OutboundMessage, message: str) -> str:
    """Twilio's error text as stored on ``row``: its number masked. Twilio echoes the "To"
    address in some (21211, 21408, 21612), and the row outlives the number (FORGET)."""
    known = [vault().decrypt(row.to_ciphertext)] if row.to_ciphertext else []
    return redact(message, known)[:500]


def mark_cancelled(
    row: OutboundMessage, reason: str, also: Callable[[], object] | None = None
) -> None:
    _finish(
        row,
        also=also,
        status=OutboundStatus.CANCELLED,
        error_code="cancelled",
        error_message=reason,
    )


def backoff_seconds(attempts: int) -> float:
    """Exponential, capped, with jitter so that a burst of failures does not retry in step."""
    config = current_app.config
    ceiling = min(
        config["SEND_BACKOFF_MAX_SECONDS"],
        config["SEND_BACKOFF_BASE_SECONDS"] * 2 ** (attempts - 1),
    )
    return float(ceiling * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not secrecy


TWILIO_STATUS = {
    "accepted": OutboundStatus.QUEUED,
    "scheduled": OutboundStatus.QUEUED,
    "queued": OutboundStatus.QUEUED,
    "sending": OutboundStatus.QUEUED,
    "sent": OutboundStatus.SENT,
    "delivered": OutboundStatus.DELIVERED,
    "undelivered": OutboundStatus.UNDELIVERED,
    "failed": OutboundStatus.FAILED,
    "read": OutboundStatus.READ,
}


def twilio_status_to_ours(twilio_status: str | None) -> str | None:
    return TWILIO_STATUS.get((twilio_status or "").lower())


def advance_status(sid: str, status: str, error_code: str | None) -> bool:
    """Move the row with ``sid`` forward to ``status``; never backward. True if it moved."""
    rank = OutboundStatus.RANK[status]
    lower = [name for name, r in OutboundStatus.RANK.items() if r < rank and r >= 2]
    # Every status a callback sets is final: the row keeps no address (see ``_finish``).
    values: dict[str, Any] = {"status": status, "to_ciphertext": None, "updated_at": clock.now()}
    if error_code:
        values["error_code"] = error_code
    moved = rowcount(
        update(OutboundMessage)
        .where(OutboundMessage.twilio_sid == sid, OutboundMessage.status.in_(lower))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(moved)


def sids_held(sids: list[str]) -> set[str]:
    """Which of these Twilio SIDs an outbox row already holds."""
    if not sids:
        return set()
    return set(
        db.session.scalars(
            select(OutboundMessage.twilio_sid).where(OutboundMessage.twilio_sid.in_(sids))
        )
    )


def due_rows(limit: int) -> list[tuple[int, int, str, datetime | None]]:
    """(id, attempts, kind, next_attempt_at) of pending rows that are due; the queue may
    have lost them."""
    now = clock.now()
    rows = db.session.execute(
        select(
            OutboundMessage.id,
            OutboundMessage.attempts,
            OutboundMessage.kind,
            OutboundMessage.next_attempt_at,
        )
        .where(
            OutboundMessage.status == OutboundStatus.PENDING,
            or_(
                OutboundMessage.next_attempt_at.is_(None),
                OutboundMessage.next_attempt_at <= now,
            ),
        )
        .order_by(OutboundMessage.id)
        .limit(limit)
    ).all()
    return [(row_id, attempts, kind, due) for row_id, attempts, kind, due in rows]


def release_stuck(older_than: timedelta, limit: int) -> list[int]:
    """Rows left in SENDING by a worker that died; back to PENDING, to be checked first.

    Only a row whose sending lock is free: a worker still holding it is alive, however
    long it has taken (``sending_locks``). The worker may have died after Twilio accepted
    the message and before we stored its SID, so ``unconfirmed_since`` makes the next
    attempt ask Twilio before sending.
    """
    cutoff = clock.now() - older_than
    stuck = db.session.execute(
        select(OutboundMessage.id, OutboundMessage.attempts, OutboundMessage.sending_started_at)
        .where(
            OutboundMessage.status == OutboundStatus.SENDING,
            OutboundMessage.sending_started_at < cutoff,
        )
        .limit(limit)
    ).all()
    released = []
    for row_id, attempts, started in stuck:
        with sending_locks.unattended(row_id) as free:
            if free and _release(row_id, attempts, started):
                released.append(row_id)
    return released


def _release(row_id: int, attempts: int, started: datetime | None) -> bool:
    """Put a stuck row back to PENDING, if it is still the attempt we saw; commits, while
    the caller still holds the row's lock."""
    changed = rowcount(
        update(OutboundMessage)
        .where(
            and_(
                OutboundMessage.id == row_id,
                OutboundMessage.status == OutboundStatus.SENDING,
                OutboundMessage.attempts == attempts,
            )
        )
        .values(
            status=OutboundStatus.PENDING,
            next_attempt_at=None,
            unconfirmed_since=func.coalesce(OutboundMessage.unconfirmed_since, started),
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(changed)
