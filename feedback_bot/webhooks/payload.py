"""Twilio's inbound message parameters, checked and typed."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import phonenumbers
from werkzeug.datastructures import MultiDict

from ..models import Channel

MESSAGE_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
WHATSAPP_PREFIX = "whatsapp:"


class PayloadError(ValueError):
    """The request is not a message we can accept; says which field and why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MediaRef:
    url: str
    content_type: str


@dataclass(frozen=True)
class InboundPayload:
    message_sid: str
    channel: str
    sender: str  # E.164 when valid, else what Twilio sent
    sender_valid: bool
    to: str  # the full address of ours it was sent to, "whatsapp:" prefix included
    body: str
    media: tuple[MediaRef, ...] = field(default_factory=tuple)
    # Set by Twilio when its Advanced Opt-Out already handled (and answered) a keyword.
    opt_out_type: str | None = None

    @property
    def reply_address(self) -> str:
        return WHATSAPP_PREFIX + self.sender if self.channel == Channel.WHATSAPP else self.sender

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["media"] = [asdict(m) for m in self.media]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundPayload:
        media = tuple(MediaRef(**m) for m in data.get("media", []))
        return cls(**{**data, "media": media})


def parse(form: MultiDict[str, str], max_body_chars: int, max_media: int) -> InboundPayload:
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    if not MESSAGE_SID.match(sid):
        raise PayloadError("MessageSid is missing or malformed")
    raw_from = (form.get("From") or "").strip()
    raw_to = (form.get("To") or "").strip()
    if not raw_from:
        raise PayloadError("From is missing")
    if not raw_to:
        raise PayloadError("To is missing")
    if len(raw_from) > 64 or len(raw_to) > 64:
        raise PayloadError("From or To is too long")
    if "\x00" in raw_from or "\x00" in raw_to:
        # No address holds one, and PostgreSQL cannot store one (a 500, not a 400).
        raise PayloadError("From or To contains a NUL character")

    channel = Channel.WHATSAPP if raw_from.lower().startswith(WHATSAPP_PREFIX) else Channel.SMS
    number = raw_from[len(WHATSAPP_PREFIX) :] if channel == Channel.WHATSAPP else raw_from
    sender, valid = normalise_number(number)

    body = form.get("Body") or ""
    if len(body) > max_body_chars:
        raise PayloadError(f"Body is longer than {max_body_chars} characters", status=413)
    body = body.replace("\x00", "")

    media = parse_media(form, max_media)
    opt_out_type = (form.get("OptOutType") or "").strip().upper() or None
    return InboundPayload(
        message_sid=sid,
        channel=channel,
        sender=sender,
        sender_valid=valid,
        to=raw_to,
        body=body,
        media=media,
        opt_out_type=opt_out_type if opt_out_type in {"STOP", "START", "HELP"} else None,
    )


def normalise_number(raw: str) -> tuple[str, bool]:
    """E.164 and True for a real phone number; the input and False otherwise."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return raw, False
    if not phonenumbers.is_valid_number(parsed):
        return raw, False
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), True


def parse_media(form: MultiDict[str, str], max_media: int) -> tuple[MediaRef, ...]:
    raw_count = (form.get("NumMedia") or "0").strip()
    if not raw_count.isascii() or not raw_count.isdigit():
        raise PayloadError("NumMedia must be a whole number")
    # int() refuses more than 4,300 digits (a 500); a count that long is too many anyway.
    digits = raw_count.lstrip("0") or "0"
    if len(digits) > len(str(max_media)):
        raise PayloadError(f"NumMedia is more than {max_media}")
    count = int(digits)
    if count > max_media:
        raise PayloadError(f"NumMedia is more than {max_media}")
    media = []
    for index in range(count):
        url = (form.get(f"MediaUrl{index}") or "").strip()
        content_type = (form.get(f"MediaContentType{index}") or "").strip().lower()
        if not url.startswith(("https://", "http://")) or len(url) > 2048 or "\x00" in url:
            raise PayloadError(f"MediaUrl{index} is missing or not a URL")
        # 128: the column's size; a longer type failed the INSERT (a 500 on PostgreSQL).
        if len(content_type) > 128 or not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", content_type):
            raise PayloadError(f"MediaContentType{index} is missing or malformed")
        media.append(MediaRef(url=url, content_type=content_type))
    return tuple(media)
