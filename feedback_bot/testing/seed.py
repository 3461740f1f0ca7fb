"""Bulk fixtures for tests and benchmarks: many members linked to one decision, fast."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import insert, select

from .. import clock
from ..extensions import db
from ..models import Contact, Decision, FeedbackItem, ItemStatus, LocaleSource
from ..privacy import vault


def seed_linked_items(app: Flask, count: int, summary: str) -> int:
    """``count`` English SMS members, each with one item linked to a new decision; its id.

    Bulk inserts, not the webhook: this prepares a fan-out, it does not test intake.
    """
    now = clock.now()
    with app.app_context():
        decision = Decision(title="Mill Road", summary=summary)
        db.session.add(decision)
        db.session.flush()
        numbers = [f"+4479112{index:05d}" for index in range(count)]
        db.session.execute(
            insert(Contact),
            [
                {
                    "phone_hash": vault().lookup_hash(number),
                    "phone_ciphertext": vault().encrypt(number),
                    "region": "GB",
                    "locale": "en",
                    "locale_source": LocaleSource.DETECTED,
                    "uses_sms": True,
                    "uses_whatsapp": False,
                    "created_at": now,
                }
                for number in numbers
            ],
        )
        contact_ids = db.session.scalars(select(Contact.id).order_by(Contact.id)).all()
        db.session.execute(
            insert(FeedbackItem),
            [
                {
                    "contact_id": contact_id,
                    "channel": "sms",
                    "locale": "en",
                    "status": ItemStatus.LINKED,
                    "decision_id": decision.id,
                    "created_at": now,
                    "last_message_at": now,
                }
                for contact_id in contact_ids
            ],
        )
        db.session.commit()
        decision_id = decision.id
        db.session.remove()
        return decision_id
