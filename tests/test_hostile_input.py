"""A corpus of hostile and malformed requests to every public endpoint: never a 500.

Each case states the status it must get and what it may leave behind. A refused request
leaves nothing in ``inbound_message``, ``outbound_message`` or ``delivery_event`` (nor a
contact, item or media row); a request with a valid signature but nasty content is stored
verbatim and, when it comes from a member, acknowledged once.

Complements ``test_bad_input.py`` (plain bad signatures, missing fields, malformed SIDs,
NumMedia values, odd bodies) and ``test_status_callbacks.py``; nothing here repeats them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from feedback_bot.extensions import db
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

from .conftest import AUTH_TOKEN, PUBLIC_BASE_URL, SMS_NUMBER, drain, run_worker, twilio_params

MSG_PATH = "/webhooks/twilio/messages"
STATUS_PATH = "/webhooks/twilio/status"
MSG_URL = PUBLIC_BASE_URL + MSG_PATH
STATUS_URL = PUBLIC_BASE_URL + STATUS_PATH
FORM = "application/x-www-form-urlencoded"
MEMBER = "+447911200001"
PHOTO_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
MODELS = (Contact, FeedbackItem, InboundMessage, InboundMedia, OutboundMessage, DeliveryEvent)

SQL = "'; DROP TABLE inbound_message; -- \" OR 1=1 /*"
HTML = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;&lt;'


@dataclass(frozen=True)
class Kept:
    """What a request that is let in must leave in the database."""

    disposition: str | None = None  # of the one inbound message
    body: str | None = None  # the inbound body, exactly
    acknowledged: bool = False  # one acknowledgement reaches the member
    media_url: str | None = None  # the one media row's source URL
    delivery_sid: str | None = None  # status callbacks: the one event's SID
    error_code: str | None = None


@dataclass(frozen=True)
class Case:
    status: int
    method: str = "POST"
    path: str = MSG_PATH
    data: bytes = b""
    content_type: str | None = FORM
    headers: dict[str, str] = field(default_factory=dict)
    # Sign what Flask decodes from ``data`` (for bytes no encoder would produce), at this URL.
    sign_decoded_for: str | None = None
    kept: Kept | None = None  # None: nothing may be stored
    absent: str | None = None  # text the response must not contain (reflection)


def message(**changes: str | None) -> dict[str, str]:
    params = twilio_params(MEMBER, "The lift in Block D is broken.")
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def status_params(**changes: str) -> dict[str, str]:
    params = {
        "AccountSid": "AC" + "0" * 31 + "1",
        "MessageSid": random_sid("SM"),
        "MessageStatus": "delivered",
        "To": MEMBER,
        "From": SMS_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    params.update(changes)
    return params


def signed(
    params: dict[str, str] | list[tuple[str, str]],
    status: int,
    url: str = MSG_URL,
    path: str = MSG_PATH,
    kept: Kept | None = None,
    headers: dict[str, str] | None = None,
) -> Case:
    """A form POST carrying the signature Twilio would compute for ``params`` at ``url``."""
    pairs = list(params.items()) if isinstance(params, dict) else params
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, MultiDict(pairs))
    return Case(
        status=status,
        path=path,
        data=urlencode(pairs).encode(),
        headers={"X-Twilio-Signature": signature, **(headers or {})},
        kept=kept,
    )


def tampered(params: dict[str, str], **changes: str | None) -> Case:
    """A signature Twilio made for ``params``, replayed with the body altered."""
    signature = sign_request(AUTH_TOKEN, MSG_URL, params)
    altered = dict(params)
    for key, value in changes.items():
        if value is None:
            altered.pop(key)
        else:
            altered[key] = value
    return Case(
        status=403, data=urlencode(altered).encode(), headers={"X-Twilio-Signature": signature}
    )


def raw(
    body: str, status: int, kept: Kept | None = None, path: str = MSG_PATH, url: str = MSG_URL
) -> Case:
    """A hand-written form body, signed over what Flask decodes from it."""
    return Case(
        status=status, path=path, data=body.encode("latin-1"), sign_decoded_for=url, kept=kept
    )


def valid_with(status: int = 200, kept: Kept | None = None, **changes: str | None) -> Case:
    return signed(message(**changes), status, kept=kept)


FEEDBACK = Kept(disposition=Disposition.FEEDBACK, acknowledged=True)


def _cases() -> dict[str, Case]:
    base = message()
    callback = status_params()
    good_signature = sign_request(AUTH_TOKEN, MSG_URL, base)
    without_body = urlencode({k: v for k, v in base.items() if k != "Body"})
    cases: dict[str, Case] = {
        # ------------------------------------------------ signatures replayed or misdirected
        "replayed signature, other MessageSid": tampered(base, MessageSid=random_sid("SM")),
        "replayed signature, other sender": tampered(base, From="+447911200002"),
        "replayed signature, field added": tampered(base, NumMedia="0", OptOutType="STOP"),
        "replayed signature, field removed": tampered(base, ApiVersion=None),
        "replayed signature, value emptied": tampered(base, Body=""),
        "signed for http, not https": Case(
            403,
            data=urlencode(base).encode(),
            headers={
                "X-Twilio-Signature": sign_request(
                    AUTH_TOKEN, MSG_URL.replace("https:", "http:"), base
                )
            },
        ),
        "signed for the request's own host": Case(
            403,
            data=urlencode(base).encode(),
            headers={
                "X-Twilio-Signature": sign_request(AUTH_TOKEN, "http://localhost" + MSG_PATH, base)
            },
        ),
        "signed for a forged forwarded host": Case(
            403,
            data=urlencode(base).encode(),
            headers={
                "X-Twilio-Signature": sign_request(
                    AUTH_TOKEN, "http://evil.example" + MSG_PATH, base
                ),
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Proto": "http",
                "Host": "evil.example",
            },
        ),
        "signed with a trailing slash": Case(
            403,
            data=urlencode(base).encode(),
            headers={"X-Twilio-Signature": sign_request(AUTH_TOKEN, MSG_URL + "/", base)},
        ),
        "signed with a query string not sent": Case(
            403,
            data=urlencode(base).encode(),
            headers={"X-Twilio-Signature": sign_request(AUTH_TOKEN, MSG_URL + "?rc=5", base)},
        ),
        "query string sent but not signed": Case(
            403,
            path=MSG_PATH + "?bodySHA256=0",
            data=urlencode(base).encode(),
            headers={"X-Twilio-Signature": good_signature},
        ),
        "signature with its case flipped": Case(
            403,
            data=urlencode(base).encode(),
            headers={"X-Twilio-Signature": good_signature.swapcase()},
        ),
        "signature truncated": Case(
            403, data=urlencode(base).encode(), headers={"X-Twilio-Signature": good_signature[:-2]}
        ),
        "signature in the form, not the header": Case(
            403, data=urlencode({**base, "X-Twilio-Signature": good_signature}).encode()
        ),
        "sha256 signature settings header": Case(
            403,
            data=urlencode(base).encode(),
            headers={
                "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
                    MSG_URL, base, "HMAC_SHA256"
                ),
                "X-Twilio-Webhooks-Signature-Settings": "key=x,algorithm=HMAC_SHA256",
            },
        ),
        "messages signature on the status URL": Case(
            403,
            path=STATUS_PATH,
            data=urlencode(callback).encode(),
            headers={"X-Twilio-Signature": sign_request(AUTH_TOKEN, MSG_URL, callback)},
        ),
        # ------------------------------------------------ header tricks on a valid signature
        "forwarded host and proto are ignored": signed(
            message(),
            200,
            kept=FEEDBACK,
            headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        ),
        "host header changed": signed(
            message(), 200, kept=FEEDBACK, headers={"Host": "evil.example"}
        ),
        "forwarded and rewrite headers": signed(
            message(),
            200,
            kept=FEEDBACK,
            headers={
                "Forwarded": "for=1.2.3.4;host=evil.example;proto=http",
                "X-Forwarded-For": "1.2.3.4, 10.0.0.1",
                "X-Original-URL": STATUS_PATH,
                "X-Rewrite-URL": STATUS_PATH,
            },
        ),
        "explicit :443 in the signed URL (Twilio's variant)": signed(
            message(),
            200,
            url=MSG_URL.replace(".org/", ".org:443/"),
            kept=FEEDBACK,
        ),
        "identical pair repeated keeps its signature": signed(
            [*message().items(), ("Body", "The lift in Block D is broken.")],
            200,
            kept=FEEDBACK,
        ),
        # ------------------------------------------------ not a form
        "json body signed as if a form": Case(
            403,
            data=json.dumps(base).encode(),
            content_type="application/json",
            headers={"X-Twilio-Signature": good_signature},
        ),
        "json body signed over an empty form": Case(
            400,
            data=json.dumps(base).encode(),
            content_type="application/json",
            headers={"X-Twilio-Signature": sign_request(AUTH_TOKEN, MSG_URL, {})},
        ),
        "form body sent as text/plain": Case(
            403,
            data=urlencode(base).encode(),
            content_type="text/plain",
            headers={"X-Twilio-Signature": good_signature},
        ),
        "form body without a content type": Case(
            403,
            data=urlencode(base).encode(),
            content_type=None,
            headers={"X-Twilio-Signature": good_signature},
        ),
        "gzip-encoded form": Case(
            403,
            data=gzip.compress(urlencode(base).encode()),
            headers={"X-Twilio-Signature": good_signature, "Content-Encoding": "gzip"},
        ),
        "GET on the webhook": Case(405, method="GET", data=b"", content_type=None),
        "PUT on the webhook": Case(
            405,
            method="PUT",
            data=urlencode(base).encode(),
            headers={"X-Twilio-Signature": good_signature},
        ),
        # ------------------------------------------------ size
        "10,000 euro signs: over the byte limit once encoded": valid_with(413, Body="€" * 10_000),
        "9,000 accented letters: under both limits": valid_with(
            200, kept=Kept(Disposition.FEEDBACK, "é" * 9_000, True), Body="é" * 9_000
        ),
        "2,000 extra fields": signed(
            [*message().items(), *((f"X{n}", "y") for n in range(2_000))], 200, kept=FEEDBACK
        ),
        "a 70,000-character field name": signed([*message().items(), ("N" * 70_000, "v")], 413),
        "status callback over the size limit": signed(
            status_params(Padding="p" * 70_000), 413, url=STATUS_URL, path=STATUS_PATH
        ),
        # ------------------------------------------------ encodings
        "invalid utf-8 in From": raw(
            without_body.replace(quote(MEMBER), "%2B4479112%FF%FE0001") + "&Body=ok",
            200,
            kept=Kept(disposition=Disposition.INVALID_SENDER),
        ),
        "invalid utf-8 in a field name": raw(
            urlencode(base) + "&Extra%FFName=1",
            200,
            kept=Kept(Disposition.FEEDBACK, base["Body"], True),
        ),
        "broken percent escapes in Body": raw(
            without_body + "&Body=100%25+sure%zz+and+%E2%82",
            200,
            kept=Kept(disposition=Disposition.FEEDBACK, acknowledged=True),
        ),
        "overlong utf-8 for a slash and a NUL": raw(
            without_body + "&Body=a%C0%AFb%C0%80c",
            200,
            kept=Kept(disposition=Disposition.FEEDBACK, acknowledged=True),
        ),
        # ------------------------------------------------ NUL bytes outside the body
        "NUL in To": valid_with(400, To=SMS_NUMBER + "\x00"),
        "NUL in From": valid_with(400, From=MEMBER + "\x00"),
        "NUL in a media URL": valid_with(
            400, NumMedia="1", MediaUrl0=PHOTO_URL + "\x00", MediaContentType0="image/jpeg"
        ),
        "NUL in a field name": signed([*message().items(), ("Ev\x00il", "1")], 200, kept=FEEDBACK),
        "NUL in a status callback's MessageSid": signed(
            status_params(MessageSid="SM\x00" + "a" * 30), 400, url=STATUS_URL, path=STATUS_PATH
        ),
        "NUL in a status callback's ErrorCode": signed(
            status_params(MessageSid="SM" + "b" * 32, ErrorCode="300\x0005"),
            204,
            url=STATUS_URL,
            path=STATUS_PATH,
            kept=Kept(delivery_sid="SM" + "b" * 32, error_code="30005"),
        ),
        # ------------------------------------------------ very long addresses
        "From of exactly 64 characters": valid_with(
            200, kept=Kept(disposition=Disposition.INVALID_SENDER), From="+" + "9" * 63
        ),
        "From of 65 characters": valid_with(400, From="+" + "9" * 64),
        "WhatsApp From of 65 characters": valid_with(400, From="whatsapp:+" + "4" * 55),
        "To of 10,000 characters": valid_with(400, To="+" + "4" * 9_999),
        # ------------------------------------------------ NumMedia
        "NumMedia with 5,000 digits": valid_with(400, NumMedia="1" + "0" * 4_999),
        "NumMedia with leading zeros": valid_with(
            200,
            kept=Kept(Disposition.FEEDBACK, base["Body"], True, media_url=PHOTO_URL),
            NumMedia="0" * 40 + "1",
            MediaUrl0=PHOTO_URL,
            MediaContentType0="image/jpeg",
        ),
        "NumMedia 10 with nine media": signed(
            [
                *message(NumMedia="10").items(),
                *((f"MediaUrl{n}", f"{PHOTO_URL}{n}") for n in range(9)),
                *((f"MediaContentType{n}", "image/png") for n in range(9)),
            ],
            400,
        ),
        "media URL of 2,049 characters": valid_with(
            400, NumMedia="1", MediaUrl0="https://" + "m" * 2_041, MediaContentType0="image/png"
        ),
        "media content type of 200 characters": valid_with(
            400, NumMedia="1", MediaUrl0=PHOTO_URL, MediaContentType0="image/" + "x" * 194
        ),
        # ------------------------------------------------ SQL and HTML in every field
        "SQL in Body": valid_with(kept=Kept(Disposition.FEEDBACK, SQL, True), Body=SQL),
        "HTML in Body": valid_with(kept=Kept(Disposition.FEEDBACK, HTML, True), Body=HTML),
        "TwiML in Body": valid_with(
            kept=Kept(
                Disposition.FEEDBACK, "</Message><Redirect>https://evil.example</Redirect>", True
            ),
            Body="</Message><Redirect>https://evil.example</Redirect>",
        ),
        "SQL in From": valid_with(kept=Kept(disposition=Disposition.INVALID_SENDER), From=SQL),
        "HTML in From": valid_with(
            kept=Kept(disposition=Disposition.INVALID_SENDER), From=HTML[:60]
        ),
        "SQL in To": valid_with(kept=Kept(disposition=Disposition.NOT_OURS), To=SQL),
        "HTML in To": valid_with(kept=Kept(disposition=Disposition.NOT_OURS), To=HTML[:60]),
        "SQL in AccountSid": valid_with(kept=FEEDBACK, AccountSid=SQL),
        "HTML in MessageSid": valid_with(400, MessageSid=HTML),
        "SQL in SmsMessageSid beside a good MessageSid": valid_with(
            kept=FEEDBACK, SmsMessageSid=SQL
        ),
        "SQL in NumMedia": valid_with(400, NumMedia=SQL),
        "SQL in a media URL": valid_with(
            kept=Kept(Disposition.FEEDBACK, "", True, media_url=PHOTO_URL + "?q=" + SQL),
            Body="",
            NumMedia="1",
            MediaUrl0=PHOTO_URL + "?q=" + SQL,
            MediaContentType0="image/jpeg",
        ),
        "HTML as a media URL": valid_with(
            400, NumMedia="1", MediaUrl0=HTML, MediaContentType0="image/jpeg"
        ),
        "SQL in a media content type": valid_with(
            400, NumMedia="1", MediaUrl0=PHOTO_URL, MediaContentType0=SQL
        ),
        "SQL in OptOutType": valid_with(kept=FEEDBACK, OptOutType=SQL),
        "SQL as a field name": signed([*message().items(), (SQL, HTML)], 200, kept=FEEDBACK),
        "SQL in a status callback's MessageSid": signed(
            status_params(MessageSid=SQL[:60]),
            204,
            url=STATUS_URL,
            path=STATUS_PATH,
            kept=Kept(delivery_sid=SQL[:60]),
        ),
        "HTML in a status callback's ErrorCode": signed(
            status_params(MessageSid="SM" + "c" * 32, MessageStatus="failed", ErrorCode=HTML),
            204,
            url=STATUS_URL,
            path=STATUS_PATH,
            kept=Kept(delivery_sid="SM" + "c" * 32, error_code=HTML[:16]),
        ),
        "SQL in a status callback's MessageStatus": signed(
            status_params(MessageStatus=SQL), 400, url=STATUS_URL, path=STATUS_PATH
        ),
        # ------------------------------------------------ status callbacks, otherwise
        "status callback as JSON": Case(
            400,
            path=STATUS_PATH,
            data=json.dumps(status_params()).encode(),
            content_type="application/json",
            headers={"X-Twilio-Signature": sign_request(AUTH_TOKEN, STATUS_URL, {})},
        ),
        "status callback with forwarded headers": signed(
            status_params(MessageSid="SM" + "d" * 32),
            204,
            url=STATUS_URL,
            path=STATUS_PATH,
            kept=Kept(delivery_sid="SM" + "d" * 32),
            headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        ),
        "GET on the status webhook": Case(405, method="GET", path=STATUS_PATH, content_type=None),
        # ------------------------------------------------ /healthz
        "healthz": Case(200, method="GET", path="/healthz", content_type=None),
        "healthz with a huge query and a forged host": Case(
            200,
            method="GET",
            path="/healthz?" + "a=" + "b" * 8_000,
            content_type=None,
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        ),
        "POST to healthz": Case(405, path="/healthz", data=b"x=1"),
        # ------------------------------------------------ /you-said-we-did
        "public page with a script as its language": Case(
            200,
            method="GET",
            path="/you-said-we-did?lang=" + quote(HTML),
            content_type=None,
            absent="<script>alert",
        ),
        "public page with invalid utf-8 in the query": Case(
            200, method="GET", path="/you-said-we-did?lang=%FF%FE&page=%C0%80", content_type=None
        ),
        "public page with a negative page": Case(
            200, method="GET", path="/you-said-we-did?page=-5", content_type=None
        ),
        # Past the last page (there is one, empty): led to it.
        "public page with a 30-digit page": Case(
            302, method="GET", path="/you-said-we-did?page=" + "9" * 30, content_type=None
        ),
        "public page with a hostile Accept-Language": Case(
            200,
            method="GET",
            path="/you-said-we-did",
            content_type=None,
            headers={"Accept-Language": "../../etc;q=x, <b>*;q=99, " + "z" * 2_000},
            absent="<b>*",
        ),
        "POST to the public page": Case(405, path="/you-said-we-did", data=b"x=1"),
        # ------------------------------------------------ /login
        "login with SQL for email and password": Case(
            401, path="/login", data=urlencode({"email": SQL, "password": SQL}).encode()
        ),
        "login with a NUL in the email": Case(
            401,
            path="/login",
            data=urlencode({"email": "a\x00@example.org", "password": "x"}).encode(),
        ),
        "login with HTML in the email is not reflected raw": Case(
            401,
            path="/login",
            data=urlencode({"email": HTML, "password": "x"}).encode(),
            absent="<script>alert",
        ),
        # Flask-WTF reads a JSON body as the form: judged like any other attempt.
        "login as JSON": Case(
            401,
            path="/login",
            data=json.dumps({"email": "a@example.org", "password": "x"}).encode(),
            content_type="application/json",
        ),
        "login with a 10,000-character password": Case(
            200,
            path="/login",
            data=urlencode({"email": "a@example.org", "password": "p" * 10_000}).encode(),
        ),
        "login with invalid utf-8": Case(
            401, path="/login", data=b"email=%FF%FE%40example.org&password=%C0%80"
        ),
        "login body over 2 MB": Case(
            413,
            path="/login",
            data=urlencode({"email": "a@example.org", "password": "p" * 2_200_000}).encode(),
        ),
    }
    return cases


CASES = _cases()


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 50


@pytest.fixture
def loud_app(app: Flask) -> Iterator[Flask]:
    # A crash must show up as the 500 a client would see, so the assertion says which case.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield app


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        found = {
            model.__tablename__: int(db.session.scalar(select(func.count()).select_from(model)))
            for model in MODELS
        }
        db.session.remove()
        return found


def send(app: Flask, client: FlaskClient, case: Case) -> Any:
    headers = dict(case.headers)
    if case.sign_decoded_for is not None:
        with app.test_request_context(
            case.path, method=case.method, data=case.data, content_type=case.content_type
        ):
            from flask import request

            decoded = request.form.copy()
        headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(
            case.sign_decoded_for, decoded
        )
    return client.open(
        case.path,
        method=case.method,
        data=case.data,
        content_type=case.content_type,
        headers=headers,
    )


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_hostile_request(loud_app, client, fake_twilio, case):
    app = loud_app
    response = send(app, client, case)
    text = response.get_data(as_text=True)

    assert response.status_code < 500, text[:2000]
    assert response.status_code == case.status, text[:500]
    if case.absent is not None:
        assert case.absent not in text
    found = counts(app)
    if case.kept is None:
        assert found == dict.fromkeys(found, 0)
        return

    kept = case.kept
    if kept.delivery_sid is not None:
        with app.app_context():
            [event] = db.session.scalars(select(DeliveryEvent)).all()
            assert event.twilio_sid == kept.delivery_sid
            assert event.error_code == kept.error_code
        assert found["inbound_message"] == found["outbound_message"] == 0
        return

    with app.app_context():
        # The webhook only stores it; the intake job it enqueued decides what it is.
        [stored] = db.session.scalars(select(InboundMessage)).all()
        assert stored.disposition == Disposition.RECEIVED
        db.session.remove()
    run_worker(app)
    with app.app_context():
        [stored] = db.session.scalars(select(InboundMessage)).all()
        assert stored.disposition == kept.disposition
        if kept.body is not None:
            assert stored.body == kept.body
        media = db.session.scalars(select(InboundMedia)).all()
        assert [m.source_url for m in media] == ([kept.media_url] if kept.media_url else [])
        db.session.remove()
    assert found["delivery_event"] == 0
    # Whatever arrives, the webhook answers with empty TwiML: nothing is echoed back.
    assert "<Message>" not in text
    drain(app)
    sent = fake_twilio.messages
    if kept.acknowledged:
        with app.app_context():
            rows = db.session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
            kinds = [row.kind for row in rows]
            db.session.remove()
        ack = "ack_photo" if kept.body == "" else "ack"
        # A long text whose language cannot be told (9,000 "é", markup) is followed by the
        # language menu, once (``intake.offer_languages``).
        assert kinds in ([ack], [ack, "language_menu"])
        assert [m["to"] for m in sent] == [MEMBER] * len(rows)
        assert sorted(m["body"] for m in sent) == sorted(row.body for row in rows)
    else:
        assert sent == []
