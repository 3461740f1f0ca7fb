"""A decision linked to 2,000 items: everyone told once, at the configured rate, though a
worker is killed mid fan-out and another mid-send, and nobody publishes again."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.models import (
    Decision,
    FeedbackItem,
    ItemStatus,
    OutboundMessage,
    OutboundStatus,
)
from feedback_bot.testing.seed import seed_linked_items

from .conftest import open_rows
from .test_guarantee import kill_worker, start_worker, stop_workers, wait_for, worker_environment

MEMBERS = 2000
RATE = 150
SUMMARY = "We will resurface the whole of Mill Road in the spring."


def publish(app, decision_id: int) -> None:
    with app.app_context():
        loop.publish(db.session.get(Decision, decision_id))
        db.session.remove()


def outbox_count(app) -> int:
    with app.app_context():
        count = db.session.query(OutboundMessage).count()
        db.session.remove()
    return count


def busiest_second(times: list[datetime]) -> int:
    """The most messages that arrived within any one-second window."""
    stamps = sorted(t.timestamp() for t in times)
    return max(
        (bisect_left(stamps, start + 1.0) - index for index, start in enumerate(stamps)), default=0
    )


@pytest.mark.slow
def test_publish_to_2000_members_once_each_within_the_rate(
    app, fake_twilio, database_url, redis_url, tmp_path
):
    clock.freeze(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # daytime: no quiet hours
    decision_id = seed_linked_items(app, MEMBERS, SUMMARY)
    env = worker_environment(database_url, redis_url, fake_twilio)
    env["SEND_RATE_PER_SECOND"] = str(RATE)
    env["QUIET_HOURS_START"] = env["QUIET_HOURS_END"] = "0"  # the workers use the real clock
    env["FAN_OUT_STUCK_SECONDS"] = "2"
    log_path = tmp_path / "workers.log"

    publish(app, decision_id)
    # First kill: while the fan-out job is still owing its batches of 500. Nobody presses
    # publish again; the sweeper finds the fan-out unfinished and runs it again.
    worker = start_worker(env, log_path)
    try:
        wait_for(lambda: outbox_count(app) > 0, 60, "the fan-out to owe its first batch")
        kill_worker(worker)
    finally:
        if worker.poll() is None:
            kill_worker(worker)
    # Second kill: mid-send, with messages in flight at Twilio.
    worker = start_worker(env, log_path)
    try:
        wait_for(lambda: len(fake_twilio.messages) >= 300, 60, "the sends to get going")
        kill_worker(worker)
    finally:
        if worker.poll() is None:
            kill_worker(worker)

    workers = [start_worker(env, log_path) for _ in range(2)]
    try:

        def everyone_told() -> bool:
            with app.app_context():
                told = db.session.query(OutboundMessage).filter_by(kind="what_next").count()
                db.session.remove()
            return told == MEMBERS and open_rows(app) == 0

        wait_for(everyone_told, 480, "every member to be told")
    finally:
        stop_workers(workers, log_path)

    what_next = [m for m in fake_twilio.messages if SUMMARY in m["body"]]
    per_member = Counter(m["to"] for m in what_next)
    assert len(per_member) == MEMBERS
    assert max(per_member.values()) == 1, "somebody was told twice"
    questions = Counter(m["to"] for m in fake_twilio.messages if "Did we listen" in m["body"])
    assert max(questions.values()) == 1
    # Counted where it matters, at Twilio's arrival: the sends are spaced evenly, with
    # enough slack that the jitter between a worker's slot and the fake's clock cannot
    # put more than RATE into any second.
    assert busiest_second([m["created_at"] for m in fake_twilio.messages]) <= RATE
    with app.app_context():
        statuses = Counter(
            db.session.scalars(
                select(OutboundMessage.status).where(OutboundMessage.kind == "what_next")
            )
        )
        assert statuses == {OutboundStatus.QUEUED: MEMBERS}
        told = db.session.scalars(select(FeedbackItem.status)).all()
        assert set(told) == {ItemStatus.TOLD}


@pytest.mark.postgresql
def test_a_batch_lock_lets_workers_record_sends_but_not_staff_edit(app):
    """A batch of the fan-out holds its decision's row while it owes rows. A worker that
    meanwhile records a send and owes the rating question (a new row whose foreign key
    checks the decision with FOR KEY SHARE) must not wait for the batch; a staff edit of
    the decision (an UPDATE of its row) must."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    decision_id = seed_linked_items(app, 1, SUMMARY)
    with app.app_context():
        assert loop.lock_for_batch(decision_id) is not None  # held until the rollback
        try:
            with db.engine.connect() as other:
                other.execute(text("SET lock_timeout = '2s'"))
                as_a_foreign_key = "SELECT 1 FROM decision WHERE id = :id FOR KEY SHARE"
                assert other.execute(text(as_a_foreign_key), {"id": decision_id}).scalar() == 1
                other.rollback()
                other.execute(text("SET lock_timeout = '200ms'"))
                with pytest.raises(OperationalError, match="lock timeout"):
                    other.execute(
                        text("UPDATE decision SET summary = summary WHERE id = :id"),
                        {"id": decision_id},
                    )
                other.rollback()
        finally:
            db.session.rollback()
            db.session.remove()


def test_a_fan_out_queued_before_loop_became_a_package_still_runs():
    """Jobs queued by a release with ``feedback_bot/loop.py`` name their function
    ``feedback_bot.loop.notify_decision``: a worker of this release must still find it."""
    from rq.utils import import_attribute

    assert import_attribute("feedback_bot.loop.notify_decision") is loop.notify_decision
