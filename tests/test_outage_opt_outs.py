"""During a database outage the webhook does not answer a member who opted out.

The webhook answers inline while the database is down, without the contact row; Twilio's
own opt-out handling stops only its English keywords on SMS. So intake keeps the keyed
hashes of the opted-out numbers in Redis, and the webhook asks there first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feedback_bot import clock, opt_outs
from feedback_bot.extensions import db
from feedback_bot.jobs import redis_connection
from feedback_bot.jobs.intake import process_alone
from feedback_bot.jobs.sweep import sweep
from feedback_bot.messaging.templates import render
from feedback_bot.models import FeedbackItem, InboundMessage, MessageKind, OutboundStatus
from feedback_bot.privacy import vault

from .conftest import drain, outbound, send_sms, signed_post, twilio_params

MEMBER = "+447911123456"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATABASE_DOWN = {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://127.0.0.1:9/nothing"}
REDIS_DOWN = {"REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
FEEDBACK = "The park gates are locked at noon."


def during_outage(make_app, sender: str, body: str = FEEDBACK, **down: str) -> str:
    """What the webhook answers ``sender`` while the database is down."""
    broken = make_app(**DATABASE_DOWN, **down)
    response = signed_post(
        broken.test_client(), "/webhooks/twilio/messages", twilio_params(sender, body)
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def opted_out_set(app) -> set[str]:
    with app.app_context():
        return {raw.decode() for raw in redis_connection().smembers(opt_outs.OPTED_OUT_KEY)}


def lookup(app, number: str) -> str:
    with app.app_context():
        return vault().lookup_hash(number)


@pytest.mark.parametrize(
    ("sender", "stop"),
    [
        ("+380501234567", "СТОП"),  # Ukrainian: Twilio does not know it for a STOP
        ("whatsapp:+447911123456", "STOP"),  # WhatsApp: Twilio's opt-out does not apply
    ],
    ids=["translated STOP", "WhatsApp"],
)
def test_a_member_who_opted_out_is_not_answered_inline(make_app, fake_twilio, sender, stop):
    app = make_app()
    send_sms(app.test_client(), sender, stop)
    drain(app)

    assert "<Message>" not in during_outage(make_app, sender)

    number = sender.removeprefix("whatsapp:")
    assert opted_out_set(app) == {lookup(app, number)}  # a keyed hash, never the number

    with app.app_context():
        assert sweep()["spool_ingested"] == 1
        item = db.session.scalars(select(FeedbackItem)).one()  # kept, as any feedback
        assert item.messages[0].body == FEEDBACK
    drain(app)
    assert [row.kind for row in outbound(app)] == [MessageKind.STOP]  # and nothing else
    assert len(fake_twilio.messages) == 1


def test_start_and_forget_make_the_number_answered_inline_again(make_app, fake_twilio):
    app = make_app()
    client = app.test_client()
    for word in ("STOP", "START"):
        send_sms(client, MEMBER, word)
    drain(app)
    assert opted_out_set(app) == set()
    assert "<Message>" in during_outage(make_app, MEMBER)

    other = "+447911200021"
    send_sms(client, other, "STOP")
    send_sms(client, other, "FORGET")
    drain(app)
    assert opted_out_set(app) == set()
    # Whoever writes from that number now is somebody new.
    assert "<Message>" in during_outage(make_app, other)


def test_a_stop_older_than_the_latest_start_does_not_silence_the_member(make_app, fake_twilio):
    app = make_app()
    client = app.test_client()
    clock.freeze(T0)
    send_sms(client, MEMBER, "STOP", process=False)
    clock.freeze(T0 + timedelta(seconds=10))
    send_sms(client, MEMBER, "START", process=False)
    with app.app_context():
        stop_id, start_id = db.session.scalars(select(InboundMessage.id).order_by("id")).all()
    for inbound_id in (start_id, stop_id):  # the STOP last (alone: as from the spool)
        with app.app_context():
            process_alone(inbound_id)
    assert opted_out_set(app) == set()
    assert "<Message>" in during_outage(make_app, MEMBER)


def test_with_redis_down_too_the_acknowledgement_waits_for_the_database(make_app, fake_twilio):
    """Nothing says whether the member opted out: no inline answer (it might be a message
    they asked us not to send); once the database is back, intake owes the acknowledgement
    unless they did. So the member still hears from us, exactly once."""
    app = make_app()
    assert "<Message>" not in during_outage(make_app, MEMBER, **REDIS_DOWN)

    with app.app_context():
        assert sweep()["spool_ingested"] == 1  # from the file spool
        item = db.session.scalars(select(FeedbackItem)).one()
        ref = item.ref
    drain(app)
    [row] = outbound(app)
    assert (row.kind, row.status) == (MessageKind.ACK, OutboundStatus.QUEUED)
    with app.app_context():
        ack = render("ack", "en", ref=ref, days=21)
    assert [m["body"] for m in fake_twilio.messages_to(MEMBER)] == [ack]


def test_backfill_adds_the_members_who_opted_out_when_the_set_is_lost(app, client):
    send_sms(client, MEMBER, "STOP")
    send_sms(client, "+447911200021", "The lift is broken.")
    send_sms(client, "+447911000111", "STOP")
    send_sms(client, "+447911000111", "FORGET")
    with app.app_context():
        # As before this version, when nothing filled the set (the sweeps ``send_sms`` ran
        # have filled it since).
        redis_connection().delete(opt_outs.FILLED_KEY, opt_outs.OPTED_OUT_KEY)
        assert opt_outs.backfill_if_lost() == 1
        assert opt_outs.backfill_if_lost() == 0  # filled: nothing to do

        redis_connection().flushdb()  # a Redis restarted without persistence
        assert opt_outs.backfill_if_lost() == 1

    assert opted_out_set(app) == {lookup(app, MEMBER)}


def test_a_stop_only_twilio_saw_counts_here_and_in_the_outage_path(app, client, fake_twilio):
    """Twilio refuses a send with 21610 when it holds a STOP we never processed: the member
    is opted out from then on, in the database and in the set the webhook consults."""
    clock.freeze(T0)
    fake_twilio.unsubscribed.add(MEMBER)
    send_sms(client, MEMBER, FEEDBACK)
    with app.app_context():
        contact = db.session.scalars(select(FeedbackItem)).one().contact
        assert contact is not None
        assert (contact.opted_out_at, contact.opt_changed_at) == (T0, T0)
    assert opted_out_set(app) == {lookup(app, MEMBER)}
