"""Two-stage intake: the webhook stores a message and enqueues a job; the job does the rest.

What must hold: nothing the webhook answered is lost whatever happens to the job (Redis
down, job lost, job run twice), and the member's times are when they wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.jobs import intake_job_id, queue, redis_connection
from feedback_bot.jobs.intake import process_inbound
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import Contact, FeedbackItem, InboundMessage, OutboundMessage

from .conftest import drain, flush_redis, outbound, send_sms

MEMBER = "+447911123456"
TEXT = "The lift in Block C has been broken for two weeks."
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stored(app) -> InboundMessage:
    with app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()
        db.session.expunge(message)
        return message


def test_webhook_with_redis_down_still_stores_and_the_sweeper_takes_it_up(
    make_app, fake_twilio, redis_url
):
    down = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = send_sms(down.test_client(), MEMBER, TEXT, process=False)

    assert response.status_code == 200
    assert stored(down).disposition == "received"
    app = make_app()  # Redis is back: the same database, a reachable queue
    with app.app_context():
        assert sweep()["intake_enqueued"] == 1
    drain(app)
    [sent] = fake_twilio.messages
    assert sent["to"] == MEMBER
    assert stored(app).disposition == "feedback"


def test_intake_job_run_twice_processes_once(app, client, fake_twilio):
    send_sms(client, MEMBER, TEXT, process=False)
    inbound_id = stored(app).id

    with app.app_context():
        first = process_inbound(inbound_id)
    with app.app_context():
        second = process_inbound(inbound_id)

    assert first == "sent"
    assert second == "already processed"
    assert len(fake_twilio.messages) == 1
    assert len(outbound(app)) == 1
    with app.app_context():
        assert len(db.session.scalars(select(FeedbackItem)).all()) == 1
        assert len(db.session.scalars(select(Contact)).all()) == 1


def test_sweeper_leaves_a_fresh_message_whose_job_is_waiting(make_app, fake_twilio):
    app = make_app(INTAKE_STUCK_SECONDS=5)
    client = app.test_client()
    clock.freeze(T0)
    send_sms(client, MEMBER, TEXT, process=False)
    with app.app_context():
        job_key = queue().job_class.redis_job_namespace_prefix + intake_job_id(stored(app).id)
        assert sweep()["intake_enqueued"] == 0  # stored a moment ago
        clock.freeze(T0 + timedelta(seconds=6))
        assert sweep()["intake_enqueued"] == 0  # older, but its job still waits in the queue
        redis_connection().delete(job_key)  # the job is lost
        assert sweep()["intake_enqueued"] == 1
    drain(app)
    assert len(fake_twilio.messages) == 1


def test_times_are_when_the_member_wrote_not_when_a_worker_got_to_it(app, client, fake_twilio):
    clock.freeze(T0)
    send_sms(client, MEMBER, TEXT, process=False)
    clock.freeze(T0 + timedelta(seconds=45))
    send_sms(client, MEMBER, "It is the one by the car park.", process=False)
    clock.freeze(T0 + timedelta(minutes=10))  # the workers were busy
    drain(app)

    with app.app_context():
        [item] = db.session.scalars(select(FeedbackItem)).all()  # joined: 45 s apart
        assert item.created_at == T0
        assert item.last_message_at == T0 + timedelta(seconds=45)
        contact = db.session.scalars(select(Contact)).one()
        assert contact.last_inbound_at == T0 + timedelta(seconds=45)
        [row] = db.session.scalars(select(OutboundMessage)).all()
        assert row.created_at == T0 + timedelta(minutes=10)


def test_payload_is_cleared_once_processed_and_never_holds_the_plain_number(
    app, client, fake_twilio, redis_url
):
    send_sms(client, MEMBER, TEXT, process=False)
    pending = stored(app).pending_payload
    assert pending and MEMBER not in pending
    flush_redis(redis_url)  # the job is gone; the database still has it all
    drain(app)
    assert stored(app).pending_payload is None
    assert [m["to"] for m in fake_twilio.messages] == [MEMBER]
