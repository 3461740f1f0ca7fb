"""Delivery status callbacks: signed, only ever forward, and never lost when they come early.

The fake Twilio posts its callbacks to the StatusCallback URL it was given, so these tests
run the app on a real local port (``live_app``) and point PUBLIC_BASE_URL at it: the
callbacks then arrive exactly as Twilio's would, signature included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from feedback_bot.extensions import db
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import DeliveryEvent, OutboundMessage
from feedback_bot.testing.fake_twilio import random_sid, sign_request

from .browser import serve
from .conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    SMS_NUMBER,
    drain,
    outbound,
    send_sms,
    signed_post,
)

MEMBER = "+447911123456"
STATUS_PATH = "/webhooks/twilio/status"


@pytest.fixture
def live_app(app: Flask, make_app: Any) -> Iterator[Flask]:
    """The app served on 127.0.0.1, sharing ``app``'s database and queue."""
    live = make_app(TWILIO_TIMEOUT_SECONDS=5.0)
    running = serve(live, poll_interval=0.05)
    live.config["PUBLIC_BASE_URL"] = running.url
    try:
        yield live
    finally:
        running.stop()


def drain_while(live_app: Flask, twilio_calls_back: Any) -> dict[str, Any]:
    """Let the worker send while Twilio calls back from another thread (the fake answers the
    create call late, so the callbacks overtake it). Returns what the callback recorded;
    an exception it raised is under "error", for the assertions to report."""
    seen: dict[str, Any] = {}

    def run() -> None:
        try:
            twilio_calls_back(seen)
        except Exception as exc:
            seen["error"] = exc

    helper = threading.Thread(target=run)
    helper.start()
    drain(live_app)
    helper.join(10)
    return seen


def acknowledged(client: Any, live_app: Flask, fake_twilio: Any, sender: str = MEMBER) -> str:
    """Send feedback, let the worker send the acknowledgement; its Twilio SID."""
    # The live app's worker runs the intake job, so the callback URL is the live server's.
    response = send_sms(
        client, sender, "The bus shelter on Station Road has no roof.", process=False
    )
    assert response.status_code == 200
    drain(live_app)
    [sent] = fake_twilio.messages
    assert sent["status_callback"] == live_app.config["PUBLIC_BASE_URL"] + STATUS_PATH
    return str(sent["sid"])


def row_for(app: Flask, sid: str) -> OutboundMessage:
    [row] = [row for row in outbound(app) if row.twilio_sid == sid]
    return row


def events(app: Flask) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        found = db.session.scalars(select(DeliveryEvent).order_by(DeliveryEvent.id)).all()
        result = [(e.twilio_sid, e.status, e.error_code) for e in found]
        db.session.remove()
        return result


def callback(client: Any, sid: str, status: str | None, **extra: str) -> Any:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "To": MEMBER,
        "From": SMS_NUMBER,
        **extra,
    }
    if status is not None:
        params["MessageStatus"] = params["SmsStatus"] = status
    return signed_post(client, STATUS_PATH, params)


# --------------------------------------------------------------------------- forward only


def test_statuses_move_forward(app, client, live_app, fake_twilio):
    sid = acknowledged(client, live_app, fake_twilio)
    assert row_for(app, sid).status == "queued"

    assert fake_twilio.send_status(sid, "sent") == 204
    assert row_for(app, sid).status == "sent"
    assert fake_twilio.send_status(sid, "delivered") == 204
    row = row_for(app, sid)
    assert (row.status, row.error_code) == ("delivered", None)
    assert events(app) == [(sid, "sent", None), (sid, "delivered", None)]
    assert [c["http_status"] for c in fake_twilio.callbacks] == [204, 204]


def test_late_sent_after_delivered_does_not_move_back(app, client, live_app, fake_twilio):
    sid = acknowledged(client, live_app, fake_twilio)
    assert fake_twilio.send_status(sid, "delivered") == 204

    # Twilio does not promise order: "sent" and "queued" can arrive after "delivered".
    assert callback(client, sid, "sent").status_code == 204
    assert callback(client, sid, "queued").status_code == 204

    assert row_for(app, sid).status == "delivered"
    assert [e[1] for e in events(app)] == ["delivered", "sent", "queued"]


def test_whatsapp_read_after_delivered_moves_forward(app, client, live_app, fake_twilio):
    sid = acknowledged(client, live_app, fake_twilio, sender="whatsapp:" + MEMBER)
    assert fake_twilio.messages[0]["to"] == "whatsapp:" + MEMBER

    assert fake_twilio.send_status(sid, "delivered") == 204
    assert fake_twilio.send_status(sid, "read") == 204
    assert row_for(app, sid).status == "read"

    # A delivered that overtook nothing still cannot undo "read".
    assert callback(client, sid, "delivered").status_code == 204
    assert row_for(app, sid).status == "read"


@pytest.mark.parametrize(("status", "code"), [("failed", 30008), ("undelivered", 30005)])
def test_failure_keeps_the_error_code(app, client, live_app, fake_twilio, status, code):
    sid = acknowledged(client, live_app, fake_twilio)
    assert fake_twilio.send_status(sid, "sent") == 204
    assert fake_twilio.send_status(sid, status, error_code=code) == 204

    row = row_for(app, sid)
    assert (row.status, row.error_code) == (status, str(code))
    assert events(app)[-1] == (sid, status, str(code))

    # A stray late "delivered" does not turn a failure into a success.
    assert callback(client, sid, "delivered").status_code == 204
    assert row_for(app, sid).status == status


def test_status_names_are_case_insensitive(app, client, live_app, fake_twilio):
    sid = acknowledged(client, live_app, fake_twilio)
    assert callback(client, sid, "Delivered").status_code == 204
    assert row_for(app, sid).status == "delivered"


# --------------------------------------------------------------------------- early callbacks


def test_callback_for_an_unknown_sid_is_kept(app, client, fake_twilio):
    sid = random_sid("SM")
    response = callback(client, sid, "undelivered", ErrorCode="30003")

    assert response.status_code == 204
    assert events(app) == [(sid, "undelivered", "30003")]
    assert outbound(app) == []


def test_callback_that_overtakes_the_send_commit_is_applied(app, client, live_app, fake_twilio):
    """Twilio accepts, calls back, and only then does the worker store the SID."""
    response = send_sms(
        client, MEMBER, "Thank you for fixing the bench in the park.", process=False
    )
    assert response.status_code == 200
    # Twilio answers the create request late; its callbacks do not wait for that answer.
    fake_twilio.delay_seconds = 1.0

    def twilio_calls_back(seen: dict[str, Any]) -> None:
        [record] = fake_twilio.wait_for_messages(1, timeout=10)
        with live_app.app_context():
            seen["row_status"] = db.session.scalars(select(OutboundMessage.status)).one()
            seen["stored_sid"] = db.session.scalars(select(OutboundMessage.twilio_sid)).one()
            db.session.remove()
        seen["sent"] = fake_twilio.send_status(record["sid"], "sent")
        seen["delivered"] = fake_twilio.send_status(record["sid"], "delivered")

    seen = drain_while(live_app, twilio_calls_back)

    assert "error" not in seen, seen
    # The callbacks really came first: the row was still being sent, without a SID.
    assert (seen["row_status"], seen["stored_sid"]) == ("sending", None)
    assert (seen["sent"], seen["delivered"]) == (204, 204)
    [sent] = fake_twilio.messages
    [row] = outbound(app)
    assert row.twilio_sid == sent["sid"]
    assert row.status == "delivered"
    assert [e[1] for e in events(app)] == ["sent", "delivered"]


def test_early_failure_is_applied_with_its_error_code(app, client, live_app, fake_twilio):
    send_sms(client, MEMBER, "The crossing lights on Bridge Street are too short.", process=False)
    fake_twilio.delay_seconds = 1.0

    def twilio_calls_back(seen: dict[str, Any]) -> None:
        [record] = fake_twilio.wait_for_messages(1, timeout=10)
        seen["status"] = fake_twilio.send_status(record["sid"], "undelivered", 30006)

    seen = drain_while(live_app, twilio_calls_back)

    assert seen == {"status": 204}
    [row] = outbound(app)
    assert (row.status, row.error_code) == ("undelivered", "30006")


# --------------------------------------------------------------------------- refused


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        number = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
        return int(number or 0)


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "garbage!"])
def test_bad_signature_is_refused_and_nothing_stored(app, client, live_app, fake_twilio, signature):
    sid = acknowledged(client, live_app, fake_twilio)
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}

    response = signed_post(client, STATUS_PATH, params, signature=signature)

    assert response.status_code == 403
    assert count(app, DeliveryEvent) == 0
    assert row_for(app, sid).status == "queued"


def test_signature_for_other_params_is_refused(app, client, live_app, fake_twilio):
    sid = acknowledged(client, live_app, fake_twilio)
    signed_for = {"MessageSid": sid, "MessageStatus": "sent"}
    signature = sign_request(AUTH_TOKEN, PUBLIC_BASE_URL + STATUS_PATH, signed_for)
    tampered = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30008"}

    response = signed_post(client, STATUS_PATH, tampered, signature=signature)

    assert response.status_code == 403
    assert count(app, DeliveryEvent) == 0
    assert row_for(app, sid).status == "queued"


@pytest.mark.parametrize("status", [None, "", "exploded"])
def test_missing_or_unknown_status_is_400(app, client, status):
    response = callback(client, random_sid("SM"), status)

    assert response.status_code == 400
    assert "MessageStatus is missing or unknown" in response.get_data(as_text=True)
    assert count(app, DeliveryEvent) == 0


@pytest.mark.parametrize("sid", ["", "   ", "SM" + "a" * 80])
def test_missing_or_overlong_sid_is_400(app, client, sid):
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    response = signed_post(client, STATUS_PATH, params)

    assert response.status_code == 400
    assert "MessageSid" in response.get_data(as_text=True)
    assert count(app, DeliveryEvent) == 0


# --------------------------------------------------------------------------- database down

UNREACHABLE_DATABASE = "postgresql+psycopg://127.0.0.1:9/nothing"  # nothing listens on 9


def test_callback_during_a_database_outage_is_kept_and_applied_later(
    app, client, make_app, fake_twilio
):
    send_sms(client, MEMBER, "The bus shelter on Station Road has no roof.")
    [sent] = fake_twilio.messages
    down = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASE)

    response = callback(down.test_client(), sent["sid"], "delivered")

    assert response.status_code == 204
    [row] = outbound(app)
    assert row.status == "queued"  # not applied yet: the database was down
    with app.app_context():
        assert sweep()["statuses_applied"] == 1
        assert sweep()["statuses_applied"] == 0  # applied once
    [row] = outbound(app)
    assert row.status == "delivered"
    assert events(app) == [(sent["sid"], "delivered", None)]


def test_callback_with_database_and_redis_down_says_so(make_app, fake_twilio):
    make_app()
    down = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_DATABASE, REDIS_URL="redis://127.0.0.1:1/0")
    response = callback(down.test_client(), random_sid("SM"), "delivered")
    assert response.status_code == 503
    assert "database is unavailable" in response.get_data(as_text=True)


def test_an_early_whatsapp_failure_still_owes_the_sms_fallback(app, client, live_app, fake_twilio):
    """The failure callback overtakes the send job's commit: the job applies it when it
    stores the SID, and that includes owing the SMS version to a member who also texts."""
    whatsapp = f"whatsapp:{MEMBER}"
    send_sms(client, MEMBER, "The bus shelter on Mill Road has no roof.")
    drain(live_app)
    send_sms(client, whatsapp, "And the timetable is missing too.", process=False)
    fake_twilio.delay_seconds = 1.0

    def twilio_calls_back(seen: dict[str, Any]) -> None:
        record = fake_twilio.wait_for_messages(2, timeout=10)[-1]
        seen["to"] = record["to"]
        seen["status"] = fake_twilio.send_status(record["sid"], "undelivered", 63024)

    seen = drain_while(live_app, twilio_calls_back)
    fake_twilio.delay_seconds = 0.0
    drain(live_app)

    assert seen == {"to": whatsapp, "status": 204}
    with app.app_context():
        fallback = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.fallback_of_id.is_not(None))
        ).one()
        original = db.session.get(OutboundMessage, fallback.fallback_of_id)
        assert (original.channel, original.status) == ("whatsapp", "undelivered")
        assert (fallback.channel, fallback.status) == ("sms", "queued")
        body = original.body
    assert [m["body"] for m in fake_twilio.messages_to(MEMBER)][-1] == body
