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
from sqlalchemy import ColumnElement, and_, or_, select, update

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
    found = _failed_whatsapp(sid)
    if found is None or not found[1].uses_sms:
        return None
    row, contact = found
    return _owe_again(row, contact, key=f"sms_fallback:{row.id}", channel="sms")


def owe_outside_window(sid: str) -> int | None:
    """WhatsApp refused a free-form message as outside the 24-hour window, in a status
    callback (Twilio had accepted it; this is how the refusal usually comes). Our clock
    thought the window open; WhatsApp's is the one that counts. Owe the message again, as
    a retry that the send job routes outside the window (``retries_outside_window``): a
    template, else SMS, else waiting visibly for a template."""
    found = _failed_whatsapp(sid)
    if found is None or found[0].content_sid:
        return None
    row, contact = found
    return _owe_again(row, contact, key=f"outside_window:{row.id}", channel="whatsapp")


def _failed_whatsapp(sid: str) -> tuple[OutboundMessage, Contact] | None:
    """The WhatsApp row with ``sid`` and its member, if the member can still be written to."""
    row = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.twilio_sid == sid)
    ).one_or_none()
    if row is None or row.channel != "whatsapp" or row.contact_id is None:
        return None
    contact = db.session.get(Contact, row.contact_id)
    if contact is None or contact.opted_out or contact.forgotten:
        return None
    return row, contact


def _owe_again(row: OutboundMessage, contact: Contact, key: str, channel: str) -> int | None:
    """Owe ``row``'s message again on ``channel``, as a follow-up of ``row``."""
    return owe_message(
        key=key,
        kind=row.kind,
        contact=contact,
        channel=channel,
        locale=row.locale,
        item=row.item,
        decision_id=row.decision_id,
        # The same version of the decision as the row it follows: the fan-out counts the
        # follow-up as that version owed (``loop.fan_out.revisions_owed``).
        decision_revision=row.decision_revision,
        fallback_of_id=row.id,
        **row.variables,
    )


def retries_outside_window(row: OutboundMessage) -> bool:
    """Whether ``row`` is the retry ``owe_outside_window`` owed: WhatsApp already refused
    its free-form text once, whatever our clock says."""
    return row.channel == "whatsapp" and row.fallback_of_id is not None


def revive_waiting(limit: int = 500) -> list[tuple[int, int, str, datetime | None]]:
    """Rows waiting for a template that can go now: a template was added, the member has
    written to us by SMS, or has written again on WhatsApp (the window is open again).

    The database picks them (``_can_go_now``), so rows that nothing has changed for (a
    language with no template yet) are never loaded and never hide the rest: one query
    whatever the number waiting, then one compare-and-set for the first ``limit`` of them.
    """
    now = clock.now()
    ids = db.session.scalars(
        select(OutboundMessage.id)
        .outerjoin(Contact, Contact.id == OutboundMessage.contact_id)
        .outerjoin(
            WhatsAppTemplate,
            and_(
                WhatsAppTemplate.kind == OutboundMessage.kind,
                WhatsAppTemplate.locale == OutboundMessage.locale,
            ),
        )
        .where(OutboundMessage.status == OutboundStatus.NEEDS_TEMPLATE, _can_go_now(now))
        .order_by(OutboundMessage.id)
        .limit(limit)
    ).all()
    if not ids:
        return []
    revived = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id.in_(ids),
            # Still waiting: a FORGET or a newer version of the decision may have
            # cancelled it since the SELECT.
            OutboundMessage.status == OutboundStatus.NEEDS_TEMPLATE,
        )
        .values(status=OutboundStatus.PENDING, next_attempt_at=now, updated_at=now)
        .returning(OutboundMessage.id, OutboundMessage.attempts, OutboundMessage.kind)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted((row_id, attempts, kind, now) for row_id, attempts, kind in revived)


def _can_go_now(now: datetime) -> ColumnElement[bool]:
    """For a waiting row joined to its member and to the template of its kind and language
    (outer joins): whether it can go now, as a template or reachable without one."""
    return or_(
        WhatsAppTemplate.id.is_not(None),
        Contact.uses_sms.is_(True),
        and_(
            # ``window_open``, in SQL
            Contact.whatsapp_last_inbound_at > now - (WINDOW - MARGIN),
            # A retry WhatsApp refused as outside the window goes as a template or by SMS
            # only (``retries_outside_window``, in SQL).
            or_(OutboundMessage.channel != "whatsapp", OutboundMessage.fallback_of_id.is_(None)),
        ),
    )
