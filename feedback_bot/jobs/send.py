"""The send job: one outbox row, one attempt, never twice."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from .. import clock, sending_locks, twilio_erasure
from ..delivery import apply_early_events
from ..extensions import db
from ..intake import apply_opt_change
from ..loop import leads_somewhere, record_told, waits_in_silence
from ..messaging import sender_for, transport
from ..messaging.pacing import quiet_until, wait_for_send_slot
from ..messaging.transport import (
    OUTSIDE_WHATSAPP_WINDOW,
    UNSUBSCRIBED,
    Accepted,
    Envelope,
    PermanentSendError,
    TransientSendError,
    credentials_refused_advice,
)
from ..models import Contact, MessageKind, OutboundMessage
from ..outbox import (
    claim,
    defer,
    mark_accepted,
    mark_cancelled,
    mark_failed,
    mark_retry,
    sids_held,
)
from ..privacy import vault
from ..sending_locks import LockLost, SendingLock
from ..webhooks.urls import status_callback_url
from ..whatsapp.window import (
    retries_outside_window,
    route_outside_window,
    template_variables,
    window_open,
)
from . import enqueue_retry, enqueue_send

log = logging.getLogger(__name__)

RATE_RETRY = timedelta(seconds=1)


def send_outbound(row_id: int) -> str:
    """Send outbox row ``row_id`` if it is still owed. Returns what happened, for the logs.

    Safe to run any number of times: the claim is a compare-and-set, so only one run can
    take a pending row, and a row already sent is never pending. The row's sending lock,
    taken first and held until the attempt ends, tells the sweeper this worker is alive
    however long the attempt takes (``sending_locks``).
    """
    with sending_locks.sending(row_id) as lock:
        if lock is None:
            return "another worker is sending it"
        return _send_claimed(row_id, lock)


def _send_claimed(row_id: int, lock: SendingLock) -> str:
    row = claim(row_id)
    if row is None:
        return "not due or already handled"

    # Read after the claim committed: a FORGET committed before it is seen.
    contact = (
        db.session.get(Contact, row.contact_id, populate_existing=True) if row.contact_id else None
    )
    if contact is not None and contact.forgotten and row.kind != MessageKind.FORGET:
        return forgotten(row)
    if row.kind == MessageKind.INTERIM and not still_waiting(row):
        # Owed while the member waited, held since (quiet hours, a template): the item has
        # its decision on the way now, or was told or closed, and "still working on it"
        # would be wrong.
        mark_cancelled(row, "the item is no longer waiting for a decision")
        return "cancelled: no longer waiting"
    opted_out = contact is not None and contact.opted_out
    if opted_out and row.kind not in MessageKind.SENT_WHEN_OPTED_OUT:
        mark_cancelled(row, "member opted out")
        return "cancelled: opted out"
    if row.to_ciphertext is None or row.body is None:
        mark_cancelled(row, "no address (member forgotten)")
        return "cancelled: forgotten"
    if row.channel == "whatsapp" and not row.content_sid:
        if retries_outside_window(row):
            why = "63016: refused as outside the 24-hour window"
        elif not window_open(contact, clock.now()):
            why = "outside the 24-hour window"
        else:
            why = ""
        if why and route_outside_window(row, contact, why) == "waiting":
            return "waiting for a WhatsApp template"

    try:
        return attempt(row, contact, lock)
    except LockLost as exc:
        # Nothing was sent: the row goes back as it was, unless the sweeper gave it away.
        log.warning("outbound %s: not sent, %s", row_id, exc)
        put_back(row, clock.now(), "its sending lock was lost")
        return "not sent: its sending lock was lost"
    except TransientSendError as exc:
        return retry_later(row, exc)
    except PermanentSendError as exc:
        return refused(row, contact, exc)
    except Exception as exc:
        # A fault of ours (a bug, Redis or the database failing mid-send). Count it as a
        # failed attempt, so that the row backs off and, if it keeps failing, ends
        # "failed" where staff can see it, instead of going round the sweeper for ever.
        # Twilio may have the message already: the next attempt asks before sending.
        db.session.rollback()
        log.exception("outbound %s: attempt %s failed", row_id, row.attempts)
        error = TransientSendError("internal", type(exc).__name__, uncertain=True)
        return retry_later(row, error)


def forgotten(row: OutboundMessage) -> str:
    """Cancel a row whose member asked to be forgotten: nothing goes after "we have erased
    your phone number", and cancelling drops the number the row still holds.

    FORGET cancels what it finds owed, but a row can be owed after it (a fan-out, an
    interim update or a fallback that read the contact before the FORGET committed), and
    it leaves alone a row whose earlier attempt may have reached Twilio unheard of: that
    one is looked up first, and a copy found there is deleted like the member's others.
    Until Twilio answers, the row keeps the number and retries, as a send would.
    """
    found: str | None = None
    if row.unconfirmed_since is not None and row.to_ciphertext is not None:
        try:
            earlier = already_at_twilio(envelope_for(row), row.unconfirmed_since)
        except TransientSendError as exc:
            return retry_later(row, exc)
        except PermanentSendError as exc:  # the lookup refused (credentials, say): ask again
            return retry_later(row, TransientSendError(exc.code, exc.message, uncertain=True))
        found = earlier.sid if earlier is not None else None
    if found is None:
        mark_cancelled(row, "member asked to be forgotten")
        return "cancelled: forgotten"
    sid = found
    mark_cancelled(
        row,
        "member asked to be forgotten; an earlier attempt had reached Twilio, deleted there",
        also=lambda: twilio_erasure.owe([sid]),
    )
    return "cancelled: forgotten, its copy at Twilio to be deleted"


def still_waiting(row: OutboundMessage) -> bool:
    return row.item_id is not None and waits_in_silence(row.item_id)


def attempt(row: OutboundMessage, contact: Contact | None, lock: SendingLock) -> str:
    """One attempt at a claimed row: wait for its turn, then send it (or find that an
    earlier attempt did). Raises ``SendError`` for Twilio's refusals and failures, and
    ``LockLost`` if the row may have been handed to another worker meanwhile."""
    envelope = envelope_for(row)
    held = hold_for_pacing(row, envelope)
    if held:
        return held
    if row.unconfirmed_since is not None:
        # An earlier attempt may have reached Twilio without our hearing back.
        earlier = already_at_twilio(envelope, row.unconfirmed_since)
        if earlier is not None:
            accept(row, earlier)
            log.info("outbound %s had already reached Twilio as %s", row.id, earlier.sid)
            return "already sent"
    lock.confirm()
    accepted = transport().send(envelope)
    accept(row, accepted)
    log.info("outbound %s accepted as %s", row.id, accepted.sid)
    return "sent"


def already_at_twilio(envelope: Envelope, since: datetime) -> Accepted | None:
    """The message an earlier attempt sent, if Twilio has it: the newest that matches and
    that no other row holds (a member can be sent the same text twice, e.g. HELP)."""
    found = transport().find_sent(envelope, since)
    held = sids_held([accepted.sid for accepted in found])
    return next((accepted for accepted in found if accepted.sid not in held), None)


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
            put_back(row, until, "quiet hours")
            return "waiting for quiet hours to end"
    if not wait_for_send_slot():
        put_back(row, clock.now() + RATE_RETRY, "send rate")
        return "waiting for the send rate"
    return None


def put_back(row: OutboundMessage, until: datetime, reason: str) -> None:
    """Defer a claimed row without spending an attempt, and enqueue the job that will take
    it up again: its id names the attempt count the row has once deferred."""
    row_id, attempts, kind = row.id, row.attempts - 1, row.kind
    if defer(row, until, reason):
        enqueue_retry(row_id, attempts, until, kind)


def accept(row: OutboundMessage, accepted: Accepted) -> None:
    """Record that Twilio has the message, with what follows from it in the same commit: a
    worker killed in between must not leave one without the other. Status callbacks that
    came first are applied (a failure owes the SMS fallback), "what happened next" marks
    its item told and owes the rating question, and FORGET's confirmation owes its own
    deletion at Twilio."""
    fallbacks: list[int] = []
    questions: list[int] = []

    def follow_up() -> None:
        fallbacks.extend(apply_early_events(accepted.sid))
        if leads_somewhere(row.kind):
            questions.extend(record_told(row))
        if row.kind == MessageKind.FORGET or _forgotten_since(row):
            # "We have erased your number" holds the number at Twilio: it goes too. So does
            # a message that was on its way as the member's FORGET committed.
            twilio_erasure.owe([accepted.sid])

    if mark_accepted(row, accepted.sid, accepted.status, also=follow_up):
        enqueue_send(fallbacks)
        enqueue_send(questions, bulk=True)


def _forgotten_since(row: OutboundMessage) -> bool:
    """Whether the row's member is forgotten now: read afresh, after the UPDATE that
    records the SID, which waits for a FORGET holding the row (``members.forget``)."""
    if row.contact_id is None:
        return False
    forgot_at = db.session.scalar(select(Contact.forgotten_at).where(Contact.id == row.contact_id))
    return forgot_at is not None


def retry_later(row: OutboundMessage, exc: TransientSendError) -> str:
    when = mark_retry(row, exc.code, exc.message, uncertain=exc.uncertain)
    if when is None:
        log.error("outbound %s failed after %s attempts: %s", row.id, row.attempts, exc.code)
        return f"failed: {exc.code}"
    enqueue_retry(row.id, row.attempts, when, row.kind)
    # Time of day only: a full date and time reads as a phone number to the log redaction.
    at = when.strftime("%H:%M:%S")
    if exc.credentials_refused:
        # Every message waits on this, for as long as SEND_MAX_ATTEMPTS lasts (14 to 28
        # hours): an error, each time, naming what to fix, not a line among the routine ones.
        log.error(
            "outbound %s attempt %s: %s. Retrying at %s UTC",
            row.id,
            row.attempts,
            credentials_refused_advice(exc.code),
            at,
        )
    else:
        log.info(
            "outbound %s attempt %s: %s; retrying at %s UTC", row.id, row.attempts, exc.code, at
        )
    return f"retrying: {exc.code}"


def refused(row: OutboundMessage, contact: Contact | None, exc: PermanentSendError) -> str:
    if exc.code == OUTSIDE_WHATSAPP_WINDOW and row.channel == "whatsapp" and not row.content_sid:
        # Our clock said the window was open; WhatsApp's did not. Take the template path.
        route = route_outside_window(row, contact, "63016: outside the 24-hour window")
        if route == "waiting":
            return "waiting for a WhatsApp template"
        put_back(row, clock.now(), f"63016: re-routed as {route}")
        return f"re-routed: {route}"
    if exc.code == UNSUBSCRIBED and contact is not None and not contact.opted_out:
        # Twilio holds a STOP we never processed (sent to it directly, or its job not yet
        # run): as of now the member has opted out, here and in the outage path's set.
        apply_opt_change(contact, True, clock.now())
        db.session.commit()
    mark_failed(row, exc.code, exc.message)
    log.warning("outbound %s refused by Twilio: %s", row.id, exc.code)
    return f"failed: {exc.code}"
