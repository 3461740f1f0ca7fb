"""The send job: one outbox row, one attempt, never twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from .. import clock
from ..extensions import db
from ..loop import leads_somewhere, record_told
from ..messaging import sender_for, transport
from ..messaging.pacing import quiet_until, wait_for_send_slot
from ..messaging.transport import (
    OUTSIDE_WHATSAPP_WINDOW,
    UNSUBSCRIBED,
    Accepted,
    Envelope,
    PermanentSendError,
    TransientSendError,
)
from ..models import Contact, MessageKind, OutboundMessage
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
from ..whatsapp.window import route_outside_window, template_variables, window_open
from . import enqueue_retry, enqueue_send

log = logging.getLogger(__name__)

RATE_RETRY = timedelta(seconds=1)


def send_outbound(row_id: int) -> str:
    """Send outbox row ``row_id`` if it is still owed. Returns what happened, for the logs.

    Safe to run any number of times: the claim is a compare-and-set, so only one run can
    take a pending row, and a row already sent is never pending.
    """
    row = claim(row_id)
    if row is None:
        return "not due or already handled"

    contact = db.session.get(Contact, row.contact_id) if row.contact_id else None
    opted_out = contact is not None and contact.opted_out
    if opted_out and row.kind not in MessageKind.SENT_WHEN_OPTED_OUT:
        mark_cancelled(row, "member opted out")
        return "cancelled: opted out"
    if row.to_ciphertext is None or row.body is None:
        mark_cancelled(row, "no address (member forgotten)")
        return "cancelled: forgotten"
    if row.channel == "whatsapp" and not row.content_sid and not window_open(contact, clock.now()):
        if route_outside_window(row, contact, "outside the 24-hour window") == "waiting":
            return "waiting for a WhatsApp template"

    envelope = envelope_for(row)
    held = hold_for_pacing(row, envelope)
    if held:
        return held
    try:
        if row.unconfirmed_since is not None:
            # An earlier attempt may have reached Twilio without our hearing back.
            earlier = transport().find_sent(envelope, row.unconfirmed_since)
            if earlier is not None:
                accept(row, earlier)
                log.info("outbound %s had already reached Twilio as %s", row_id, earlier.sid)
                return "already sent"
        accepted = transport().send(envelope)
    except TransientSendError as exc:
        return retry_later(row, exc)
    except PermanentSendError as exc:
        return refused(row, contact, exc)
    accept(row, accepted)
    log.info("outbound %s accepted as %s", row_id, accepted.sid)
    return "sent"


def envelope_for(row: OutboundMessage) -> Envelope:
    assert row.to_ciphertext is not None and row.body is not None
    return Envelope(
        to=vault().decrypt(row.to_ciphertext),
        from_=sender_for(row.channel),
        body=row.body,
        status_callback=status_callback_url(),
        content_sid=row.content_sid,
        content_variables=template_variables(row.kind, row.variables) if row.content_sid else None,
    )


def hold_for_pacing(row: OutboundMessage, envelope: Envelope) -> str | None:
    """Put the row back if it must wait for quiet hours or the send rate; say why."""
    if row.kind in MessageKind.UNPROMPTED:
        until = quiet_until(envelope.to, clock.now())
        if until is not None:
            defer(row, until, "quiet hours")
            enqueue_retry(row.id, row.attempts - 1, until - clock.now(), row.kind)
            return "waiting for quiet hours to end"
    if not wait_for_send_slot():
        defer(row, clock.now() + RATE_RETRY, "send rate")
        enqueue_retry(row.id, row.attempts - 1, RATE_RETRY, row.kind)
        return "waiting for the send rate"
    return None


def accept(row: OutboundMessage, accepted: Accepted) -> None:
    if not leads_somewhere(row.kind):
        mark_accepted(row, accepted.sid, accepted.status)
        return
    # "What happened next" marks its item told and owes the rating question in the same
    # commit as the row's "accepted": a worker killed in between would leave the item
    # "linked" for good and the question never asked.
    owed: list[int] = []

    def told() -> None:
        owed.extend(record_told(row))

    if mark_accepted(row, accepted.sid, accepted.status, also=told):
        enqueue_send(owed, bulk=True)


def retry_later(row: OutboundMessage, exc: TransientSendError) -> str:
    # A timeout or dropped connection leaves us not knowing whether Twilio has it.
    uncertain = exc.code in {"network", "twilio"}
    when = mark_retry(row, exc.code, exc.message, uncertain=uncertain)
    if when is None:
        log.error("outbound %s failed after %s attempts: %s", row.id, row.attempts, exc.code)
        return f"failed: {exc.code}"
    enqueue_retry(row.id, row.attempts, when - clock.now(), row.kind)
    # Time of day only: a full date and time reads as a phone number to the log redaction.
    at = when.strftime("%H:%M:%S")
    log.info("outbound %s attempt %s: %s; retrying at %s UTC", row.id, row.attempts, exc.code, at)
    return f"retrying: {exc.code}"


def refused(row: OutboundMessage, contact: Contact | None, exc: PermanentSendError) -> str:
    if exc.code == OUTSIDE_WHATSAPP_WINDOW and row.channel == "whatsapp" and not row.content_sid:
        # Our clock said the window was open; WhatsApp's did not. Take the template path.
        route = route_outside_window(row, contact, "63016: outside the 24-hour window")
        if route == "waiting":
            return "waiting for a WhatsApp template"
        defer(row, clock.now(), f"63016: re-routed as {route}")
        enqueue_retry(row.id, row.attempts - 1, timedelta(0), row.kind)
        return f"re-routed: {route}"
    if exc.code == UNSUBSCRIBED and contact is not None and not contact.opted_out:
        contact.opted_out_at = clock.now()
        db.session.commit()
    mark_failed(row, exc.code, exc.message)
    log.warning("outbound %s refused by Twilio: %s", row.id, exc.code)
    return f"failed: {exc.code}"
