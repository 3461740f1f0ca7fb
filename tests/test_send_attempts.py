"""One send attempt when something goes wrong: what the row records, and what comes next.

Each test owes an acknowledgement (the intake step, without its send), then runs the send
job in this process against the fake Twilio and looks at the row.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.intake import process_stored
from feedback_bot.jobs import queue, send_job_id
from feedback_bot.jobs import send as send_job
from feedback_bot.jobs.send import send_outbound
from feedback_bot.models import InboundMessage, OutboundMessage, OutboundStatus

from .conftest import drain, outbound, run_worker, send_sms

MEMBER = "+447911123456"


def owe_reply(app, client, body: str = "The bins on Oak Street were missed again.") -> int:
    """Store a member's message and process it, leaving its reply owed and unsent."""
    send_sms(client, MEMBER, body, process=False)
    with app.app_context():
        inbound_id = db.session.scalars(
            select(InboundMessage.id).order_by(InboundMessage.id.desc())
        ).first()
        [row_id] = process_stored(inbound_id).owed
        db.session.commit()
    return row_id


def attempt_once(app, row_id: int) -> tuple[str, OutboundMessage]:
    with app.app_context():
        outcome = send_outbound(row_id)
        row = db.session.get(OutboundMessage, row_id)
        db.session.expunge(row)
    return outcome, row


def test_a_5xx_answer_makes_the_next_attempt_ask_twilio_first(app, client, fake_twilio):
    """Twilio failed while handling the create call: it may have the message all the same,
    so the retry must look before it sends again."""
    row_id = owe_reply(app, client)
    fake_twilio.fail_next(1, status=500)

    outcome, row = attempt_once(app, row_id)

    assert outcome.startswith("retrying")
    assert row.status == OutboundStatus.PENDING
    assert row.unconfirmed_since is not None


def test_a_queue_full_refusal_is_retried_not_failed(app, client, fake_twilio):
    """21611: too many messages queued for our number. It passes; the member must still
    hear back."""
    row_id = owe_reply(app, client)
    fake_twilio.fail_next(1, status=400, code=21611)

    outcome, row = attempt_once(app, row_id)

    assert outcome == "retrying: 21611"
    assert (row.status, row.error_code) == (OutboundStatus.PENDING, "21611")
    drain(app)
    assert fake_twilio.messages_to(MEMBER)


def test_a_fault_of_ours_mid_send_counts_as_an_attempt(app, client, fake_twilio, monkeypatch):
    """An exception outside Twilio's (a bug, Redis or the database failing) used to leave
    the row "sending" for the sweeper to release, again and again, never failing and never
    backing off. It is now a failed attempt like any other."""
    row_id = owe_reply(app, client)

    def broken(row):
        raise RuntimeError("a bug")

    monkeypatch.setattr(send_job, "envelope_for", broken)
    outcome, row = attempt_once(app, row_id)

    assert outcome == "retrying: internal"
    assert (row.status, row.attempts, row.error_code) == (OutboundStatus.PENDING, 1, "internal")
    assert row.next_attempt_at is not None
    monkeypatch.undo()
    drain(app)
    assert len(fake_twilio.messages_to(MEMBER)) == 1


def test_a_deferred_row_is_woken_by_a_job_the_sweeper_recognises(
    app, client, fake_twilio, monkeypatch
):
    """Deferring gives the attempt back; the job that takes the row up again must carry the
    row's attempt count as it now is, or the sweeper takes it for lost and RQ drops it
    together with the job that is running."""
    row_id = owe_reply(app, client)
    monkeypatch.setattr(send_job, "wait_for_send_slot", lambda: False)

    outcome, row = attempt_once(app, row_id)

    assert outcome == "waiting for the send rate"
    assert (row.status, row.attempts) == (OutboundStatus.PENDING, 0)
    with app.app_context():
        scheduled = queue().scheduled_job_registry.get_job_ids()
    assert scheduled == [send_job_id(row_id, row.attempts, row.next_attempt_at)]
    # ... and not the id of the job that deferred it, which RQ deletes when it ends.
    assert scheduled != [send_job_id(row_id, row.attempts)]


def test_a_retry_never_takes_the_sid_of_another_message_with_the_same_text(
    app, client, fake_twilio
):
    """Two HELP replies have the same text. The first one's answer is lost (Twilio has it);
    the second goes through; when the first is retried, Twilio's list shows both, and the
    retry must recognise its own, not claim the other's SID."""
    first = owe_reply(app, client, "HELP")
    second = owe_reply(app, client, "HELP")
    fake_twilio.drop_next(1)
    assert attempt_once(app, first)[0] == "retrying: network"
    assert attempt_once(app, second)[0] == "sent"

    drain(app)

    replies = fake_twilio.messages_to(MEMBER)
    assert len(replies) == 2
    rows = {row.id: row for row in outbound(app)}
    assert {rows[first].twilio_sid, rows[second].twilio_sid} == {r["sid"] for r in replies}
    assert rows[first].status in OutboundStatus.ACCEPTED_BY_TWILIO


@pytest.fixture(autouse=True)
def _no_quiet_hours(app):
    app.config["QUIET_HOURS_START"] = app.config["QUIET_HOURS_END"] = 0


def test_a_row_deferred_twice_is_sent_by_its_own_job_not_left_to_the_sweeper(
    app, client, fake_twilio, monkeypatch
):
    """The second deferral happens inside the send job the first one scheduled; the job it
    schedules in turn must outlive the job that schedules it (RQ deletes a finished job by
    id), so the row goes out on time without waiting for the sweeper."""
    turns = iter([False, False])
    monkeypatch.setattr(send_job, "wait_for_send_slot", lambda: next(turns, True))
    send_sms(client, MEMBER, "The bins on Oak Street were missed again.")  # deferred once
    for _ in range(2):
        time.sleep(2.1)  # due in a second, scheduled at the whole second after
        run_worker(app)  # the scheduled job runs: deferred again, then sent

    assert len(fake_twilio.messages_to(MEMBER)) == 1
    [row] = outbound(app)
    assert row.status in OutboundStatus.ACCEPTED_BY_TWILIO


def test_a_message_is_retried_through_most_of_a_day_of_failures(monkeypatch):
    """The defaults give up on a message only after Twilio has failed it for more than
    half a day, even at the backoff's shortest (its jitter at its least): an outage of an
    hour, or a run of unlucky 5xx answers, must not leave a member unacknowledged. (Twelve
    attempts, the old default, gave up after 24 minutes at the least: a member of the
    10,000-member fault run of 2026-12-07 was one failure from it.)"""
    import random

    from flask import Flask

    from feedback_bot.config import defaults
    from feedback_bot.outbox import backoff_seconds

    app = Flask(__name__)
    app.config.update(defaults())
    monkeypatch.setattr(random, "random", lambda: 0.0)
    with app.app_context():
        waits = [backoff_seconds(attempt) for attempt in range(1, defaults()["SEND_MAX_ATTEMPTS"])]
    assert sum(waits) >= 12 * 3600, f"gives up after {sum(waits) / 3600:.1f} h at the least"


def test_refused_credentials_are_an_error_naming_the_settings_and_still_retried(
    app, client, fake_twilio, caplog
):
    """20003 (HTTP 401): an operator fixes the credentials while the rows wait, but must
    hear of it at once, not 14 hours later when the first message is given up."""
    row_id = owe_reply(app, client)
    fake_twilio.fail_next(1, status=401, code=20003)

    with caplog.at_level("INFO", logger="feedback_bot.jobs.send"):
        outcome, row = attempt_once(app, row_id)

    assert outcome == "retrying: 20003"
    assert (row.status, row.error_code) == (OutboundStatus.PENDING, "20003")
    said = [
        r
        for r in caplog.records
        if r.name == "feedback_bot.jobs.send" and "20003" in r.getMessage()
    ]
    assert [r.levelname for r in said] == ["ERROR"]  # once, and as an error
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in said[0].getMessage()
    drain(app)
    assert fake_twilio.messages_to(MEMBER)
