"""FORGET finds, by the number, what Twilio sent the member without our learning its SID:
the acknowledgement Twilio made from our TwiML during a database outage, and the replies
of its Advanced Opt-Out. Each is deleted like the rest; the number is kept, encrypted,
only until the search is done."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import TwilioErasure, TwilioSearch
from feedback_bot.twilio_erasure import FIRST_TRY_AFTER, GIVE_UP_AFTER

from .conftest import SMS_NUMBER, drain, send_sms
from .test_outage_opt_outs import during_outage
from .test_twilio_erasure import sweep_at

MEMBER = "+447911123456"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPT_OUT_REPLY = "You have successfully been unsubscribed. Reply START to resubscribe."


def search(app) -> TwilioSearch:
    with app.app_context():
        row = db.session.scalars(select(TwilioSearch)).one()
        db.session.expunge(row)
        return row


def owed_deletions(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(TwilioErasure.sid)))


def member_sends(client, fake_twilio, text: str) -> None:
    """As Twilio does: it keeps the message, then posts the webhook with its SID."""
    send_sms(client, MEMBER, text, sid=fake_twilio.receive(MEMBER, SMS_NUMBER, text))


def forgotten(make_app, fake_twilio):
    """A member acknowledged inline during a database outage, and answered by Advanced
    Opt-Out once, then FORGET. Returns the app and the SIDs of Twilio's two replies."""
    clock.freeze(T0)
    fake_twilio.clock = clock.now  # Twilio's dates on our clock, to compare with the FORGET's
    app = make_app()
    twiml = during_outage(make_app, MEMBER)
    [message] = ET.fromstring(twiml).iter("Message")
    inline = fake_twilio.reply(MEMBER, SMS_NUMBER, message.text or "")
    opt_out = fake_twilio.reply(MEMBER, SMS_NUMBER, OPT_OUT_REPLY)
    with app.app_context():
        assert sweep()["spool_ingested"] == 1  # the database is back
    drain(app)
    member_sends(app.test_client(), fake_twilio, "FORGET")
    drain(app)
    return app, {inline, opt_out}


def test_forget_deletes_what_twilio_sent_the_member_without_our_knowing(make_app, fake_twilio):
    app, unknown = forgotten(make_app, fake_twilio)
    assert not unknown & owed_deletions(app)  # nothing of ours knows their SIDs
    assert search(app).address_ciphertext is not None

    # The member writes again at once, as somebody new: theirs is not the FORGET's.
    clock.freeze(T0 + timedelta(seconds=10))
    member_sends(app.test_client(), fake_twilio, "The lift is broken again.")
    drain(app)
    [new_ack] = [m["sid"] for m in fake_twilio.messages_to(MEMBER) if m["created_at"] > T0]

    sweep_at(app, T0 + timedelta(seconds=20))
    row = search(app)
    assert row.address_ciphertext is None  # the number went with the search
    assert row.searched_at is not None and row.next_attempt_at is None
    owed = owed_deletions(app)
    assert unknown <= owed
    assert new_ack not in owed
    assert row.found == len([m for m in fake_twilio.messages_to(MEMBER) if m["sid"] != new_ack])

    # Twilio deletes them from a minute on, once delivered; the new member's stays.
    for message in fake_twilio.messages:
        fake_twilio.set_status(message["sid"], "delivered")
    sweep_at(app, T0 + FIRST_TRY_AFTER + timedelta(seconds=20))
    assert [m["sid"] for m in fake_twilio.messages_to(MEMBER)] == [new_ack]
    assert [m["body"] for m in fake_twilio.inbound] == ["The lift is broken again."]
    deleted = {d["sid"] for d in fake_twilio.deletions if d["outcome"] == "deleted"}
    assert unknown <= deleted

    # Done is done: later sweeps ask Twilio nothing more.
    sweep_at(app, T0 + timedelta(days=2))
    assert search(app).attempts == 1


def test_a_search_twilio_cannot_answer_is_tried_again(make_app, fake_twilio):
    app, unknown = forgotten(make_app, fake_twilio)
    fake_twilio.fail_next_lists(1)
    sweep_at(app, T0)
    row = search(app)
    assert row.attempts == 1 and row.last_error  # the Twilio client says only "twilio"
    assert row.address_ciphertext is not None  # kept for the next try
    assert row.next_attempt_at == T0 + timedelta(minutes=1)
    assert not unknown & owed_deletions(app)

    assert sweep_at(app, T0 + timedelta(seconds=30))["twilio_searches_enqueued"] == 0
    sweep_at(app, T0 + timedelta(minutes=1))
    row = search(app)
    assert row.attempts == 2 and row.last_error is None and row.address_ciphertext is None
    assert unknown <= owed_deletions(app)


def test_a_search_given_up_drops_the_number(make_app, fake_twilio):
    app, unknown = forgotten(make_app, fake_twilio)
    fake_twilio.fail_next_lists(2)
    sweep_at(app, T0)
    sweep_at(app, T0 + GIVE_UP_AFTER)
    row = search(app)
    assert row.attempts == 2 and row.last_error
    assert row.address_ciphertext is None and row.next_attempt_at is None
    assert row.searched_at is None
    assert not unknown & owed_deletions(app)
