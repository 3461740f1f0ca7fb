"""FORGET reaches Twilio: the member's messages, and what we sent them, are deleted from
Twilio's logs too, once Twilio allows it (error 20009 while a message is on its way)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import InboundMessage, OutboundMessage, TwilioErasure
from feedback_bot.twilio_erasure import FIRST_TRY_AFTER, GIVE_UP_AFTER, erase_at_twilio

from .conftest import SMS_NUMBER, drain, send_sms

MEMBER = "+447911123456"
OTHER = "+447911123999"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def sweep_at(app, when: datetime) -> dict[str, int]:
    """The sweeper at ``when``, then the jobs it handed out."""
    clock.freeze(when)
    with app.app_context():
        counts = sweep()
    drain(app)
    return counts


def erasures(app) -> dict[str, TwilioErasure]:
    with app.app_context():
        rows = db.session.scalars(select(TwilioErasure)).all()
        db.session.expunge_all()
        return {row.sid: row for row in rows}


def member_then_forget(app, client, fake_twilio) -> tuple[list[str], list[str]]:
    """A member writes twice, is acknowledged, then sends FORGET. Returns the SIDs of
    their messages and of ours (the acknowledgements, then the FORGET confirmation)."""
    clock.freeze(T0)

    def member_sends(sender: str, text: str) -> None:
        # As Twilio does: it keeps the message, then posts the webhook with its SID.
        send_sms(client, sender, text, sid=fake_twilio.receive(sender, SMS_NUMBER, text))

    for text in ("The bins were not collected.", "Still not collected."):
        member_sends(MEMBER, text)
    member_sends(OTHER, "The lift is broken.")  # somebody else, who stays
    member_sends(MEMBER, "FORGET")
    drain(app)
    with app.app_context():
        theirs = [
            m.message_sid
            for m in db.session.scalars(select(InboundMessage).order_by(InboundMessage.id))
            if m.contact_id is not None and m.body is None
        ]
        ours = list(
            db.session.scalars(
                select(OutboundMessage.twilio_sid)
                .where(OutboundMessage.twilio_sid.is_not(None))
                .order_by(OutboundMessage.id)
            )
        )
    [other_ack] = [m["sid"] for m in fake_twilio.messages_to(OTHER)]
    return theirs, [sid for sid in ours if sid != other_ack]


def test_forget_deletes_their_messages_and_ours_at_twilio(app, client, fake_twilio):
    theirs, ours = member_then_forget(app, client, fake_twilio)
    assert len(theirs) == 3 and len(ours) >= 2  # acknowledged, and the confirmation
    assert set(erasures(app)) == set(theirs) | set(ours)
    assert sweep_at(app, T0 + FIRST_TRY_AFTER / 2)["twilio_erasures_enqueued"] == 0

    # A minute on: theirs are deleted; ours are still "queued" at Twilio, which refuses
    # (20009).
    sweep_at(app, T0 + FIRST_TRY_AFTER)
    rows = erasures(app)
    assert all(rows[sid].erased_at is not None for sid in theirs)
    assert [m["from"] for m in fake_twilio.inbound] == [OTHER]  # nobody else's
    assert {rows[sid].last_error for sid in ours} == {"20009"}
    assert all(rows[sid].next_attempt_at is not None for sid in ours)

    # Delivered: the next try, after the backoff, deletes them.
    for sid in ours:
        fake_twilio.set_status(sid, "delivered")
    sweep_at(app, T0 + FIRST_TRY_AFTER + timedelta(minutes=1))
    rows = erasures(app)
    assert all(rows[sid].erased_at is not None for sid in ours)
    assert fake_twilio.messages_to(MEMBER) == []
    assert [m["to"] for m in fake_twilio.messages] == [OTHER]  # nobody else's
    deleted = [d["sid"] for d in fake_twilio.deletions if d["outcome"] == "deleted"]
    assert sorted(deleted) == sorted(theirs + ours)

    # Done is done: later sweeps ask Twilio nothing more.
    calls = len(fake_twilio.deletions)
    sweep_at(app, T0 + timedelta(days=2))
    assert len(fake_twilio.deletions) == calls


def test_a_deletion_whose_job_was_lost_is_handed_out_again(app, client, fake_twilio):
    """The sweeper defers what it hands out; a job lost with Redis is due again after."""
    theirs, ours = member_then_forget(app, client, fake_twilio)
    clock.freeze(T0 + FIRST_TRY_AFTER)
    with app.app_context():
        handed = sweep()["twilio_erasures_enqueued"]
    assert handed == len(theirs) + len(ours)
    with app.app_context():
        from feedback_bot.jobs import bulk_queue

        bulk_queue().empty()  # Redis lost them
    assert (
        sweep_at(app, T0 + FIRST_TRY_AFTER + timedelta(minutes=1))["twilio_erasures_enqueued"] == 0
    )
    sweep_at(app, T0 + FIRST_TRY_AFTER + timedelta(minutes=6))
    rows = erasures(app)
    assert all(rows[sid].erased_at is not None for sid in theirs)


def test_a_message_still_in_progress_for_a_month_is_given_up_visibly(app, client, fake_twilio):
    _, ours = member_then_forget(app, client, fake_twilio)
    when = T0 + FIRST_TRY_AFTER
    while when < T0 + GIVE_UP_AFTER + timedelta(days=2):
        sweep_at(app, when)
        when += timedelta(days=1)
    rows = erasures(app)
    assert {(rows[sid].erased_at, rows[sid].next_attempt_at) for sid in ours} == {(None, None)}
    assert {rows[sid].last_error for sid in ours} == {"20009"}


def test_a_message_processed_after_forget_is_deleted_at_twilio_too(app, client, fake_twilio):
    """Sent before FORGET, its intake job ran after: erased unread, and at Twilio."""
    from .test_forget_order import process_in_order, stored_ids

    clock.freeze(T0)
    send_sms(client, MEMBER, "My neighbour leaves rubbish on the stairs.", process=False)
    clock.freeze(T0 + timedelta(seconds=30))
    send_sms(client, MEMBER, "FORGET", process=False)
    earlier, forget = stored_ids(app)
    process_in_order(app, [forget, earlier])
    with app.app_context():
        sid = db.session.get(InboundMessage, earlier).message_sid
    assert sid in erasures(app)


def test_the_job_is_idempotent(app, client, fake_twilio):
    member_then_forget(app, client, fake_twilio)
    clock.freeze(T0 + FIRST_TRY_AFTER)
    with app.app_context():
        erasure_id = db.session.scalars(select(TwilioErasure.id).limit(1)).one()
        assert erase_at_twilio(erasure_id) in {"erased", "will retry: 20009"}
        first = db.session.get(TwilioErasure, erasure_id, populate_existing=True)
        if first.erased_at is not None:
            assert erase_at_twilio(erasure_id) == "nothing to do"


def test_a_row_finished_while_the_sweeper_hands_it_out_stays_finished(app, monkeypatch):
    """The sweeper reads a due row; before it pushes the row on, the row's job (late from a
    backed-up queue) finishes it. The push must not bring it back: it would be handed out
    again every few minutes for ever."""
    from sqlalchemy import update

    from feedback_bot.dbutil import hand_out_due

    clock.freeze(T0)
    with app.app_context():
        db.session.add(TwilioErasure(sid="SM" + "0" * 32, owed_at=T0, next_attempt_at=T0))
        db.session.commit()
        read = db.session.scalars

        def read_then_job_finishes(*args, **kwargs):
            found = read(*args, **kwargs)
            monkeypatch.setattr(db.session, "scalars", read)  # only the sweeper's first read
            # The job's commit, landing between the sweeper's read and its write (in the
            # sweeper's own transaction here: SQLite lets one writer in at a time).
            db.session.execute(
                update(TwilioErasure)
                .values(erased_at=T0, next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
            return found

        monkeypatch.setattr(db.session, "scalars", read_then_job_finishes)
        assert hand_out_due(TwilioErasure.next_attempt_at, T0, 10, timedelta(minutes=5)) == []
        row = db.session.scalars(select(TwilioErasure)).one()
        assert (row.erased_at, row.next_attempt_at) == (T0, None)


def test_a_message_in_doubt_at_forget_is_looked_up_and_deleted_at_twilio(app, client, fake_twilio):
    """The acknowledgement reached Twilio but the connection dropped before the answer:
    we hold no SID, only the doubt. FORGET comes meanwhile. The row is not simply
    cancelled, which would leave the copy at Twilio for ever: the send job asks Twilio,
    finds it, owes its deletion, and only then drops the number."""
    from feedback_bot.models import OutboundStatus

    clock.freeze(T0)
    fake_twilio.drop_next()
    send_sms(client, MEMBER, "The bins were not collected.")
    with app.app_context():
        ack = db.session.scalars(select(OutboundMessage)).one()
        assert (ack.status, ack.twilio_sid) == (OutboundStatus.PENDING, None)
        assert ack.unconfirmed_since is not None
        ack_id = ack.id
    [at_twilio] = [m["sid"] for m in fake_twilio.messages_to(MEMBER)]

    send_sms(client, MEMBER, "FORGET")
    with app.app_context():
        held = db.session.get(OutboundMessage, ack_id)
        assert held.status == OutboundStatus.PENDING and held.to_ciphertext is not None

    clock.freeze(T0 + timedelta(seconds=30))  # the row's next attempt is due
    drain(app)
    with app.app_context():
        done = db.session.get(OutboundMessage, ack_id)
        assert (done.status, done.to_ciphertext) == (OutboundStatus.CANCELLED, None)
    assert at_twilio in erasures(app)
    # Sent once, not again: only the FORGET confirmation followed it.
    assert len(fake_twilio.messages_to(MEMBER)) == 2

    for record in fake_twilio.messages_to(MEMBER):
        fake_twilio.set_status(record["sid"], "delivered")
    sweep_at(app, T0 + FIRST_TRY_AFTER + timedelta(minutes=1))
    assert erasures(app)[at_twilio].erased_at is not None
    assert fake_twilio.messages_to(MEMBER) == []


def test_a_message_in_doubt_then_parked_for_a_template_is_looked_up_too(app, client, fake_twilio):
    """In doubt, then parked waiting for a WhatsApp template (the window closed): FORGET
    hands it back to the send job, which asks Twilio rather than dropping the number."""
    from feedback_bot.models import OutboundStatus

    clock.freeze(T0)
    fake_twilio.drop_next()
    send_sms(client, MEMBER, "The bins were not collected.")
    [at_twilio] = [m["sid"] for m in fake_twilio.messages_to(MEMBER)]
    with app.app_context():
        ack = db.session.scalars(select(OutboundMessage)).one()
        ack.status = OutboundStatus.NEEDS_TEMPLATE
        db.session.commit()
        ack_id = ack.id
    send_sms(client, MEMBER, "FORGET")
    clock.freeze(T0 + timedelta(seconds=30))
    drain(app)
    with app.app_context():
        done = db.session.get(OutboundMessage, ack_id)
        assert (done.status, done.to_ciphertext) == (OutboundStatus.CANCELLED, None)
    assert at_twilio in erasures(app)


def test_a_message_sent_as_forget_commits_is_deleted_at_twilio(app, client, fake_twilio):
    """A worker holds the acknowledgement and is talking to Twilio while the member's
    FORGET commits: the SID it then stores is owed for deletion with the rest."""
    from feedback_bot.intake import process_stored
    from feedback_bot.jobs.send import accept, envelope_for
    from feedback_bot.messaging import transport
    from feedback_bot.outbox import claim

    from .conftest import run_worker

    clock.freeze(T0)
    send_sms(client, MEMBER, "The bins were not collected.", process=False)
    # The intake job owes the acknowledgement; a worker claims it (and is then slow).
    with app.app_context():
        inbound_id = db.session.scalars(select(InboundMessage.id)).one()
        [ack_id] = process_stored(inbound_id).owed
        db.session.commit()
        row = claim(ack_id)
        assert row is not None
        db.session.expunge_all()

    send_sms(client, MEMBER, "FORGET", process=False)
    run_worker(app)  # the FORGET is processed while the worker still holds the row

    with app.app_context():
        accepted = transport().send(envelope_for(row))
        accept(row, accepted)
    assert accepted.sid in erasures(app)


def test_refused_credentials_are_an_error_naming_the_settings_and_still_retried(
    app, client, fake_twilio, caplog
):
    """20003 (HTTP 401) on the deletions and searches FORGET owes: nothing is erased at
    Twilio until an operator fixes the settings, so each attempt says so as an error."""
    theirs, _ = member_then_forget(app, client, fake_twilio)
    right = fake_twilio.auth_token
    fake_twilio.auth_token = "a-token-we-do-not-have"
    try:
        with caplog.at_level("INFO", logger="feedback_bot.twilio_erasure"):
            sweep_at(app, T0 + FIRST_TRY_AFTER)
    finally:
        fake_twilio.auth_token = right
    said = [r for r in caplog.records if r.name == "feedback_bot.twilio_erasure"]
    refused = [r for r in said if "20003" in r.getMessage()]
    assert refused
    assert {r.levelname for r in refused} == {"ERROR"}
    assert all("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in r.getMessage() for r in refused)
    assert all(row.erased_at is None for row in erasures(app).values())

    sweep_at(app, T0 + FIRST_TRY_AFTER + timedelta(days=1))  # fixed: retried, and done
    rows = erasures(app)
    assert all(rows[sid].erased_at is not None for sid in theirs)
