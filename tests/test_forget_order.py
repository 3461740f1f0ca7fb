"""FORGET wins over the member's earlier messages, whichever is processed first.

The intake job processes a sender's earlier messages still waiting before its own, but a
message can still be processed after a later one: it reached the database later (kept in
the spool through an outage), or its own processing failed. A message sent just before a
FORGET and processed after it must be erased, not become a new member with the number
kept; a message sent after the FORGET starts afresh. ``process_in_order`` runs each
message alone, as in those cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.jobs.intake import process_alone, process_inbound
from feedback_bot.jobs.send import send_outbound
from feedback_bot.jobs.sweep import sweep
from feedback_bot.loop import fan_out
from feedback_bot.members import forget
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Contact,
    Decision,
    FeedbackItem,
    InboundMessage,
    MessageKind,
    OutboundMessage,
    OutboundStatus,
)
from feedback_bot.outbox import owe_message
from feedback_bot.privacy import vault

from .conftest import drain, outbound, send_sms
from .test_whatsapp import WHATSAPP, add_template, waiting_for_a_template

MEMBER = "+447911123456"
BEFORE = "My neighbour at 12 Elm St leaves rubbish on the stairs."
AFTER = "I want to report a pothole on King Street."
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stored_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(InboundMessage.id).order_by(InboundMessage.id)))


def process_in_order(app, inbound_ids: list[int]) -> None:
    """Process ``inbound_ids`` in this order, each alone (see the module's docstring)."""
    for inbound_id in inbound_ids:
        with app.app_context():
            process_alone(inbound_id)


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


def test_a_message_owed_while_forget_commits_is_never_sent(app, client, fake_twilio, monkeypatch):
    """The fan-out reads the member (not forgotten yet) and the FORGET's job runs while it
    owes "what happened next". On SQLite, with no row locks, the FORGET commits first and
    its cancelling never sees the row: the send job cancels it. On PostgreSQL the batch
    read the member FOR KEY SHARE, so the FORGET waits for it and cancels the row itself.
    Either way nothing follows "we have erased your phone number", and the row does not
    keep the number."""
    import threading

    send_sms(client, MEMBER, "The lift in our block has been broken for weeks.")
    drain(app)
    send_sms(client, MEMBER, "FORGET", process=False)
    forget_id = stored_ids(app)[-1]
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        decision.published_at = clock.now()
        db.session.commit()
        decision_id = decision.id

    read_members = fan_out.revisions_owed
    forgotten: list[threading.Thread] = []
    with app.app_context():
        row_locks = db.engine.dialect.name == "postgresql"

    def forget_meanwhile(*args, **kwargs):
        # The fan-out has read its batch of members: the FORGET's job runs now. SQLite
        # lets it commit at once; on PostgreSQL it waits for the batch, beside it.
        if not forgotten:
            job = threading.Thread(target=process_in_order, args=(app, [forget_id]))
            forgotten.append(job)
            if row_locks:
                job.start()
            else:
                job.run()
        return read_members(*args, **kwargs)

    monkeypatch.setattr(fan_out, "revisions_owed", forget_meanwhile)
    with app.app_context():
        loop.notify_decision(decision_id)
    monkeypatch.undo()
    if row_locks:
        forgotten[0].join(15)
        assert not forgotten[0].is_alive()
    assert contact_for(app, MEMBER) is None  # the FORGET ran here, not later from the queue
    drain(app)
    with app.app_context():
        sweep()  # ... and the sweeper does not bring it back
    drain(app)

    assert forgotten
    rows = {row.kind: row for row in outbound(app)}
    told = rows[MessageKind.WHAT_NEXT]
    assert (told.status, told.to_ciphertext) == (OutboundStatus.CANCELLED, None)
    assert told.twilio_sid is None
    assert [m["body"] for m in fake_twilio.messages_to(MEMBER)][1:] == [render_in(app, "forget")]
    assert [row.to_ciphertext for row in rows.values()] == [None] * len(rows)


def test_a_row_owed_to_a_forgotten_member_is_cancelled_by_the_send_job(app, client, fake_twilio):
    """Any row owed by a transaction that read the member before the FORGET committed (an
    interim update, the rating question, an SMS fallback) meets the same check."""
    send_sms(client, MEMBER, "HELP")
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        forget(contact)
        db.session.commit()
        row_id = owe_message(
            key="help:late",
            kind=MessageKind.HELP,
            contact=contact,
            channel="sms",
            to_e164=MEMBER,  # the number, as the transaction read it
            org="Example",
        )
        db.session.commit()
        assert row_id is not None
        assert send_outbound(row_id) == "cancelled: forgotten"
        row = db.session.get(OutboundMessage, row_id)
        assert (row.status, row.to_ciphertext) == (OutboundStatus.CANCELLED, None)
    drain(app)
    assert len(fake_twilio.messages_to(MEMBER)) == 1  # the first HELP's answer only


def test_forget_cancels_a_message_waiting_for_a_whatsapp_template(app, client, fake_twilio):
    """A row waiting for a template is still owed: FORGET cancels it, so that neither the
    template page lists it nor a template added later sends it."""
    waiting = waiting_for_a_template(app, client, fake_twilio)
    send_sms(client, WHATSAPP, "FORGET")
    drain(app)
    with app.app_context():
        row = db.session.get(OutboundMessage, waiting.id)
        assert (row.status, row.to_ciphertext) == (OutboundStatus.CANCELLED, None)
    add_template(app)
    with app.app_context():
        sweep()
    drain(app)
    assert [m["content_sid"] for m in fake_twilio.messages_to(WHATSAPP)] == [None, None]


def test_the_job_of_a_message_sent_after_forget_processes_the_forget_first(
    app, client, fake_twilio
):
    """The member sends feedback, FORGET, then new feedback; the new feedback's job runs
    first. It processes the two waiting before it, in order: the first is acknowledged,
    then erased with the number; the new feedback starts a new member, kept and
    acknowledged, not erased with the rest."""
    earlier_then_forget(client)
    clock.freeze(T0 + timedelta(seconds=60))
    send_sms(client, MEMBER, AFTER, process=False)
    earlier, forget_id, later = stored_ids(app)

    with app.app_context():
        process_inbound(later)
    drain(app)

    with app.app_context():
        first, asked, new = (db.session.get(InboundMessage, i) for i in (earlier, forget_id, later))
        assert (first.body, first.erased_at is not None) == (None, True)
        assert asked.body is None
        assert new.body == AFTER and new.erased_at is None
        forgotten = db.session.get(Contact, first.contact_id)
        assert forgotten.forgotten_at is not None
        assert new.contact_id not in (None, forgotten.id)
        ref = db.session.get(FeedbackItem, new.item_id).ref
    assert contact_for(app, MEMBER) is not None
    bodies = [m["body"] for m in fake_twilio.messages_to(MEMBER)]
    assert bodies[-2:] == [
        rendered_en(app, "forget"),
        rendered_en(app, "ack", ref=ref, days=21),
    ]


def rendered_en(app, kind: str, **values: object) -> str:
    with app.app_context():
        return render(kind, "en", **values)
