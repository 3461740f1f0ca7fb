"""The phone simulator's pages: be a member, send a message, watch the replies arrive.

Development only: the blueprint is registered when ``SIMULATOR_ENABLED`` (never in
production). A message sent here takes exactly the path of a real one after the webhook's
signature check: the form Twilio would post is parsed by the webhook's own parser, then
``intake.accept`` stores it and owes its replies, and ``jobs.after_intake`` wakes the
worker. The replies shown are the outbox rows as the real worker left them.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import InternalServerError, NotFound, RequestEntityTooLarge

from .. import clock
from ..extensions import db
from ..intake import accept
from ..jobs import after_intake
from ..messaging import sender_for, transport
from ..models import Channel, Contact, InboundMessage, OutboundMessage, OutboundStatus
from ..privacy import vault
from ..refs import encode_ref
from ..webhooks.payload import WHATSAPP_PREFIX, PayloadError, normalise_number, parse
from . import bp

DEFAULT_NUMBER = "+447911123456"
UPLOAD_LIMIT_BYTES = 5 * 1024 * 1024
# The whole request: the file, plus the other fields and the multipart framing.
REQUEST_LIMIT_BYTES = UPLOAD_LIMIT_BYTES + 256 * 1024

# What a member can attach: photos and voice notes, in the formats phones send. The
# extension names the stored file, and serving it gives back the same content type.
MEDIA_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "audio/wav": ".wav",
    "audio/webm": ".weba",
}
MEDIA_TYPES = {extension: content_type for content_type, extension in MEDIA_EXTENSIONS.items()}
# What browsers and operating systems call some of those.
CONTENT_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/opus": "audio/ogg",
    "audio/x-aac": "audio/aac",
}
STORED_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{2,5}$")
JSON_ENDPOINTS = {"simulator.send", "simulator.conversation"}
# The members this browser has been, by number (``remember_member``): a phone keeps the
# conversation after FORGET, though nothing on our side links the number to it any more.
MEMBERS_SEEN = "simulator_members"
NUMBERS_REMEMBERED = 20
MEMBERS_PER_NUMBER = 5


class SimulatorError(Exception):
    """Input the page must correct; answered as JSON ``{"error": ..., "field": ...}``."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def json_error(message: str, field: str | None = None, status: int = 400) -> ResponseReturnValue:
    return jsonify(error=message, field=field), status


@bp.errorhandler(SimulatorError)
def simulator_error(exc: SimulatorError) -> ResponseReturnValue:
    return json_error(exc.message, exc.field, exc.status)


@bp.errorhandler(CSRFError)
def csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return json_error(f"{exc.description} Reload the page and try again.", status=400)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    return json_error(upload_too_large_message(), "media")


@bp.errorhandler(InternalServerError)
def server_error(exc: InternalServerError) -> ResponseReturnValue:
    if request.endpoint not in JSON_ENDPOINTS:
        return exc
    original = exc.original_exception
    what = type(original).__name__ if original is not None else "an error"
    return json_error(
        f"The server failed ({what}); the terminal running the app shows the traceback.",
        status=500,
    )


@bp.url_value_preprocessor
def allow_uploads(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # The app-wide limit (MAX_CONTENT_LENGTH) is smaller than a photo may be. This runs
    # before every before_request hook, and must: the CSRF check is an app-level hook that
    # reads the form, so a blueprint before_request would raise the limit too late.
    request.max_content_length = REQUEST_LIMIT_BYTES


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template(
        "simulator/index.html",
        transport=transport().name,
        default_number=DEFAULT_NUMBER,
        addresses={channel: our_address(channel) for channel in Channel.ALL},
        org_name=current_app.config["ORG_NAME"],
        upload_limit=UPLOAD_LIMIT_BYTES,
        accept=",".join(MEDIA_EXTENSIONS) + "," + ",".join(MEDIA_EXTENSIONS.values()),
    )


@bp.post("/send")
def send() -> ResponseReturnValue:
    """Be the member: what Twilio would post to the webhook, without the signature."""
    config = current_app.config
    channel = read_channel(request.form)
    number = read_number(request.form)
    body = request.form.get("body") or ""
    upload = request.files.get("media")
    if upload is not None and not upload.filename:
        upload = None  # an empty file input still sends a part
    if not body.strip() and upload is None:
        raise SimulatorError("Type a message or attach a photo or voice note.", "body")
    if len(body) > config["MAX_INBOUND_BODY_CHARS"]:
        raise SimulatorError(
            f"Messages are at most {config['MAX_INBOUND_BODY_CHARS']} characters.", "body"
        )
    to = our_address(channel)
    if to is None:
        raise SimulatorError(
            "No number of ours to text on this channel: set "
            + ("TWILIO_WHATSAPP_FROM" if channel == Channel.WHATSAPP else "TWILIO_SMS_FROM")
            + ".",
            "channel",
        )

    form = MultiDict(
        {
            "MessageSid": "SM" + secrets.token_hex(16),
            "From": WHATSAPP_PREFIX + number if channel == Channel.WHATSAPP else number,
            "To": to,
            "Body": body,
            "NumMedia": "0",
        }
    )
    if upload is not None:
        content_type, data = read_upload(upload)
        form["NumMedia"] = "1"
        form["MediaUrl0"] = store_upload(data, content_type)
        form["MediaContentType0"] = content_type
    try:
        payload = parse(form, config["MAX_INBOUND_BODY_CHARS"], config["MAX_NUM_MEDIA"])
    except PayloadError as exc:
        raise SimulatorError(str(exc)) from exc

    # What the webhook does once the signature is checked.
    result = accept(payload)
    after_intake(result)
    # Before the next poll can: a FORGET leaves nothing that leads from the number to them.
    sender = db.session.scalar(
        select(InboundMessage.contact_id).where(InboundMessage.message_sid == payload.message_sid)
    )
    if sender is not None:
        remember_member(number, sender)

    return jsonify(
        ok=True,
        message_sid=payload.message_sid,
        number=number,
        channel=channel,
        disposition=result.disposition,
        ref=encode_ref(result.item_id) if result.item_id else None,
        owed=len(result.owed),
    )


@bp.get("/conversation")
def conversation() -> ResponseReturnValue:
    """The member's messages on one channel, and the replies the worker has sent."""
    channel = read_channel(request.args)
    number = read_number(request.args)
    reply: dict[str, Any] = {
        "number": number,
        "channel": channel,
        "transport": transport().name,
        "contact": None,
        "forgotten": False,
        "messages": [],
        "pending": 0,
        "scheduled": [],
    }
    contact = db.session.scalars(
        select(Contact).where(Contact.phone_hash == vault().lookup_hash(number))
    ).one_or_none()
    forgotten = forgotten_members(number)
    if contact is None and not forgotten:
        return jsonify(reply)

    members = list(forgotten)
    if contact is not None:
        remember_member(number, contact.id)
        members.append(contact.id)
        reply["contact"] = {
            "label": contact.label,
            "locale": contact.locale,
            "opted_out": contact.opted_out,
        }
    reply["forgotten"] = bool(forgotten)
    inbound = db.session.scalars(
        select(InboundMessage)
        .where(InboundMessage.contact_id.in_(members), InboundMessage.channel == channel)
        .options(selectinload(InboundMessage.media))
        .order_by(InboundMessage.id)
    ).all()
    outbound = db.session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.contact_id.in_(members),
            OutboundMessage.channel == channel,
            OutboundMessage.status.not_in(OutboundStatus.OPEN),
        )
        .order_by(OutboundMessage.id)
    ).all()
    still_open = db.session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.contact_id.in_(members),
            OutboundMessage.channel == channel,
            OutboundMessage.status.in_(OutboundStatus.OPEN),
        )
    ).all()
    reply["pending"] = len(still_open)
    # Rows put back until later (quiet hours where the member lives, the send rate, a
    # retry's backoff): the worker is running, and the page says when instead of asking.
    now = clock.now()
    reply["scheduled"] = [
        {"kind": row.kind, "at": row.next_attempt_at.isoformat(), "reason": row.error_message}
        for row in sorted(still_open, key=lambda row: (row.next_attempt_at or now, row.id))
        if row.status == OutboundStatus.PENDING
        and row.next_attempt_at is not None
        and row.next_attempt_at > now
    ]

    entries: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for message in inbound:
        entries.append((message.received_at, 0, message.id, inbound_entry(message)))
    for row in outbound:
        # A reply sits where it was sent, not where it was owed.
        when = row.accepted_at or row.updated_at
        entries.append((when, 1, row.id, outbound_entry(row, when)))
    entries.sort(key=lambda entry: entry[:3])
    reply["messages"] = [entry for *_, entry in entries]
    return jsonify(reply)


@bp.get("/media/<name>")
def media(name: str) -> ResponseReturnValue:
    """A file attached in the simulator, as Twilio would serve it at MediaUrl0."""
    extension = Path(name).suffix
    if not STORED_NAME.match(name) or extension not in MEDIA_TYPES:
        raise NotFound()
    response = send_from_directory(media_dir(), name, mimetype=MEDIA_TYPES[extension])
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def remember_member(number: str, contact_id: int) -> None:
    """Note in this browser's session that ``number`` was member ``contact_id``."""
    seen: dict[str, list[int]] = dict(session.get(MEMBERS_SEEN) or {})
    ids = seen.pop(number, None) or []
    if contact_id in ids:
        return  # known: the cookie stays as it is
    # Bounded, not ordered (the session is stored with its keys sorted): more numbers
    # than a developer tries at once.
    others = list(seen.items())[: NUMBERS_REMEMBERED - 1]
    session[MEMBERS_SEEN] = {**dict(others), number: [*ids, contact_id][-MEMBERS_PER_NUMBER:]}


def forgotten_members(number: str) -> list[int]:
    """The members this browser has seen ``number`` be who have since been forgotten
    (FORGET, or staff erasing them): their messages stay on the phone, their own erased."""
    ids = (session.get(MEMBERS_SEEN) or {}).get(number) or []
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(Contact.id).where(Contact.id.in_(ids), Contact.forgotten_at.is_not(None))
        )
    )


def inbound_entry(message: InboundMessage) -> dict[str, Any]:
    return {
        "direction": "in",
        "id": message.id,
        "body": message.body,
        "erased": message.erased_at is not None,
        "time": message.received_at.isoformat(),
        "disposition": message.disposition,
        "ref": encode_ref(message.item_id) if message.item_id else None,
        "media": [
            {"url": item.source_url, "content_type": item.content_type} for item in message.media
        ],
    }


def outbound_entry(row: OutboundMessage, when: datetime) -> dict[str, Any]:
    return {
        "direction": "out",
        "id": row.id,
        "body": row.body,
        "kind": row.kind,
        "status": row.status,
        "error": row.error_message,
        "time": when.isoformat(),
        "ref": encode_ref(row.item_id) if row.item_id else None,
    }


def read_channel(values: Mapping[str, str]) -> str:
    channel = (values.get("channel") or Channel.SMS).strip().lower()
    if channel not in Channel.ALL:
        raise SimulatorError("Choose SMS or WhatsApp.", "channel")
    return channel


def read_number(values: Mapping[str, str]) -> str:
    """The member's number in E.164, or a SimulatorError saying how to write it."""
    raw = (values.get("number") or "").strip()
    if raw.lower().startswith(WHATSAPP_PREFIX):
        raw = raw[len(WHATSAPP_PREFIX) :]
    if not raw:
        raise SimulatorError("Enter your phone number, for example +447911123456.", "number")
    if not raw.startswith("+"):
        raise SimulatorError(
            "Write the number in international format, starting with + and the country "
            "code, for example +447911123456.",
            "number",
        )
    number, valid = normalise_number(raw)
    if not valid:
        raise SimulatorError(
            f"{raw} is not a valid phone number. Try a mobile number like +447911123456.",
            "number",
        )
    return number


def our_address(channel: str) -> str | None:
    """The address of ours a member texts on ``channel``, as Twilio would put it in To."""
    configured = sender_for(channel)
    if configured:
        return configured
    # A messaging service sends for us; members still text one of our inbound numbers.
    for address in current_app.config.get("TWILIO_INBOUND_NUMBERS") or []:
        if address.startswith(WHATSAPP_PREFIX) == (channel == Channel.WHATSAPP):
            return str(address)
    return None


def upload_too_large_message() -> str:
    return f"The file is larger than {UPLOAD_LIMIT_BYTES // (1024 * 1024)} MB."


def read_upload(upload: FileStorage) -> tuple[str, bytes]:
    """The upload's content type and bytes, if it is a photo or voice note small enough."""
    content_type = (upload.mimetype or "").lower()
    if not content_type or content_type == "application/octet-stream":
        content_type = (mimetypes.guess_type(upload.filename or "")[0] or "").lower()
    content_type = CONTENT_TYPE_ALIASES.get(content_type, content_type)
    if content_type not in MEDIA_EXTENSIONS:
        raise SimulatorError(
            "Attach a photo (JPEG, PNG, GIF, WebP) or a voice note "
            "(OGG, MP3, M4A, AAC, AMR, WAV, WebM).",
            "media",
        )
    data = upload.stream.read(UPLOAD_LIMIT_BYTES + 1)
    if len(data) > UPLOAD_LIMIT_BYTES:
        raise SimulatorError(upload_too_large_message(), "media")
    if not data:
        raise SimulatorError("The file is empty.", "media")
    return content_type, data


def media_dir() -> Path:
    configured = current_app.config.get("SIMULATOR_MEDIA_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "simulator-media"


def store_upload(data: bytes, content_type: str) -> str:
    """Keep the file where the media route serves it; returns its absolute URL."""
    folder = media_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16) + MEDIA_EXTENSIONS[content_type]
    (folder / name).write_bytes(data)
    return url_for("simulator.media", name=name, _external=True)
