"""The send job: one outbox row, one attempt, never twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from .. import clock
from ..extensions import db
from ..loop import after_accepted
from ..messaging import sender_for, transport
from ..messaging.pacing import quiet_until, wait_for_send_slot
from ..messaging.transport import (
    UNSUBSCRIBED,
    Envelope,
    PermanentSendError,
    TransientSendError,
)
from ..models import Contact, MessageKind
from ..outbox import (
    claim,
    defer,
    mark_accepted,
    mark_cancelled,
    mark_failed,
    mark_retry,
)
from ..privacy import vault
from ..webhooks.urls import status_callback_url
from . import enqueue_retry, enqueue_send

log = logging.getLogger(__name__)


def send_outbound(row_id: int) -> str:
    """Send outbox row ``row_id`` if it is still owed. Returns what happened, for the logs.

    Safe to run any number of times: the claim is a compare-and-set, so only one run can
    take a pending row, and a row already sent is never pending.
    """
    row = claim(row_id)
    if row is None:
        return "not due or already handled"

    contact = db.session.get(Contact, row.contact_id) if row.contact_id else None
    if (
        contact is not None
        and contact.opted_out
        and row.kind not in MessageKind.SENT_WHEN_OPTED_OUT
    ):
        mark_cancelled(row, "member opted out")
        return "cancelled: opted out"
    if row.to_ciphertext is None or row.body is None:
        mark_cancelled(row, "no address (member forgotten)")
        return "cancelled: forgotten"

    envelope = Envelope(
        to=vault().decrypt(row.to_ciphertext),
        from_=sender_for(row.channel),
        body=row.body,
        status_callback=status_callback_url(),
    )
    if row.kind in MessageKind.UNPROMPTED:
        until = quiet_until(envelope.to, clock.now())
        if until is not None:
            defer(row, until, "quiet hours")
            enqueue_retry(row.id, row.attempts - 1, until - clock.now(), row.kind)
            return "waiting for quiet hours to end"
    if not wait_for_send_slot():
        retry_at = clock.now() + timedelta(seconds=1)
        defer(row, retry_at, "send rate")
        enqueue_retry(row.id, row.attempts - 1, timedelta(seconds=1), row.kind)
        return "waiting for the send rate"
    try:
        if row.unconfirmed_since is not None:
            # An earlier attempt may have reached Twilio without our hearing back.
            earlier = transport().find_sent(envelope, row.unconfirmed_since)
            if earlier is not None:
                if mark_accepted(row, earlier.sid, earlier.status):
                    enqueue_send(after_accepted(row), bulk=True)
                log.info("outbound %s had already reached Twilio as %s", row.id, earlier.sid)
                return "already sent"
        accepted = transport().send(envelope)
    except TransientSendError as exc:
        uncertain = exc.code in {"network", "twilio"}
        when = mark_retry(row, exc.code, exc.message, uncertain=uncertain)
        if when is None:
            log.error(
                "outbound %s failed for good after %s attempts: %s", row.id, row.attempts, exc.code
            )
            return f"failed: {exc.code}"
        enqueue_retry(row.id, row.attempts, when - clock.now(), row.kind)
        log.info("outbound %s attempt %s: %s; retrying at %s", row.id, row.attempts, exc.code, when)
        return f"retrying: {exc.code}"
    except PermanentSendError as exc:
        if exc.code == UNSUBSCRIBED and contact is not None and not contact.opted_out:
            contact.opted_out_at = clock.now()
            db.session.commit()
        mark_failed(row, exc.code, exc.message)
        log.warning("outbound %s refused by Twilio: %s", row.id, exc.code)
        return f"failed: {exc.code}"
    if mark_accepted(row, accepted.sid, accepted.status):
        enqueue_send(after_accepted(row), bulk=True)
    log.info("outbound %s accepted as %s", row.id, accepted.sid)
    return "sent"
