"""POST /webhooks/twilio/messages and /webhooks/twilio/status."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from flask import Response, abort, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import HTTPException

from .. import clock, intake, opt_outs, spool
from ..dberrors import database_unusable
from ..dbutil import note_database_unavailable
from ..delivery import record_status
from ..extensions import db
from ..jobs import enqueue_intake
from ..loop import rating_of
from ..messaging import keywords
from ..messaging.language import detect
from ..messaging.templates import render
from ..outbox import twilio_status_to_ours
from . import bp
from .payload import InboundPayload, PayloadError, parse
from .signature import require_twilio_signature

log = logging.getLogger(__name__)


def twiml(response: MessagingResponse | None = None) -> Response:
    return Response(str(response or MessagingResponse()), mimetype="text/xml")


@bp.before_request
def limit_body_size() -> None:
    request.max_content_length = current_app.config["WEBHOOK_MAX_CONTENT_LENGTH"]


@bp.errorhandler(HTTPException)
def plain_error(exc: HTTPException) -> tuple[str, int]:
    # Twilio's debugger shows the body; keep it short and say what was wrong.
    return f"{exc.code} {exc.name}: {exc.description}\n", exc.code or 500


@bp.post("/messages")
@require_twilio_signature
def inbound_message() -> Response:
    config = current_app.config
    try:
        payload = parse(request.form, config["MAX_INBOUND_BODY_CHARS"], config["MAX_NUM_MEDIA"])
    except PayloadError as exc:
        log.warning("inbound webhook refused: %s", exc)
        abort(exc.status, str(exc))

    # When the member wrote, as near as we can tell: what a message changes goes by this
    # (see ``intake``), so it is taken before the database is tried, which can take up to
    # DATABASE_CONNECT_TIMEOUT_SECONDS to fail.
    received_at = clock.now()
    # Store and answer; a job does the rest (see ``intake``). Twilio waits for this answer,
    # and retries a webhook it thinks failed, so the request does as little as it can.
    try:
        inbound_id = intake.store(payload, received_at)
    except SQLAlchemyError as exc:
        # Twilio does not deliver a message again after a 500: whatever keeps the
        # database from storing it (down, busy, not migrated yet, a missing grant), the
        # spool keeps it. Only the database refusing this message's own values is the
        # request's fault, loud, and never spooled (see ``dberrors``).
        if not database_unusable(exc):
            raise
        db.session.rollback()
        return accept_without_database(payload, received_at)

    if inbound_id is None:
        log.info("inbound %s delivered again; already stored", payload.message_sid)
    else:
        enqueue_intake(inbound_id, also=partial(spool.note_stored, payload.message_sid))
    return twiml()


def accept_without_database(payload: InboundPayload, received_at: datetime) -> Response:
    """The database is down: keep the message elsewhere and answer the member right now."""
    note_database_unavailable()  # rendering the reply must not wait for it again
    stored = spool.known_stored(payload.message_sid)
    if stored:
        # Twilio delivered it again, but it was stored before the outage and its reply is
        # in the outbox: an inline acknowledgement now would be the member's second.
        log.warning("database unavailable: inbound %s was already stored", payload.message_sid)
        return twiml()
    # None: Redis is down too, and is not asked again (each try can take its connect
    # timeout, and Twilio gives up on us after 15 seconds).
    answered = acknowledged_inline(payload, redis_up=stored is not None)
    # The spool says whether this answer acknowledged it, or intake would think the member
    # answered and owe nothing, or owe a second acknowledgement.
    where = spool.keep(payload, inline_ack=answered, received_at=received_at)
    log.error(
        "database unavailable: inbound %s kept in the %s spool, %s",
        payload.message_sid,
        where,
        "acknowledged inline" if answered else "not answered yet",
    )
    response = MessagingResponse()
    if answered:
        locale = detect(payload.body) or current_app.config["DEFAULT_LOCALE"]
        response.message(
            render("ack_inline", locale, days=current_app.config["INTERIM_UPDATE_DAYS"])
        )
    return twiml(response)


def acknowledged_inline(payload: InboundPayload, redis_up: bool = True) -> bool:
    """Whether the webhook's answer acknowledges ``payload``. Not a keyword: intake answers
    that once the database is back. Not a sender we never message, nor a member who opted
    out (intake stores their feedback and does not answer it)."""
    # Intake's rule: a message with media is feedback whatever its caption says ("Help" on
    # a photo), so it is acknowledged here and nowhere else.
    keyword = not payload.media and keywords.match(payload.body) is not None
    if keyword or not payload.sender_valid:
        return False
    if not payload.media and (keywords.bare_number(payload.body) or rating_of(payload.body)):
        # "3", "no" or "2 - but late" may answer "Did we listen?", "2" or "two please" the
        # language menu: only intake can tell, with the database, and it answers each
        # once. "Thank you, we got your message" would be a second, wrong reply; one that
        # was feedback is acknowledged then.
        return False
    # If Redis cannot say whether the member opted out, no answer now: an inline reply to
    # a member who sent STOP is a message they told us not to send, and one that Twilio's
    # own opt-out handling does not stop for a STOP in another language or on WhatsApp.
    # Not answering now loses nothing: the spool says the message was not acknowledged,
    # and intake owes the acknowledgement once the database is back, unless they opted out.
    return redis_up and opt_outs.opted_out(payload.sender) is False


@bp.post("/status")
@require_twilio_signature
def delivery_status() -> tuple[str, int]:
    sid = (request.form.get("MessageSid") or "").strip()
    status = twilio_status_to_ours(request.form.get("MessageStatus"))
    if not sid or len(sid) > 64 or "\x00" in sid:
        abort(400, "MessageSid is missing")
    if status is None:
        abort(400, "MessageStatus is missing or unknown")
    error_code = (request.form.get("ErrorCode") or "").replace("\x00", "").strip()[:16] or None
    try:
        record_status(sid, status, error_code, clock.now())
    except SQLAlchemyError as exc:
        if not database_unusable(exc):  # as for an inbound message (see ``dberrors``)
            raise
        db.session.rollback()
        # Twilio does not retry a status callback: keep it until the database is back
        # (a failed WhatsApp message is owed its SMS fallback), or say we could not.
        if not spool.keep_status(sid, status, error_code):
            abort(503, "the database is unavailable; the status could not be kept")
        log.error("database unavailable: status %s of %s kept in the spool", status, sid)
    return "", 204
