"""Messaging: templates, keywords, language, segments, and the transport that sends."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from .transport import ConsoleTransport, Transport, TwilioTransport
from .twilio_client import build_client

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.extensions["feedback_transport"] = make_transport(app)
    warn_if_name_costs_a_segment(app)
    if app.config.get("PRELOAD_LANGUAGE_MODELS"):
        from .language import warm_up

        warm_up(tuple(app.config["SHIPPED_LOCALES"]))


def warn_if_name_costs_a_segment(app: Flask) -> None:
    """Say so at start if ``ORG_NAME`` is long enough to make an English reply that names
    it (HELP, the STOP confirmation) take a second SMS segment: members pay per segment,
    and a shorter name keeps each reply to one."""
    from .segments import sms_cost
    from .templates import TEMPLATES

    name = str(app.config.get("ORG_NAME", ""))
    for kind in ("help", "stop"):
        english = TEMPLATES[kind].msgid % {"org": name}
        cost = sms_cost(english)
        if cost.segments > 1:
            log.warning(
                "ORG_NAME %r (%d characters) makes the English %s reply %d SMS segments "
                "(%s); a shorter name keeps it to one",
                name,
                len(name),
                kind,
                cost.segments,
                cost.encoding,
            )


def make_transport(app: Flask) -> Transport:
    sid = app.config.get("TWILIO_ACCOUNT_SID")
    token = app.config.get("TWILIO_AUTH_TOKEN")
    if not (sid and token):
        app.logger.info("No Twilio credentials: outgoing messages go to the console transport.")
        return ConsoleTransport()
    client = build_client(
        sid,
        token,
        timeout=float(app.config["TWILIO_TIMEOUT_SECONDS"]),
        base_url=app.config.get("TWILIO_API_BASE_URL"),
    )
    return TwilioTransport(client, app.config.get("TWILIO_MESSAGING_SERVICE_SID"))


def transport() -> Transport:
    return current_app.extensions["feedback_transport"]


def sender_for(channel: str) -> str | None:
    """Our "From" address on ``channel``; None means the messaging service chooses."""
    if channel == "whatsapp":
        return current_app.config.get("TWILIO_WHATSAPP_FROM")
    return current_app.config.get("TWILIO_SMS_FROM")


def our_numbers() -> set[str]:
    """The addresses members may write to. Anything else is kept but never answered."""
    config = current_app.config
    numbers = {n for n in config.get("TWILIO_INBOUND_NUMBERS") or []}
    for key in ("TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM"):
        if config.get(key):
            numbers.add(config[key])
    return numbers
