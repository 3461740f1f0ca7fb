"""A slow worker is not a dead one: the sweeper hands on only rows whose worker is gone.

Each test holds a worker thread inside its attempt (at the send-rate wait, after its claim
and before its call to Twilio) while the clock runs far past SENDING_STUCK_SECONDS, then
sweeps and sends again from the test, as another worker would, and lets the first go on.
Twilio, the fake, must end up with the message once.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.jobs import send as send_job
from feedback_bot.jobs.send import send_outbound
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import OutboundMessage, OutboundStatus
from feedback_bot.outbox import claim
from feedback_bot.sending_locks import SENDING_LOCKS

from .conftest import drain
from .test_send_attempts import attempt_once, owe_reply

pytestmark = pytest.mark.postgresql


class HeldWorker:
    """A worker thread sending ``row_id``, stopped inside its attempt until ``go_on``."""

    def __init__(self, app, row_id: int, monkeypatch) -> None:
        self.waiting = threading.Event()
        self._released = threading.Event()
        self.outcome: str | None = None
        real_wait = send_job.wait_for_send_slot
        first = threading.Lock()

        def wait_once(*args, **kwargs):
            if first.acquire(blocking=False):  # only the held worker's first attempt
                self.waiting.set()
                self._released.wait(30)
            return real_wait(*args, **kwargs)

        monkeypatch.setattr(send_job, "wait_for_send_slot", wait_once)

        def run() -> None:
            self.outcome, _ = attempt_once(app, row_id)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self.waiting.wait(10), "the worker never reached its send"

    def let_go(self) -> None:
        self._released.set()
        self._thread.join(30)

    def go_on(self) -> str | None:
        self.let_go()
        assert not self._thread.is_alive()
        return self.outcome


@pytest.fixture
def held_worker(app, monkeypatch):
    """Start a ``HeldWorker``; one a failed test left held is let go (and joined) before
    the next test's database is set up under it."""
    workers: list[HeldWorker] = []

    def start(row_id: int) -> HeldWorker:
        workers.append(HeldWorker(app, row_id, monkeypatch))
        return workers[-1]

    yield start
    for worker in workers:
        worker.let_go()


# pg_locks lists the whole server's locks, and an advisory lock belongs to one database:
# other test processes, each with a database of its own, hold locks on their own row 1.
HOLDERS = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :space"
    " AND objid = :row AND objsubid = 2 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def wait_until_unheld(app, row_id: int) -> None:
    """pg_terminate_backend only signals: wait for the session, and its lock, to end."""
    deadline = time.monotonic() + 10
    with app.app_context():
        while db.session.scalar(
            text(f"SELECT count(*) FROM ({HOLDERS}) AS holders"),
            {"space": SENDING_LOCKS, "row": row_id},
        ):
            db.session.commit()
            assert time.monotonic() < deadline, "the lock outlived its session"
            time.sleep(0.02)


def assert_sent_once(app, fake_twilio, row_id: int) -> None:
    """Twilio has the message once, and the row holds that one's SID."""
    assert len(fake_twilio.messages) == 1
    with app.app_context():
        row = db.session.get(OutboundMessage, row_id)
        assert (row.status, row.twilio_sid) == (
            OutboundStatus.QUEUED,
            fake_twilio.messages[0]["sid"],
        )


def long_after(app) -> None:
    """Move the clock far past SENDING_STUCK_SECONDS: the row looks abandoned by its age."""
    clock.freeze(clock.now() + timedelta(seconds=app.config["SENDING_STUCK_SECONDS"] * 10))


def test_a_slow_worker_keeps_its_row_and_the_message_goes_once(
    app, client, fake_twilio, held_worker
):
    row_id = owe_reply(app, client)
    worker = held_worker(row_id)

    long_after(app)
    with app.app_context():
        swept = sweep()
        second = send_outbound(row_id)
        assert db.session.get(OutboundMessage, row_id).status == OutboundStatus.SENDING

    assert swept["released"] == 0
    assert second == "another worker is sending it"
    assert worker.go_on() == "sent"
    assert_sent_once(app, fake_twilio, row_id)


def test_a_worker_whose_lock_the_database_ended_does_not_send(
    app, client, fake_twilio, held_worker
):
    """A database restart ends the lock's session while the worker lives on; the sweeper
    then rightly hands the row on, and the first worker must not send it as well."""
    row_id = owe_reply(app, client)
    worker = held_worker(row_id)

    with app.app_context():
        ended = db.session.scalar(
            text(f"SELECT count(pg_terminate_backend(pid)) FROM ({HOLDERS}) AS holders"),
            {"space": SENDING_LOCKS, "row": row_id},
        )
        db.session.commit()
    assert ended == 1
    wait_until_unheld(app, row_id)
    long_after(app)
    with app.app_context():
        swept = sweep()
        second = send_outbound(row_id)

    assert swept["released"] == 1
    assert second == "sent"
    assert worker.go_on() == "not sent: its sending lock was lost"
    assert_sent_once(app, fake_twilio, row_id)


def test_a_row_whose_worker_died_is_released_and_sent_once(app, client, fake_twilio):
    """Killed mid-attempt, the worker's connection closes and its lock with it."""
    row_id = owe_reply(app, client)
    with app.app_context():
        # What a worker holds in the middle of its attempt: the row's lock, and its claim.
        connection = db.engine.connect()
        connection.execute(
            text("SELECT pg_advisory_lock(:space, :row)"), {"space": SENDING_LOCKS, "row": row_id}
        )
        connection.commit()
        assert claim(row_id) is not None
    long_after(app)
    with app.app_context():
        assert sweep()["released"] == 0
    connection.invalidate()  # the process is gone: its socket closes, the server lets go
    connection.close()
    wait_until_unheld(app, row_id)
    with app.app_context():
        assert sweep()["released"] == 1
    drain(app)
    assert len(fake_twilio.messages) == 1
