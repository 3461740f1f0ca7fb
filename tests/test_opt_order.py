"""The member's latest STOP or START wins, whichever intake job runs last.

The intake job processes a sender's earlier messages still waiting before its own, but a
database outage (the spool) or an earlier message whose processing failed can still have a
member's STOP and START processed out of order. What counts is when they sent each (its
``received_at``): one sent before the one already applied changes nothing, and its
confirmation, which would contradict their latest word, is not sent. The tests process
each message alone, as in those cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.jobs.intake import process_alone, process_inbound
from feedback_bot.jobs.sweep import sweep
from feedback_bot.messaging.templates import render
from feedback_bot.models import Contact, Disposition, InboundMessage

from .conftest import drain, outbound, send_sms, signed_post, twilio_params

MEMBER = "+447911123456"
ORG = "Riverside Council"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATABASE_DOWN = {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://127.0.0.1:9/nothing"}


def sent_then_processed(app, client, words: list[str], order: list[int], **params) -> None:
    """The member sends ``words`` ten seconds apart from T0; then their intake jobs run in
    ``order`` (indexes into ``words``), a minute later, each alone."""
    for index, word in enumerate(words):
        clock.freeze(T0 + timedelta(seconds=10 * index))
        send_sms(client, MEMBER, word, process=False, **params)
    with app.app_context():
        ids = list(db.session.scalars(select(InboundMessage.id).order_by(InboundMessage.id)))
    clock.freeze(T0 + timedelta(minutes=1))
    for index in order:
        with app.app_context():
            process_alone(ids[-len(words) + index])
    drain(app)


def member(app) -> Contact:
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        db.session.expunge_all()
        return contact


def texts(fake_twilio) -> list[str]:
    return [m["body"] for m in fake_twilio.messages_to(MEMBER)]


def rendered(app, kind: str, **values) -> str:
    with app.app_context():
        return render(kind, "en", **values)


def test_a_start_processed_after_a_later_stop_changes_nothing(app, client, fake_twilio):
    clock.freeze(T0 - timedelta(days=1))
    send_sms(client, MEMBER, "STOP")
    drain(app)

    sent_then_processed(app, client, ["START", "STOP"], order=[1, 0])

    contact = member(app)
    assert contact.opted_out
    assert contact.opt_changed_at == T0 + timedelta(seconds=10)
    stop = rendered(app, "stop", org=ORG)
    assert texts(fake_twilio) == [stop, stop]  # never "welcome back"
    assert [row.kind for row in outbound(app)] == ["stop", "stop"]


def test_a_stop_processed_after_a_later_start_changes_nothing(app, client, fake_twilio):
    clock.freeze(T0 - timedelta(days=1))
    send_sms(client, MEMBER, "The bins were not collected.")
    drain(app)

    sent_then_processed(app, client, ["STOP", "START"], order=[1, 0])

    contact = member(app)
    assert not contact.opted_out
    assert contact.opt_changed_at == T0 + timedelta(seconds=10)
    # The START found nothing stopped, so it was answered as HELP is: the STOP before it
    # came too late to count.
    assert texts(fake_twilio)[1:] == [rendered(app, "help", org=ORG)]
    with app.app_context():
        stop = db.session.scalars(select(InboundMessage).where(InboundMessage.body == "STOP")).one()
        assert stop.disposition == Disposition.KEYWORD  # recorded, not applied


def test_in_order_each_applies_at_the_time_the_member_sent_it(app, client, fake_twilio):
    sent_then_processed(app, client, ["STOP"], order=[0])
    contact = member(app)
    assert contact.opted_out_at == contact.opt_changed_at == T0  # not the job's minute later

    clock.freeze(T0 + timedelta(hours=1))
    send_sms(client, MEMBER, "START")
    drain(app)
    contact = member(app)
    assert (contact.opted_out_at, contact.opt_changed_at) == (None, T0 + timedelta(hours=1))
    assert texts(fake_twilio) == [rendered(app, "stop", org=ORG), rendered(app, "start")]


def test_twilio_advanced_opt_out_processed_out_of_order(app, client, fake_twilio):
    """Twilio answered both keywords itself; we record them, the latest word winning."""
    for index, word in enumerate(["START", "STOP"]):
        clock.freeze(T0 + timedelta(seconds=10 * index))
        send_sms(client, MEMBER, word, process=False, OptOutType=word)
    with app.app_context():
        start_id, stop_id = db.session.scalars(select(InboundMessage.id).order_by("id")).all()
    clock.freeze(T0 + timedelta(minutes=1))
    for inbound_id in (stop_id, start_id):
        with app.app_context():
            process_alone(inbound_id)

    contact = member(app)
    assert contact.opted_out
    assert contact.opt_changed_at == T0 + timedelta(seconds=10)
    assert fake_twilio.messages == []


def test_a_stop_spooled_in_an_outage_does_not_undo_a_start_sent_after_it(make_app, fake_twilio):
    app = make_app()
    client = app.test_client()
    clock.freeze(T0 - timedelta(days=1))
    send_sms(client, MEMBER, "STOP")
    drain(app)
    # The database is down: a STOP is spooled (keywords are answered by intake, later).
    clock.freeze(T0)
    broken = make_app(**DATABASE_DOWN)
    response = signed_post(
        broken.test_client(), "/webhooks/twilio/messages", twilio_params(MEMBER, "STOP")
    )
    assert "<Message>" not in response.get_data(as_text=True)
    # It is back; the member sends START, processed at once; then the spool drains.
    clock.freeze(T0 + timedelta(minutes=2))
    send_sms(client, MEMBER, "START")
    clock.freeze(T0 + timedelta(minutes=3))
    with app.app_context():
        assert sweep()["spool_ingested"] == 1
    drain(app)

    contact = member(app)
    assert not contact.opted_out
    assert contact.opt_changed_at == T0 + timedelta(minutes=2)
    assert texts(fake_twilio) == [rendered(app, "stop", org=ORG), rendered(app, "start")]


def test_feedback_sent_after_stop_is_not_answered_whichever_job_runs_first(
    app, client, fake_twilio
):
    """A Spanish STOP (Twilio's opt-out does not know it), then feedback ten seconds on;
    the feedback's job runs first. It processes the STOP first: the feedback is kept and
    not acknowledged, and the member hears only the STOP's confirmation."""
    clock.freeze(T0)
    send_sms(client, "+34612345678", "PARAR", process=False)
    clock.freeze(T0 + timedelta(seconds=10))
    send_sms(client, "+34612345678", "Las farolas de mi calle no funcionan.", process=False)
    with app.app_context():
        stop_id, feedback_id = db.session.scalars(select(InboundMessage.id).order_by("id")).all()
        process_inbound(feedback_id)
    drain(app)
    with app.app_context():
        stop, feedback = (db.session.get(InboundMessage, i) for i in (stop_id, feedback_id))
        assert (stop.disposition, feedback.disposition) == (
            Disposition.KEYWORD,
            Disposition.FEEDBACK,
        )
        assert feedback.item_id is not None
    assert [row.kind for row in outbound(app)] == ["stop"]
