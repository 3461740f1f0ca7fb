"""FORGET wins over the member's earlier messages, whichever intake job runs first.

Two workers, or the sweeper enqueueing a message again, can process a FORGET before a
message the member sent just before it. That message must be erased, not become a new
member with the number kept; a message sent after the FORGET starts afresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.jobs.intake import process_inbound
from feedback_bot.jobs.sweep import sweep
from feedback_bot.messaging.templates import render
from feedback_bot.models import Contact, FeedbackItem, InboundMessage, OutboundMessage
from feedback_bot.privacy import vault

from .conftest import drain, outbound, send_sms

MEMBER = "+447911123456"
BEFORE = "My neighbour at 12 Elm St leaves rubbish on the stairs."
AFTER = "I want to report a pothole on King Street."
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stored_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(InboundMessage.id).order_by(InboundMessage.id)))


def process_in_order(app, inbound_ids: list[int]) -> None:
    """Run the intake jobs of ``inbound_ids`` in this order, as racing workers might."""
    for inbound_id in inbound_ids:
        with app.app_context():
            process_inbound(inbound_id)


def contact_for(app, number: str) -> Contact | None:
    with app.app_context():
        return db.session.scalars(
            select(Contact).where(Contact.phone_hash == vault().lookup_hash(number))
        ).one_or_none()


def earlier_then_forget(client) -> None:
    clock.freeze(T0)
    send_sms(client, MEMBER, BEFORE, process=False)
    clock.freeze(T0 + timedelta(seconds=30))
    send_sms(client, MEMBER, "FORGET", process=False)


def test_a_message_sent_before_forget_but_processed_after_it_is_erased(app, client, fake_twilio):
    earlier_then_forget(client)
    earlier, forget = stored_ids(app)

    process_in_order(app, [forget, earlier])
    drain(app)

    assert contact_for(app, MEMBER) is None
    with app.app_context():
        message = db.session.get(InboundMessage, earlier)
        assert (message.body, message.pending_payload, message.contact_id) == (None, None, None)
        assert message.erased_at is not None
        assert message.disposition == "forgotten"
        assert db.session.scalars(select(FeedbackItem)).all() == []
        [contact] = db.session.scalars(select(Contact)).all()  # the forgotten one only
        assert contact.forgotten
    assert [m["body"] for m in fake_twilio.messages_to(MEMBER)] == [render_in(app, "forget")]
    assert [row.kind for row in outbound(app)] == ["forget"]


def test_a_message_sent_after_forget_starts_afresh_whatever_the_order(app, client, fake_twilio):
    earlier_then_forget(client)
    clock.freeze(T0 + timedelta(seconds=60))
    send_sms(client, MEMBER, AFTER, process=False)
    earlier, forget, later = stored_ids(app)

    process_in_order(app, [forget, later, earlier])
    drain(app)

    new = contact_for(app, MEMBER)
    assert new is not None and not new.forgotten
    with app.app_context():
        [item] = db.session.scalars(select(FeedbackItem)).all()
        assert item.contact_id == new.id
        bodies = [m.body for m in db.session.scalars(select(InboundMessage).order_by("id"))]
        assert bodies == [None, None, AFTER]  # the earlier one is not the new member's
        ref = item.ref
    assert [m["body"] for m in fake_twilio.messages_to(MEMBER)] == [
        render_in(app, "forget"),
        render_in(app, "ack", days=21, ref=ref),
    ]


def test_forget_is_remembered_only_while_an_earlier_message_may_wait(app, client, fake_twilio):
    earlier_then_forget(client)
    earlier, forget = stored_ids(app)
    process_in_order(app, [forget])

    clock.freeze(T0 + timedelta(days=1))
    with app.app_context():
        assert sweep()["forgets_expired"] == 0  # the earlier message still waits
    process_in_order(app, [earlier])
    with app.app_context():
        assert sweep()["forgets_expired"] == 1
        assert db.session.scalars(select(OutboundMessage.kind)).all() == ["forget"]
    assert contact_for(app, MEMBER) is None


def render_in(app, kind: str, **values) -> str:
    with app.app_context():
        return render(kind, "en", **values)
