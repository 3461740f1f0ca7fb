"""The promise: every accepted message is acknowledged exactly once, whatever fails.

Failures are real ones: the fake Twilio answers 500 and 429, a worker process is killed
with SIGKILL while Twilio holds a message it has not answered for yet, and Redis loses
every queued job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.messaging.templates import render
from feedback_bot.models import FeedbackItem, OutboundMessage, OutboundStatus
from feedback_bot.privacy import vault

from .conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    ENCRYPTION_KEY,
    PUBLIC_BASE_URL,
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    drain,
    flush_redis,
    open_rows,
    signed_post,
    twilio_params,
)

ROOT = Path(__file__).resolve().parent.parent

SENTENCES = {
    "en": "The streetlights on Mill Road have been out for a week and it feels unsafe at night.",
    "pl": "Latarnie na ulicy Młyńskiej nie działają od tygodnia i boję się wracać do domu.",
    "es": "Las farolas de la calle del Molino llevan una semana apagadas y me da miedo volver.",
    "uk": "Ліхтарі на Млинській вулиці не працюють уже тиждень, і мені страшно повертатися.",
    "ar": "أضواء الشارع في طريق الطاحونة مطفأة منذ أسبوع وأشعر بعدم الأمان عند العودة.",
    "cy": "Mae goleuadau'r stryd ar Heol y Felin wedi bod i ffwrdd ers wythnos ac mae'n beryglus.",
}


def member_number(index: int) -> str:
    return f"+4479111{index:05d}"


def acknowledgements_by_member(app, fake_twilio) -> dict[str, list[dict]]:
    received: dict[str, list[dict]] = {}
    for message in fake_twilio.messages:
        received.setdefault(message["to"].removeprefix("whatsapp:"), []).append(message)
    return received


def test_two_hundred_messages_through_failures_each_acknowledged_once(app, client, fake_twilio):
    locales = list(SENTENCES)
    expected_locale: dict[str, str] = {}
    deliveries = []
    for index in range(200):
        number = member_number(index)
        locale = locales[index % len(locales)]
        expected_locale[number] = locale
        sender = f"whatsapp:{number}" if index % 2 else number
        params = twilio_params(sender, SENTENCES[locale])
        deliveries.append(params)
        if index % 5 == 0:  # a fifth delivered twice by "Twilio"
            deliveries.append(params)
    fake_twilio.set_fault_rates(error_500=0.1, error_429=0.1, seed=2026)

    for params in deliveries:
        assert signed_post(client, "/webhooks/twilio/messages", params).status_code == 200
    drain(app, timeout=120)

    attempts = Counter(a["outcome"] for a in fake_twilio.attempts)
    assert attempts["error:500"] > 10 and attempts["error:429"] > 10  # failures really happened
    received = acknowledgements_by_member(app, fake_twilio)
    assert sorted(received) == sorted(expected_locale)
    assert all(len(messages) == 1 for messages in received.values())
    with app.app_context():
        for number, [message] in received.items():
            row = db.session.scalars(
                select(OutboundMessage).where(OutboundMessage.twilio_sid == message["sid"])
            ).one()
            item = db.session.get(FeedbackItem, row.item_id)
            assert row.locale == expected_locale[number], number
            assert message["body"] == render("ack", row.locale, ref=item.ref, days=21)
            assert message["from"] == (WHATSAPP_NUMBER if row.channel == "whatsapp" else SMS_NUMBER)
        statuses = Counter(db.session.scalars(select(OutboundMessage.status)))
        assert statuses == {OutboundStatus.QUEUED: 200}


def worker_environment(database_url: str, redis_url: str, fake_twilio) -> dict[str, str]:
    """The production configuration, as a deployment would set it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "FLASK_"))}
    env.update(
        FEEDBACK_ENV="production",
        SECRET_KEY="worker-test-secret",
        FEEDBACK_ENCRYPTION_KEY=ENCRYPTION_KEY,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_SMS_FROM=SMS_NUMBER,
        TWILIO_WHATSAPP_FROM=WHATSAPP_NUMBER,
        TWILIO_API_BASE_URL=fake_twilio.base_url,
        TWILIO_TIMEOUT_SECONDS="5",
        SWEEP_INTERVAL_SECONDS="1",
        SENDING_STUCK_SECONDS="2",
        ORG_NAME="Riverside Council",
    )
    return env


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python worker.py`` in a process group of its own, as in a container: the RQ
    scheduler it forks goes down with it in ``kill_worker``, instead of living on."""
    with log_path.open("ab") as log_file:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )


def kill_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its scheduler child at once (the machine died), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def stop_worker(worker: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    """Stop the worker as a deployment does (SIGTERM: RQ finishes the job in hand). One that
    does not stop in time is killed, so it cannot take the next test's jobs, and fails."""
    stop_workers([worker], log_path, timeout)


def stop_workers(
    workers: list[subprocess.Popen[bytes]], log_path: Path, timeout: float = 30
) -> None:
    """``stop_worker`` for several at once: every one is stopped, or killed, before any
    failure is raised; one left running would take the jobs of the tests after it."""
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    stuck = []
    for worker in workers:
        try:
            worker.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            stuck.append(worker.pid)
            # Where it is waiting, into the log (worker.py registers the dump on SIGUSR1).
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGUSR1)
            time.sleep(1)
        # Its process group too: a scheduler child must not outlive it either.
        kill_worker(worker)
    if stuck:
        raise AssertionError(
            f"worker(s) {stuck} did not stop within {timeout:g} s of SIGTERM:\n"
            + log_path.read_text()[-3000:]
        )


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_worker_killed_mid_send_and_redis_flushed_still_exactly_once(
    app, client, fake_twilio, database_url, redis_url, tmp_path
):
    members = [member_number(index) for index in range(30)]
    for number in members:
        response = signed_post(
            client, "/webhooks/twilio/messages", twilio_params(number, SENTENCES["en"])
        )
        assert response.status_code == 200
    # Twilio records each message, then takes its time to answer: a kill now lands in the
    # window where Twilio has the message and we do not know its SID.
    fake_twilio.delay_seconds = 0.3
    env = worker_environment(database_url, redis_url, fake_twilio)
    log_path = tmp_path / "worker.log"

    worker = start_worker(env, log_path)
    try:
        wait_for(lambda: len(fake_twilio.messages) >= 5, 30, "the first acknowledgements")
        # Wait until a send is in flight (accepted by the fake, unanswered), then kill.
        accepted_before = len(fake_twilio.messages)
        wait_for(lambda: len(fake_twilio.messages) > accepted_before, 5, "a send in flight")
        kill_worker(worker)
    finally:
        if worker.poll() is None:
            kill_worker(worker)

    with app.app_context():
        in_flight = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.status == OutboundStatus.SENDING)
        ).all()
        db.session.remove()
    assert len(in_flight) == 1, "the kill should leave one row mid-send"
    flush_redis(redis_url)  # every queued job is gone
    fake_twilio.delay_seconds = 0.0

    worker = start_worker(env, log_path)
    try:
        wait_for(lambda: open_rows(app) == 0, 60, "the sweeper to finish the outbox")
    finally:
        stop_worker(worker, log_path)

    received = acknowledgements_by_member(app, fake_twilio)
    assert sorted(received) == sorted(members), log_path.read_text()[-3000:]
    assert [n for n, messages in received.items() if len(messages) != 1] == []
    with app.app_context():
        rows = db.session.scalars(select(OutboundMessage)).all()
        assert {row.status for row in rows} == {OutboundStatus.QUEUED}
        assert {row.twilio_sid for row in rows} == {m["sid"] for m in fake_twilio.messages}
        recovered = db.session.get(OutboundMessage, in_flight[0].id)
        number = vault().decrypt(recovered.contact.phone_ciphertext)
        # The message Twilio took before the kill was found there, not sent again.
        [at_twilio] = received[number]
        assert recovered.twilio_sid == at_twilio["sid"]
        assert at_twilio["created_at"] < recovered.accepted_at


def test_database_down_member_still_acknowledged_and_nothing_lost(make_app, fake_twilio):
    from feedback_bot.jobs.sweep import sweep

    app = make_app()
    client = app.test_client()
    # Point the app at a database that is not there (nothing listens on port 9).
    broken = make_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://127.0.0.1:9/nothing")
    params = twilio_params("+447911123456", "Nobody has fixed the damp in our flat.")

    response = signed_post(broken.test_client(), "/webhooks/twilio/messages", params)

    assert response.status_code == 200
    assert "A person will read it" in response.get_data(as_text=True)  # inline acknowledgement
    with app.app_context():
        counts = sweep()
        assert counts["spool_ingested"] == 1
        item = db.session.scalars(select(FeedbackItem)).one()
        assert item.messages[0].body == "Nobody has fixed the damp in our flat."
        [row] = db.session.scalars(select(OutboundMessage)).all()
        assert (row.kind, row.status) == ("ack_inline", OutboundStatus.SENT)
    # Twilio retrying the same message later is still one message, and no second reply.
    assert signed_post(client, "/webhooks/twilio/messages", params).status_code == 200
    drain(app)
    assert fake_twilio.messages == []


@pytest.mark.parametrize(
    ("media", "spool"),
    [
        ([("https://api.twilio.com/m/1", "image/jpeg")], "redis"),
        ([("https://api.twilio.com/m/1", "image/jpeg")], "file"),
        ([], "redis"),  # control: a real keyword is answered by intake, not inline
    ],
    ids=["photo captioned Help, Redis spool", "photo captioned Help, file spool", "Help"],
)
def test_keyword_caption_during_an_outage_is_answered_exactly_once(
    make_app, fake_twilio, media, spool
):
    """A photo captioned "Help" is feedback (intake ignores keywords on media), so the
    webhook acknowledges it inline if Redis can say the member has not opted out, and the
    spool says so: nothing more is owed later. Otherwise intake acknowledges it, once."""
    from feedback_bot.jobs.sweep import sweep

    app = make_app()
    down = {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://127.0.0.1:9/nothing"}
    if spool == "file":
        down["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    broken = make_app(**down)
    params = twilio_params("+447911123456", "Help", media=media)

    response = signed_post(broken.test_client(), "/webhooks/twilio/messages", params)
    assert response.status_code == 200
    answered_inline = response.get_data(as_text=True).count("<Message>")
    with app.app_context():
        assert sweep()["spool_ingested"] == 1
    drain(app)

    assert answered_inline + len(fake_twilio.messages) == 1
    with app.app_context():
        items = db.session.scalars(select(FeedbackItem)).all()
        kinds = [row.kind for row in db.session.scalars(select(OutboundMessage))]
    if media and spool == "file":
        # Redis is down too: nothing can say whether the member opted out, so nobody is
        # answered inline; intake owes the acknowledgement once the database is back.
        assert answered_inline == 0
        assert (len(items), kinds) == (1, ["ack"])
    elif media:
        assert answered_inline == 1
        assert (len(items), kinds) == (1, ["ack_inline"])
    else:
        assert (len(items), kinds) == (0, ["help"])


def test_database_that_never_answers_is_given_up_on_in_time(make_app, fake_twilio):
    """A server that takes the TCP connection and then says nothing (a hung host, a
    half-open network path) must not hold the webhook past Twilio's 15 seconds."""
    make_app()  # empties the real database and Redis for this test
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        broken = make_app(
            SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing",
            DATABASE_CONNECT_TIMEOUT_SECONDS=1,
        )
        params = twilio_params("+447911123456", "The fire door on the stairs will not close.")

        started = time.monotonic()
        response = signed_post(broken.test_client(), "/webhooks/twilio/messages", params)
        took = time.monotonic() - started

    assert response.status_code == 200
    assert "A person will read it" in response.get_data(as_text=True)  # answered inline
    assert took < 10, f"the webhook waited {took:.1f}s for the database"
