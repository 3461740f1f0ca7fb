"""The phone simulator: the same intake as the webhook, replies as the real worker sent them."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from feedback_bot import clock, loop
from feedback_bot.config import defaults
from feedback_bot.extensions import db
from feedback_bot.models import Decision, FeedbackItem, InboundMedia, InboundMessage

from .conftest import SMS_NUMBER, WHATSAPP_NUMBER, drain, outbound

MEMBER = "+447911123456"
# A 1x1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
OGG = b"OggS" + bytes(60)


@pytest.fixture
def sim_app(make_app: Any, tmp_path: Any) -> Flask:
    """Development as people run it: simulator on, no Twilio account, console transport."""
    app: Flask = make_app(
        SIMULATOR_ENABLED=True,
        TWILIO_ACCOUNT_SID=None,
        TWILIO_AUTH_TOKEN=None,
        SIMULATOR_MEDIA_DIR=str(tmp_path / "simulator-media"),
    )
    return app


@pytest.fixture
def sim(sim_app: Flask) -> FlaskClient:
    return sim_app.test_client()


def publish_about_the_lift(app) -> None:
    """Staff link the only feedback to a decision about the lift, and publish it."""
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        decision = Decision(title="Lift", summary="We will repair the lift by Friday.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, [item])
        loop.publish(decision)
        db.session.remove()


def post(client: FlaskClient, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    """POST the page's form. Encoded in memory: for a large body Werkzeug's test client would
    spool to a temporary file it never closes (a ResourceWarning, an error under -W error)."""
    values = {"channel": "sms", "number": MEMBER, "body": "", **fields}
    if "media" in values:
        stream, filename, content_type = values.pop("media")
        values["media"] = FileStorage(stream, filename=filename, content_type=content_type)
    boundary, body = encode_multipart(values)
    return client.post(
        "/simulator/send",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=headers or {},
    )


def conversation(client: FlaskClient, number: str = MEMBER, channel: str = "sms") -> Any:
    response = client.get(
        "/simulator/conversation", query_string={"number": number, "channel": channel}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def item_refs(app: Flask) -> list[str]:
    with app.app_context():
        refs = [
            item.ref for item in db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id))
        ]
        db.session.remove()
        return refs


def test_page_renders_with_the_console_transport(sim: FlaskClient) -> None:
    response = sim.get("/simulator/")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Development simulator — messages are not really sent" in html
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)
    assert "Transport: <strong>console</strong>" in html
    assert f'value="{MEMBER}"' in html
    assert 'dir="auto"' in html
    assert 'data-send-url="/simulator/send"' in html
    assert f'data-address-sms="{SMS_NUMBER}"' in html
    assert f'data-address-whatsapp="{WHATSAPP_NUMBER}"' in html
    for asset in ("simulator/simulator.js", "simulator/simulator.css"):
        assert f"/static/{asset}" in html
        static = sim.get(f"/static/{asset}")
        assert static.status_code == 200
        static.close()
    assert "cdn" not in html.lower()


def test_page_warns_when_replies_would_really_be_sent(make_app: Any) -> None:
    app = make_app(SIMULATOR_ENABLED=True)  # the conftest's Twilio account is configured

    html = app.test_client().get("/simulator/").get_data(as_text=True)

    assert "Transport: <strong>twilio</strong>" in html
    assert "replies are really sent" in html
    assert "messages are not really sent" not in html


def test_a_message_is_stored_acknowledged_and_shown_once_the_worker_sent_it(
    sim_app: Flask, sim: FlaskClient
) -> None:
    response = post(sim, body="The lift in Block C has been broken for two weeks.")

    assert response.status_code == 200, response.get_data(as_text=True)
    sent = response.get_json()
    assert sent["ok"] is True
    assert re.fullmatch(r"SM[0-9a-f]{32}", sent["message_sid"])
    assert sent["disposition"] == "feedback"
    assert sent["owed"] == 1
    [ref] = item_refs(sim_app)
    assert sent["ref"] == ref
    with sim_app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()
        assert message.message_sid == sent["message_sid"]
        assert message.to_address == SMS_NUMBER
        assert message.channel == "sms"
        db.session.remove()
    [row] = outbound(sim_app)
    assert (row.kind, row.status, row.channel) == ("ack", "pending", "sms")

    # Owed but not yet sent: the member's bubble only, and the worker has one to send.
    before = conversation(sim)
    assert [m["direction"] for m in before["messages"]] == ["in"]
    assert before["pending"] == 1
    assert before["transport"] == "console"

    drain(sim_app)

    after = conversation(sim)
    assert after["pending"] == 0
    mine, reply = after["messages"]
    assert mine["direction"] == "in"
    assert mine["body"] == "The lift in Block C has been broken for two weeks."
    assert mine["ref"] == ref
    assert reply["direction"] == "out"
    assert reply["kind"] == "ack"
    assert reply["status"] == "delivered"  # what the console transport reports
    assert f"Ref {ref}" in reply["body"]
    assert reply["ref"] == ref
    assert reply["time"] >= mine["time"]
    [row] = outbound(sim_app)
    assert row.twilio_sid.startswith("SMconsole")


def test_whatsapp_uses_our_whatsapp_address_and_its_own_conversation(
    sim_app: Flask, sim: FlaskClient
) -> None:
    response = post(sim, channel="whatsapp", body="مرحبا، المصعد معطل 🛗🙏")
    assert response.status_code == 200, response.get_data(as_text=True)

    with sim_app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()
        assert (message.channel, message.to_address) == ("whatsapp", WHATSAPP_NUMBER)
        db.session.remove()
    drain(sim_app)

    whatsapp = conversation(sim, channel="whatsapp")
    mine, reply = whatsapp["messages"]
    assert mine["body"] == "مرحبا، المصعد معطل 🛗🙏"  # right-to-left text and emoji intact
    assert reply["kind"] == "ack"
    assert whatsapp["contact"]["locale"] == "ar"
    assert conversation(sim, channel="sms")["messages"] == []


def test_numbers_are_accepted_as_people_type_them(sim_app: Flask, sim: FlaskClient) -> None:
    assert post(sim, number="+44 7911 123456", body="hello there neighbours").status_code == 200
    drain(sim_app)

    shown = conversation(sim, number="+44 7911-123456")
    assert shown["number"] == MEMBER
    assert len(shown["messages"]) == 2


def test_a_photo_round_trips(sim_app: Flask, sim: FlaskClient) -> None:
    response = post(sim, media=(io.BytesIO(PNG), "broken-window.png", "image/png"))

    assert response.status_code == 200, response.get_data(as_text=True)
    with sim_app.app_context():
        media = db.session.scalars(select(InboundMedia)).one()
        url, content_type = media.source_url, media.content_type
        db.session.remove()
    assert content_type == "image/png"
    assert url.startswith("http://localhost/simulator/media/")
    served = sim.get(urlsplit(url).path)
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.data == PNG
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    served.close()

    drain(sim_app)
    mine, reply = conversation(sim)["messages"]
    assert mine["media"] == [{"url": url, "content_type": "image/png"}]
    assert mine["body"] == ""
    assert reply["kind"] == "ack_photo"
    assert "your photo" in reply["body"]


def test_a_voice_note_round_trips_even_without_a_content_type(
    sim_app: Flask, sim: FlaskClient
) -> None:
    # Some browsers send .ogg files as application/octet-stream; the name tells.
    response = post(sim, media=(io.BytesIO(OGG), "note.ogg", "application/octet-stream"))

    assert response.status_code == 200, response.get_data(as_text=True)
    drain(sim_app)
    mine, reply = conversation(sim)["messages"]
    [attached] = mine["media"]
    assert attached["content_type"] == "audio/ogg"
    served = sim.get(urlsplit(attached["url"]).path)
    assert (served.mimetype, served.data) == ("audio/ogg", OGG)
    served.close()
    assert reply["kind"] == "ack_voice"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"number": "12345", "body": "hi"}, "number", "international format"),
        ({"number": "+4412", "body": "hi"}, "number", "not a valid phone number"),
        ({"number": "", "body": "hi"}, "number", "Enter your phone number"),
        ({"body": "   "}, "body", "Type a message or attach"),
        ({"channel": "pigeon", "body": "hi"}, "channel", "SMS or WhatsApp"),
        ({"body": "x" * 10_001}, "body", "at most 10000 characters"),
        (
            {"media": (io.BytesIO(b"<script>alert(1)</script>"), "page.html", "text/html")},
            "media",
            "Attach a photo",
        ),
        ({"media": (io.BytesIO(b""), "empty.png", "image/png")}, "media", "empty"),
        (
            {"media": (io.BytesIO(b"\0" * (5 * 1024 * 1024 + 1)), "big.png", "image/png")},
            "media",
            "larger than 5 MB",
        ),
        (
            # Far past the request limit: refused while the form is read, still as JSON.
            {"media": (io.BytesIO(b"\0" * (7 * 1024 * 1024)), "huge.png", "image/png")},
            "media",
            "larger than 5 MB",
        ),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(
    sim_app: Flask, sim: FlaskClient, fields: dict[str, Any], field: str, message: str
) -> None:
    response = post(sim, **fields)

    assert response.status_code == 400
    assert response.is_json
    assert response.get_json()["field"] == field
    assert message in response.get_json()["error"]
    with sim_app.app_context():
        assert db.session.scalars(select(InboundMessage)).all() == []
        db.session.remove()
    assert outbound(sim_app) == []


def test_a_file_just_under_the_limit_is_accepted(sim_app: Flask, sim: FlaskClient) -> None:
    data = PNG + b"\0" * (5 * 1024 * 1024 - len(PNG))
    response = post(sim, body="see photo", media=(io.BytesIO(data), "big.png", "image/png"))

    assert response.status_code == 200, response.get_data(as_text=True)


def test_the_conversation_refuses_an_invalid_number(sim: FlaskClient) -> None:
    response = sim.get("/simulator/conversation", query_string={"number": "hello"})

    assert response.status_code == 400
    assert response.get_json()["field"] == "number"


def test_a_new_number_has_an_empty_conversation(sim: FlaskClient) -> None:
    shown = conversation(sim, number="+447400123456")

    assert shown == {
        "number": "+447400123456",
        "channel": "sms",
        "transport": "console",
        "contact": None,
        "forgotten": False,
        "messages": [],
        "pending": 0,
        "scheduled": [],
    }


def test_keywords_are_answered_through_the_simulator_too(sim_app: Flask, sim: FlaskClient) -> None:
    assert post(sim, body="HELP").get_json()["disposition"] == "keyword"
    drain(sim_app)

    mine, reply = conversation(sim)["messages"]
    assert mine["disposition"] == "keyword"
    assert reply["kind"] == "help"
    assert "Riverside Council" in reply["body"]


def test_after_forget_the_phone_still_shows_the_conversation_and_the_confirmation(
    sim_app: Flask, sim: FlaskClient
) -> None:
    """FORGET leaves nothing that leads from the number to the member; the phone keeps
    what it showed, so the member reads the last message we send them, as on a real one."""
    post(sim, body="The lift in Block C has been broken for two weeks.")
    drain(sim_app)
    watching = sim_app.test_client()  # another browser, that only looked at this number
    assert len(conversation(watching)["messages"]) == 2

    # The first thing this number says in a second browser: nothing polled it there yet.
    elsewhere = sim_app.test_client()
    assert post(elsewhere, body="FORGET").get_json()["disposition"] == "keyword"
    drain(sim_app)

    for browser in (sim, watching, elsewhere):
        shown = conversation(browser)
        assert shown["contact"] is None
        assert shown["forgotten"] is True
        assert shown["pending"] == 0
        feedback, ack, forget, confirmation = shown["messages"]
        # Our side erased what they sent; they still read what we sent them.
        assert (feedback["direction"], feedback["body"], feedback["erased"]) == ("in", None, True)
        assert (forget["direction"], forget["body"], forget["erased"]) == ("in", None, True)
        assert ack["kind"] == "ack"
        assert confirmation["kind"] == "forget"
        assert confirmation["status"] == "delivered"
        assert confirmation["body"].startswith("We have erased your phone number")

    # A browser that never saw the member finds nothing: the number leads nowhere.
    assert conversation(sim_app.test_client())["messages"] == []

    # Writing again starts afresh, under the old conversation.
    post(sim, body="Hello again, it is about the bins this time.")
    drain(sim_app)
    again = conversation(sim)
    assert again["contact"] is not None
    assert again["forgotten"] is True
    *old, hello, ack = again["messages"]
    assert [m["direction"] for m in old] == ["in", "out", "in", "out"]
    assert hello["body"] == "Hello again, it is about the bins this time."
    assert ack["kind"] == "ack" and ack["ref"] == hello["ref"] != old[1]["ref"]


def test_a_reply_held_for_quiet_hours_says_until_when(make_app: Any, tmp_path: Any) -> None:
    """A "what happened next" at night where the member lives is put back, not lost: the
    page says until when, instead of asking whether the worker runs."""
    app = make_app(
        SIMULATOR_ENABLED=True,
        TWILIO_ACCOUNT_SID=None,
        TWILIO_AUTH_TOKEN=None,
        SIMULATOR_MEDIA_DIR=str(tmp_path / "simulator-media"),
        QUIET_HOURS_START=10,
        QUIET_HOURS_END=14,
    )
    clock.freeze(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))  # noon in London, in quiet hours
    sim = app.test_client()
    post(sim, body="The lift in Block C has been broken for two weeks.")
    drain(app)  # the acknowledgement answers them, so it goes at once
    assert conversation(sim)["scheduled"] == []
    publish_about_the_lift(app)
    drain(app)

    shown = conversation(sim)

    assert shown["pending"] == 1
    assert shown["scheduled"] == [
        {"kind": "what_next", "at": "2026-12-07T14:00:00+00:00", "reason": "quiet hours"}
    ]


@pytest.mark.parametrize(
    "name", ["nothing.png", "../secret_key", "0" * 32 + ".html", "0" * 32 + ".png"]
)
def test_media_serves_only_stored_uploads(sim: FlaskClient, name: str) -> None:
    assert sim.get(f"/simulator/media/{name}").status_code == 404


def test_a_server_failure_is_answered_as_json(
    make_app: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(
        SIMULATOR_ENABLED=True,
        TWILIO_ACCOUNT_SID=None,
        TWILIO_AUTH_TOKEN=None,
        PROPAGATE_EXCEPTIONS=False,  # as outside tests: unhandled errors become a 500
        SIMULATOR_MEDIA_DIR=str(tmp_path / "simulator-media"),
    )
    from feedback_bot.simulator import routes

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database schema is behind")

    monkeypatch.setattr(routes, "vault", broken)

    response = app.test_client().get("/simulator/conversation", query_string={"number": MEMBER})

    assert response.status_code == 500
    assert "RuntimeError" in response.get_json()["error"]


def test_csrf_is_enforced(make_app: Any, tmp_path: Any) -> None:
    app = make_app(
        SIMULATOR_ENABLED=True,
        TWILIO_ACCOUNT_SID=None,
        TWILIO_AUTH_TOKEN=None,
        WTF_CSRF_ENABLED=True,
        SIMULATOR_MEDIA_DIR=str(tmp_path / "simulator-media"),
    )
    client = app.test_client()

    refused = post(client, body="hello")
    assert refused.status_code == 400
    assert "CSRF token is missing" in refused.get_json()["error"]

    page = client.get("/simulator/").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match is not None
    token = match.group(1)
    forged = post(client, body="hello", headers={"X-CSRFToken": token + "x"})
    assert forged.status_code == 400
    assert outbound(app) == []

    accepted = post(client, body="hello", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert len(outbound(app)) == 1


def test_the_simulator_is_not_there_in_production(app: Flask, client: FlaskClient) -> None:
    assert defaults()["SIMULATOR_ENABLED"] is False
    assert not app.config["SIMULATOR_ENABLED"]
    assert "simulator" not in app.blueprints
    assert client.get("/simulator/").status_code == 404
    assert client.post("/simulator/send", data={"number": MEMBER, "body": "hi"}).status_code == 404
    assert client.get("/simulator/conversation", query_string={"number": MEMBER}).status_code == 404
