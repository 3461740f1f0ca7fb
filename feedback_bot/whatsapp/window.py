"""WhatsApp's 24-hour rule.

Free-form messages are allowed only within 24 hours of the member's last message.
Outside it a message must be an approved template (Twilio's Content API: a content SID
and its variables, no body). Without a template for that message and language, an SMS
goes instead if the member has written to us by SMS; otherwise the row waits, visibly,
as "needs_template" until an admin adds one. Nothing fails silently.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..messaging.templates import PLACEHOLDER, TEMPLATES
from ..models import Contact, OutboundMessage, OutboundStatus, WhatsAppTemplate
from ..outbox import address_for, amend, defer_as, owe_message
from ..privacy import vault

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
# Leave room for the time the message spends in queues before WhatsApp sees it.
MARGIN = timedelta(minutes=5)


def window_open(contact: Contact | None, now: datetime) -> bool:
    last = contact.whatsapp_last_inbound_at if contact is not None else None
    return last is not None and now - last < WINDOW - MARGIN


def template_variables(kind: str, values: dict[str, str]) -> dict[str, str]:
    """Twilio's numbered variables, in the order the placeholders appear in the message."""
    names: list[str] = []
    for name in PLACEHOLDER.findall(TEMPLATES[kind].msgid):
        if name not in names:
            names.append(name)
    return {str(number): values.get(name, "") for number, name in enumerate(names, 1)}


def find_template(kind: str, locale: str) -> WhatsAppTemplate | None:
    return db.session.scalars(
        select(WhatsAppTemplate).where(
            WhatsAppTemplate.kind == kind, WhatsAppTemplate.locale == locale
        )
    ).one_or_none()


def route_outside_window(row: OutboundMessage, contact: Contact | None, why: str) -> str:
    """Re-route a claimed WhatsApp row that may not go as free text.

    Returns "template", "sms" or "waiting"; the row is updated accordingly.
    """
    template = find_template(row.kind, row.locale)
    if template is not None:
        amend(row, content_sid=template.content_sid, routing_note=f"{why}: sent as a template")
        log.info("outbound %s: %s; using template %s", row.id, why, template.content_sid)
        return "template"
    if contact is not None and contact.uses_sms and row.to_ciphertext:
        number = vault().decrypt(row.to_ciphertext).removeprefix("whatsapp:")
        amend(
            row,
            channel="sms",
            to_ciphertext=vault().encrypt(address_for(number, "sms")),
            routing_note=f"{why}: no WhatsApp template, sent by SMS",
        )
        log.info("outbound %s: %s; no template, switched to SMS", row.id, why)
        return "sms"
    defer_as(
        row,
        OutboundStatus.NEEDS_TEMPLATE,
        f"{why}: needs a WhatsApp template for {row.kind} in {row.locale}",
    )
    log.warning("outbound %s waits for a WhatsApp template (%s, %s)", row.id, row.kind, row.locale)
    return "waiting"


def owe_sms_fallback(sid: str) -> int | None:
    """After a WhatsApp message ends undelivered or failed, the SMS version, once."""
    if not current_app.config["WHATSAPP_SMS_FALLBACK"]:
        return None
    row = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.twilio_sid == sid)
    ).one_or_none()
    if row is None or row.channel != "whatsapp" or row.contact_id is None:
        return None
    contact = db.session.get(Contact, row.contact_id)
    if contact is None or not contact.uses_sms or contact.opted_out or contact.forgotten:
        return None
    return owe_message(
        key=f"sms_fallback:{row.id}",
        kind=row.kind,
        contact=contact,
        channel="sms",
        locale=row.locale,
        item=row.item,
        decision_id=row.decision_id,
        fallback_of_id=row.id,
        **row.variables,
    )


def revive_waiting(limit: int = 500) -> list[tuple[int, int, str]]:
    """Rows waiting for a template that now has one (or whose member now has SMS)."""
    waiting = db.session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.status == OutboundStatus.NEEDS_TEMPLATE)
        .limit(limit)
    ).all()
    revived = []
    for row in waiting:
        contact = db.session.get(Contact, row.contact_id) if row.contact_id else None
        if find_template(row.kind, row.locale) or (contact is not None and contact.uses_sms):
            row.status = OutboundStatus.PENDING
            row.next_attempt_at = clock.now()
            revived.append((row.id, row.attempts, row.kind))
    db.session.commit()
    return revived
