"""The inbound webhook under hostile, broken and merely unusual input: never a 500."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    Contact,
    DeliveryEvent,
    Disposition,
    FeedbackItem,
    InboundMedia,
    InboundMessage,
    OutboundMessage,
)
from feedback_bot.testing.fake_twilio import random_sid, sign_request

from .conftest import (
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    drain,
    outbound,
    send_sms,
    signed_post,
    twilio_params,
)

MEMBER = "+447911123456"
PATH = "/webhooks/twilio/messages"
URL = PUBLIC_BASE_URL + PATH
PHOTO = ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")
VOICE = ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", "audio/ogg")
ALL_MODELS = (Contact, FeedbackItem, InboundMessage, InboundMedia, OutboundMessage, DeliveryEvent)


@pytest.fixture(autouse=True)
def never_500(app: Flask) -> Iterator[None]:
    """Whatever a test in this module sends, the app must not fail with a server error."""
    statuses: list[int] = []

    def record(response: Any) -> Any:
        statuses.append(response.status_code)
        return response

    app.after_request(record)
    yield
    assert all(status < 500 for status in statuses), statuses


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        found = {
            model.__tablename__: int(db.session.scalar(select(func.count()).select_from(model)))
            for model in ALL_MODELS
        }
        db.session.remove()
        return found


NOTHING = dict.fromkeys(
    (
        "contact",
        "feedback_item",
        "inbound_message",
        "inbound_media",
        "outbound_message",
        "delivery_event",
    ),
    0,
)


def rows(app: Flask, model: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(select(model).order_by(model.id)))
        db.session.expunge_all()
        return found


def rendered(app: Flask, kind: str, locale: str = "en", **values: Any) -> str:
    with app.app_context():
        return render(kind, locale, **values)


def post_pairs(client: FlaskClient, pairs: Sequence[tuple[str, str]]) -> Any:
    """POST form pairs (repeats allowed), signed over exactly what Flask will decode."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(URL, MultiDict(list(pairs)))
    return client.post(
        PATH,
        data=urlencode(list(pairs)),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


# --------------------------------------------------------------------------- signatures


def test_missing_signature_is_403(app, client):
    params = twilio_params(MEMBER, "Hello")
    response = client.post(PATH, data=params)

    assert response.status_code == 403
    assert "signature" in response.get_data(as_text=True)
    assert counts(app) == NOTHING


@pytest.mark.parametrize("signature", ["", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "é🙂"])
def test_wrong_signature_is_403(app, client, signature):
    response = signed_post(client, PATH, twilio_params(MEMBER, "Hello"), signature=signature)

    assert response.status_code == 403
    assert counts(app) == NOTHING


def test_signature_made_with_another_token_is_403(app, client):
    params = twilio_params(MEMBER, "Hello")
    signature = sign_request("some-other-auth-token", URL, params)
    response = signed_post(client, PATH, params, signature=signature)

    assert response.status_code == 403
    assert counts(app) == NOTHING


def test_signature_for_other_params_is_403(app, client, fake_twilio):
    params = twilio_params(MEMBER, "Hello")
    signature = sign_request(AUTH_TOKEN, URL, params)
    tampered = {**params, "Body": "STOP"}

    response = signed_post(client, PATH, tampered, signature=signature)

    assert response.status_code == 403
    assert counts(app) == NOTHING


def test_signature_for_another_url_is_403(app, client):
    params = twilio_params(MEMBER, "Hello")
    signature = sign_request(AUTH_TOKEN, PUBLIC_BASE_URL + "/webhooks/twilio/status", params)

    response = signed_post(client, PATH, params, signature=signature)

    assert response.status_code == 403
    assert counts(app) == NOTHING


def test_unset_auth_token_refuses_everything(make_app):
    app = make_app(TWILIO_AUTH_TOKEN="")
    response = send_sms(app.test_client(), MEMBER, "Hello")

    assert response.status_code == 403
    assert counts(app) == NOTHING


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("MessageSid", "MessageSid is missing or malformed"),
        ("From", "From is missing"),
        ("To", "To is missing"),
    ],
)
def test_missing_field_is_400_and_says_which(app, client, missing, message):
    params = twilio_params(MEMBER, "Hello")
    del params[missing]

    response = signed_post(client, PATH, params)

    assert response.status_code == 400
    assert response.get_data(as_text=True) == f"400 Bad Request: {message}\n"
    assert counts(app) == NOTHING


@pytest.mark.parametrize(
    "sid",
    [
        "SM123",
        "sm" + "a" * 32,
        "SM" + "g" * 32,
        "SM" + "a" * 33,
        "SM" + "a" * 31 + "\n",
        "'; DROP TABLE inbound_message; --",
    ],
)
def test_malformed_message_sid_is_400(app, client, sid):
    response = signed_post(client, PATH, twilio_params(MEMBER, "Hello", sid=sid))

    assert response.status_code == 400
    assert "MessageSid" in response.get_data(as_text=True)
    assert counts(app) == NOTHING


def test_body_over_the_limit_is_413(app, client):
    limit = app.config["MAX_INBOUND_BODY_CHARS"]
    response = send_sms(client, MEMBER, "a" * (limit + 1))

    assert response.status_code == 413
    assert f"longer than {limit} characters" in response.get_data(as_text=True)
    assert counts(app) == NOTHING


def test_body_at_the_limit_is_accepted(make_app, fake_twilio):
    app = make_app(MAX_INBOUND_BODY_CHARS=50)
    client = app.test_client()

    assert send_sms(client, MEMBER, "b" * 51).status_code == 413
    assert send_sms(client, MEMBER, "b" * 50).status_code == 200
    [message] = rows(app, InboundMessage)
    assert message.body == "b" * 50


def test_request_over_the_content_limit_is_413(make_app):
    app = make_app(WEBHOOK_MAX_CONTENT_LENGTH=4096)
    params = twilio_params(MEMBER, "Hello", Padding="p" * 5000)

    response = signed_post(app.test_client(), PATH, params)

    assert response.status_code == 413
    assert counts(app) == NOTHING


def test_request_over_the_default_content_limit_is_413(app, client):
    params = twilio_params(MEMBER, "Hello", Padding="p" * app.config["WEBHOOK_MAX_CONTENT_LENGTH"])

    response = signed_post(client, PATH, params)

    assert response.status_code == 413
    assert counts(app) == NOTHING


def test_invalid_utf8_is_not_a_server_error(app, client, fake_twilio):
    params = twilio_params(MEMBER, "placeholder")
    raw = urlencode({k: v for k, v in params.items() if k != "Body"}) + "&Body=caf%E9+%FF%FEok"
    # Sign what Flask decodes from those bytes, as a proxy re-encoding them would.
    with app.test_request_context(
        PATH, method="POST", data=raw, content_type="application/x-www-form-urlencoded"
    ):
        from flask import request

        decoded = request.form.to_dict()
    assert decoded["Body"] != "placeholder"

    response = client.post(
        PATH,
        data=raw,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign_request(AUTH_TOKEN, URL, decoded)},
    )

    assert response.status_code == 200
    [message] = rows(app, InboundMessage)
    assert message.body == decoded["Body"]
    drain(app)
    assert len(fake_twilio.messages) == 1


@pytest.mark.parametrize(
    ("num_media", "message"),
    [
        ("abc", "NumMedia must be a whole number"),
        ("-1", "NumMedia must be a whole number"),
        ("\u0661", "NumMedia must be a whole number"),  # an Arabic-Indic one
        ("11", "NumMedia is more than 10"),
        ("99999999999999999999999", "NumMedia is more than 10"),
    ],
)
def test_bad_num_media_is_400(app, client, num_media, message):
    params = twilio_params(MEMBER, "Hello", media=[PHOTO])
    params["NumMedia"] = num_media

    response = signed_post(client, PATH, params)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert counts(app) == NOTHING


@pytest.mark.parametrize(
    ("url", "content_type", "message"),
    [
        ("", "image/jpeg", "MediaUrl0 is missing or not a URL"),
        ("javascript:alert(1)", "image/jpeg", "MediaUrl0 is missing or not a URL"),
        (PHOTO[0], "", "MediaContentType0 is missing or malformed"),
        (PHOTO[0], "image", "MediaContentType0 is missing or malformed"),
    ],
)
def test_bad_media_is_400(app, client, url, content_type, message):
    response = signed_post(client, PATH, twilio_params(MEMBER, "", media=[(url, content_type)]))

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert counts(app) == NOTHING


def test_ten_media_are_accepted(app, client):
    media = [(f"{PHOTO[0]}{n}", "image/png") for n in range(10)]
    assert send_sms(client, MEMBER, "", media=media).status_code == 200

    stored = rows(app, InboundMedia)
    assert [(m.position, m.source_url, m.content_type) for m in stored] == [
        (n, url, kind) for n, (url, kind) in enumerate(media)
    ]


# --------------------------------------------------------------------------- unusual content


@pytest.mark.parametrize(
    ("media", "kind"),
    [([PHOTO], "ack_photo"), ([VOICE], "ack_voice"), ([PHOTO, VOICE], "ack_voice")],
)
def test_media_only_message_is_acknowledged_for_what_it_is(app, client, fake_twilio, media, kind):
    assert send_sms(client, MEMBER, "", media=media).status_code == 200
    drain(app)

    [item] = rows(app, FeedbackItem)
    [message] = rows(app, InboundMessage)
    assert (message.body, message.num_media, message.item_id) == ("", len(media), item.id)
    assert [m.content_type for m in rows(app, InboundMedia)] == [t for _, t in media]
    [sent] = fake_twilio.messages
    assert sent["body"] == rendered(app, kind, days=21, ref=item.ref)
    assert [row.kind for row in outbound(app)] == [kind]


def test_text_with_a_photo_gets_the_text_acknowledgement(app, client, fake_twilio):
    send_sms(client, MEMBER, "Look at this broken fence.", media=[PHOTO])
    drain(app)

    [item] = rows(app, FeedbackItem)
    [sent] = fake_twilio.messages
    assert sent["body"] == rendered(app, "ack", days=21, ref=item.ref)


def test_empty_message_is_acknowledged(app, client, fake_twilio):
    assert send_sms(client, MEMBER, "").status_code == 200
    drain(app)

    [item] = rows(app, FeedbackItem)
    [message] = rows(app, InboundMessage)
    assert (message.body, message.disposition) == ("", Disposition.FEEDBACK)
    [sent] = fake_twilio.messages
    assert sent["body"] == rendered(app, "ack", days=21, ref=item.ref)


def test_long_message_is_stored_in_full_and_acknowledged_once(app, client, fake_twilio):
    sentence = "The drains on Canal Street overflow whenever it rains, and nobody comes. "
    body = (sentence * 30)[:1600]
    assert len(body) == 1600

    assert send_sms(client, MEMBER, body).status_code == 200
    drain(app)

    [message] = rows(app, InboundMessage)
    assert message.body == body
    assert len(fake_twilio.messages) == 1
    assert [row.kind for row in outbound(app)] == ["ack"]


@pytest.mark.parametrize(
    "body",
    [
        "👍",
        "🙏🏽🙏🏽",
        "👨‍👩‍👧‍👦 🏳️‍🌈",
        "المصعد في المبنى ج معطل منذ أسبوعين، أرجو المساعدة.",
        "ہماری گلی کی بتی دو ہفتوں سے خراب ہے\u06d4",
        "Lift ‏المصعد‎ broken\u202e reversed\u202c",
        "  leading and trailing spaces \n\n",
        "naïve café — “quotes” ½ ﬁ",
    ],
)
def test_unusual_text_is_stored_exactly(app, client, body):
    assert send_sms(client, MEMBER, body).status_code == 200

    [message] = rows(app, InboundMessage)
    assert message.body == body
    assert message.disposition == Disposition.FEEDBACK
    assert [row.kind for row in outbound(app)] == ["ack"]


def test_right_to_left_text_is_acknowledged_in_its_language(app, client, fake_twilio):
    body = "المصعد في المبنى ج معطل منذ أسبوعين، أرجو المساعدة."
    assert send_sms(client, MEMBER, body).status_code == 200
    drain(app)

    [item] = rows(app, FeedbackItem)
    [sent] = fake_twilio.messages
    assert sent["body"] == rendered(app, "ack", "ar", days=21, ref=item.ref)


def test_nul_characters_are_dropped(app, client):
    assert send_sms(client, MEMBER, "bro\x00ken\x00").status_code == 200

    [message] = rows(app, InboundMessage)
    assert message.body == "broken"


# --------------------------------------------------------------------------- who and where


@pytest.mark.parametrize("to", ["+441632960999", "whatsapp:+441632960000", "+15005550006"])
def test_message_to_a_number_not_ours_is_kept_and_never_answered(app, client, fake_twilio, to):
    assert send_sms(client, MEMBER, "Hello, is this the council?", to=to).status_code == 200
    drain(app)

    [message] = rows(app, InboundMessage)
    assert (message.disposition, message.to_address) == (Disposition.NOT_OURS, to)
    assert message.body == "Hello, is this the council?"
    assert message.contact_id is None
    assert rows(app, Contact) == []
    assert rows(app, FeedbackItem) == []
    assert outbound(app) == []
    assert fake_twilio.messages == []


@pytest.mark.parametrize(
    "sender", ["ACME", "12345", "+447700900123", "+1", "whatsapp:ACME", "+999123456789"]
)
def test_invalid_sender_is_kept_and_never_messaged(app, client, fake_twilio, sender):
    assert send_sms(client, sender, "Your parcel is waiting").status_code == 200
    drain(app)

    [message] = rows(app, InboundMessage)
    assert message.disposition == Disposition.INVALID_SENDER
    assert message.body == "Your parcel is waiting"
    assert rows(app, Contact) == []
    assert outbound(app) == []
    assert fake_twilio.messages == []


def test_invalid_sender_sending_a_keyword_is_never_messaged(app, client, fake_twilio):
    assert send_sms(client, "ACME", "HELP").status_code == 200
    drain(app)

    [message] = rows(app, InboundMessage)
    assert message.disposition == Disposition.INVALID_SENDER
    assert fake_twilio.messages == []


# --------------------------------------------------------------------------- duplicates


@pytest.mark.parametrize("deliveries", [2, 3])
def test_duplicate_delivery_stores_once_and_acknowledges_once(app, client, fake_twilio, deliveries):
    params = twilio_params(MEMBER, "The library closes too early on Saturdays.")
    for _ in range(deliveries):
        response = signed_post(client, PATH, params)
        assert response.status_code == 200
    drain(app)
    # Twilio may retry again after we answered the member.
    assert signed_post(client, PATH, params).status_code == 200
    drain(app)

    [message] = rows(app, InboundMessage)
    assert message.message_sid == params["MessageSid"]
    assert len(rows(app, FeedbackItem)) == 1
    assert len(fake_twilio.messages) == 1
    assert [row.kind for row in outbound(app)] == ["ack"]


def test_duplicate_keyword_is_answered_once(app, client, fake_twilio):
    params = twilio_params(MEMBER, "STOP")
    for _ in range(3):
        assert signed_post(client, PATH, params).status_code == 200
    drain(app)

    assert [m["body"] for m in fake_twilio.messages] == [
        rendered(app, "stop", org=app.config["ORG_NAME"])
    ]


def test_sms_message_sid_alone_is_accepted(app, client, fake_twilio):
    params = twilio_params(MEMBER, "Old-style webhook")
    params["SmsMessageSid"] = params.pop("MessageSid")

    assert signed_post(client, PATH, params).status_code == 200
    [message] = rows(app, InboundMessage)
    assert message.message_sid == params["SmsMessageSid"]


# --------------------------------------------------------------------------- coalescing


def test_messages_in_quick_succession_join_one_item(app, client, fake_twilio):
    start = clock.now()
    parts = ["The lift in Block C", "is broken again", "since Monday."]
    for offset, part in enumerate(parts):
        clock.freeze(start + timedelta(seconds=30 * offset))
        assert send_sms(client, MEMBER, part).status_code == 200
    drain(app)

    [item] = rows(app, FeedbackItem)
    messages = rows(app, InboundMessage)
    assert [(m.body, m.item_id) for m in messages] == [(p, item.id) for p in parts]
    [sent] = fake_twilio.messages
    assert sent["body"] == rendered(app, "ack", days=21, ref=item.ref)

    # Outside the window (counted from the last message) a new item starts.
    clock.freeze(start + timedelta(seconds=60 + app.config["ACK_COALESCE_SECONDS"] + 1))
    send_sms(client, MEMBER, "Also the stairwell light is out.")
    drain(app)
    assert len(rows(app, FeedbackItem)) == 2
    assert len(fake_twilio.messages) == 2


def test_messages_join_even_when_the_first_was_already_acknowledged(app, client, fake_twilio):
    send_sms(client, MEMBER, "The lift in Block C")
    drain(app)
    send_sms(client, MEMBER, "is broken again.")
    drain(app)

    [item] = rows(app, FeedbackItem)
    assert {m.item_id for m in rows(app, InboundMessage)} == {item.id}
    assert len(fake_twilio.messages) == 1


def test_without_a_coalescing_window_each_message_is_its_own_item(make_app, fake_twilio):
    app = make_app(ACK_COALESCE_SECONDS=0)
    client = app.test_client()
    parts = ["The lift in Block C", "is broken again", "since Monday."]
    for part in parts:
        assert send_sms(client, MEMBER, part).status_code == 200
    drain(app)

    items = rows(app, FeedbackItem)
    assert len(items) == 3
    assert [m.item_id for m in rows(app, InboundMessage)] == [i.id for i in items]
    assert sorted(m["body"] for m in fake_twilio.messages) == sorted(
        rendered(app, "ack", days=21, ref=i.ref) for i in items
    )


def test_sms_and_whatsapp_are_separate_items(app, client, fake_twilio):
    send_sms(client, MEMBER, "Sent by text.")
    send_sms(client, "whatsapp:" + MEMBER, "Sent on WhatsApp.")
    drain(app)

    assert len(rows(app, Contact)) == 1
    assert sorted(i.channel for i in rows(app, FeedbackItem)) == ["sms", "whatsapp"]
    assert sorted(m["to"] for m in fake_twilio.messages) == [MEMBER, "whatsapp:" + MEMBER]


# --------------------------------------------------------------------------- sweep


def _params(**changes: str | None) -> list[tuple[str, str]]:
    base = twilio_params(MEMBER, "Hello")
    for key, value in changes.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return list(base.items())


ODD_INPUTS: dict[str, list[tuple[str, str]]] = {
    "empty form": [],
    "only a sid": [("MessageSid", random_sid("SM"))],
    "empty from": _params(From=""),
    "blank from": _params(From="   "),
    "plus only": _params(From="+"),
    "whatsapp prefix only": _params(From="whatsapp:"),
    "whatsapp uppercase": _params(From="WhatsApp:" + MEMBER, To="whatsapp:+441632960001"),
    "tel uri": _params(From="tel:" + MEMBER),
    "from with newline": _params(From=MEMBER + "\n"),
    "overlong from": _params(From="+" + "4" * 70),
    "overlong to": _params(To="+" + "4" * 70),
    "national format": _params(From="07911 123456"),
    "letters in number": _params(From="+44791112345A"),
    "nul body": _params(Body="\x00"),
    "control characters": _params(Body="\x01\x02\x1b[31m red \x7f"),
    "only whitespace": _params(Body=" \t\n "),
    "html body": _params(Body="<script>alert(1)</script>"),
    "format string": _params(Body="%(ref)s %s {0} {days}"),
    "keyword with nul": _params(Body="ST\x00OP"),
    "long keyword-like": _params(Body="stop " * 20),
    "digits only": _params(Body="0"),
    "huge digits": _params(Body="9" * 500),
    "arabic-indic digit": _params(Body="٢"),
    "superscript digit": _params(Body="²"),
    "circled digit": _params(Body="①"),
    "fullwidth digit": _params(Body="\uff13"),
    "num media blank": _params(NumMedia=""),
    "num media spaces": _params(NumMedia=" 0 "),
    "num media without urls": _params(NumMedia="2"),
    "opt out type odd": _params(OptOutType="SOMETHING"),
    "opt out type lowercase": _params(OptOutType="stop"),
    "repeated from": [*_params(), ("From", "+48512345678")],
    "repeated body": [*_params(), ("Body", "Second body")],
    "unknown fields": [*_params(), ("Évènement", "ü"), ("X" * 200, "y")],
    "sms sid mismatch": [*_params(), ("SmsMessageSid", random_sid("SM"))],
}


@pytest.mark.parametrize("pairs", list(ODD_INPUTS.values()), ids=list(ODD_INPUTS))
def test_odd_inputs_never_cause_a_server_error(app, client, fake_twilio, pairs):
    response = post_pairs(client, pairs)

    assert response.status_code in {200, 400, 413}, response.get_data(as_text=True)
    if response.status_code != 200:
        assert counts(app) == NOTHING
        return
    assert len(rows(app, InboundMessage)) == 1
    assert len(outbound(app)) <= 1  # at most one reply owed, whatever it was


def test_a_refused_signature_logs_the_url_it_was_checked_against(make_app, caplog):
    """A PUBLIC_BASE_URL that is not the address Twilio calls fails every signature: the
    log shows the URL that was checked, and where it came from, so the mismatch can be
    seen. Never the token, nor what the member sent."""
    app = make_app(PUBLIC_BASE_URL="http://feedback.example.org")
    params = twilio_params(MEMBER, "My secret complaint")
    signature = sign_request(AUTH_TOKEN, URL, params)  # Twilio signs the https:// address

    with caplog.at_level("WARNING", logger="feedback_bot.webhooks.signature"):
        response = signed_post(app.test_client(), PATH, params, signature=signature)

    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "feedback_bot.webhooks.signature"]
    said = record.getMessage()
    assert record.levelname == "WARNING"
    assert "http://feedback.example.org" + PATH in said
    assert "PUBLIC_BASE_URL" in said
    assert AUTH_TOKEN not in said
    assert "secret complaint" not in said
    assert MEMBER not in said and MEMBER[1:] not in said
    assert signature not in said
