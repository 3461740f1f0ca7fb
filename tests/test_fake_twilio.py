"""The fake Twilio server, exercised through the real ``twilio`` client (never mocked)."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from feedback_bot.testing.fake_twilio import (
    API_VERSION,
    FakeTwilio,
    count_segments,
    random_sid,
    sign_request,
)

CUSTOMER = "+15550001111"
OTHER_CUSTOMER = "+15550003333"
SENDER = "+15550002222"
WHATSAPP_CUSTOMER = "whatsapp:+447700900123"
WHATSAPP_SENDER = "whatsapp:+14155238886"
SERVICE_SID = "MG" + "1" * 32
REPO_ROOT = Path(__file__).resolve().parents[1]


class _FakeHttpClient(TwilioHttpClient):  # type: ignore[misc,unused-ignore]
    """Sends the real client's requests to the fake instead of api.twilio.com."""

    def __init__(self, base_url: str, timeout: float = 2.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url
        # Never route the local fake through an HTTP(S)_PROXY inherited from the environment.
        self.session.trust_env = False

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if url.startswith("https://api.twilio.com"):
            url = self.base_url + url.removeprefix("https://api.twilio.com")
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


def _client(fake: FakeTwilio, timeout: float = 2.0, auth_token: str | None = None) -> Client:
    http_client = _FakeHttpClient(fake.base_url, timeout=timeout)
    return Client(fake.account_sid, auth_token or fake.auth_token, http_client=http_client)


def _close(client: Client) -> None:
    client.http_client.session.close()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def client(fake: FakeTwilio) -> Iterator[Client]:
    twilio_client = _client(fake)
    yield twilio_client
    _close(twilio_client)


def _send(client: Client, **kwargs: Any) -> Any:
    params: dict[str, Any] = {"to": CUSTOMER, "from_": SENDER, "body": "Thanks for your feedback"}
    params.update(kwargs)
    return client.messages.create(**params)


def _raw_get(fake: FakeTwilio, uri: str) -> dict[str, Any]:
    response = requests.get(
        fake.base_url + uri, auth=(fake.account_sid, fake.auth_token), timeout=2
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


# --------------------------------------------------------------------------- create / fetch


def test_create_returns_a_twilio_shaped_message(fake: FakeTwilio, client: Client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    message = _send(client, status_callback="http://127.0.0.1:9/status")

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.account_sid == fake.account_sid
    assert message.api_version == API_VERSION
    assert (message.to, message.from_) == (CUSTOMER, SENDER)
    assert message.body == "Thanks for your feedback"
    assert message.status == "queued"
    assert (message.num_segments, message.num_media) == ("1", "0")
    assert message.direction == "outbound-api"
    assert message.messaging_service_sid is None
    assert message.date_sent is None
    assert message.error_code is None and message.error_message is None
    assert message.price is None and message.price_unit == "USD"
    assert before <= message.date_created <= datetime.now(UTC)
    assert message.date_updated == message.date_created
    assert message.uri == f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{message.sid}.json"

    raw = _raw_get(fake, message.uri)
    assert "status_callback" not in raw
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", raw["date_created"])
    assert raw["subresource_uris"]["media"] == message.uri.removesuffix(".json") + "/Media.json"

    [record] = fake.messages
    assert record["sid"] == message.sid
    assert record["status_callback"] == "http://127.0.0.1:9/status"
    assert record["status"] == "queued"
    assert isinstance(record["created_at"], datetime)
    assert fake.attempts[0]["outcome"] == "accepted"
    assert fake.attempts[0]["sid"] == message.sid


def test_create_through_a_messaging_service_with_media_and_content(
    fake: FakeTwilio, client: Client
) -> None:
    message = client.messages.create(
        to=WHATSAPP_CUSTOMER,
        messaging_service_sid=SERVICE_SID,
        content_sid="HX" + "2" * 32,
        content_variables='{"1": "Ana"}',
        media_url=["https://example.com/a.jpg", "https://example.com/b.jpg"],
    )

    assert message.status == "accepted"
    assert message.from_ is None
    assert message.messaging_service_sid == SERVICE_SID
    assert message.num_media == "2"
    assert message.body == ""
    [record] = fake.messages_to(WHATSAPP_CUSTOMER)
    assert record["content_sid"] == "HX" + "2" * 32
    assert record["content_variables"] == '{"1": "Ana"}'
    assert record["media_urls"] == ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    assert record["status_callback"] is None
    assert fake.messages_to(CUSTOMER) == []


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("ж" * 70, 1),  # outside GSM-7: UCS-2
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("😀" * 35, 1),  # two UTF-16 code units each
        ("😀" * 36, 2),
        ("", 1),
    ],
)
def test_count_segments(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_num_segments_reaches_the_client(client: Client) -> None:
    assert _send(client, body="Gracias " + "ñ" * 200).num_segments == "2"
    assert _send(client, body="Спасибо! " * 10).num_segments == "2"


def test_fetch_known_and_unknown(fake: FakeTwilio, client: Client) -> None:
    sent = _send(client, body="hello")
    fetched = client.messages(sent.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.status) == (sent.sid, "hello", "queued")

    missing = "SM" + "0" * 32
    with pytest.raises(TwilioRestException) as caught:
        client.messages(missing).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert missing in caught.value.msg


# --------------------------------------------------------------------------- list / paging


def test_a_received_message_is_kept_until_deleted(fake: FakeTwilio, client: Client) -> None:
    """What a member sends stays in Twilio's log, deletable, and apart from what we sent."""
    sid = fake.receive(CUSTOMER, SENDER, "The bins were not collected.")
    fetched = client.messages(sid).fetch()
    assert (fetched.direction, fetched.status, fetched.from_) == ("inbound", "received", CUSTOMER)
    assert fake.messages == []
    assert client.messages(sid).delete() is True
    assert fake.inbound == []
    assert fake.deletions == [{"sid": sid, "outcome": "deleted"}]
    with pytest.raises(TwilioRestException) as gone:
        client.messages(sid).fetch()
    assert gone.value.status == 404


def test_a_reply_twilio_made_itself_is_listed_and_deletable(
    fake: FakeTwilio, client: Client
) -> None:
    """A TwiML reply (or Advanced Opt-Out's answer) is kept like a sent message, though
    no create call made it; the app learns its SID only by listing."""
    sid = fake.reply(CUSTOMER, SENDER, "Thank you, we got your message.")
    assert fake.attempts == []
    [listed] = client.messages.list(to=CUSTOMER)
    assert (listed.sid, listed.direction, listed.from_) == (sid, "outbound-reply", SENDER)
    assert client.messages(sid).delete() is True
    assert fake.messages == []


def test_fail_next_lists_fails_lists_only(fake: FakeTwilio, client: Client) -> None:
    sid = _send(client).sid
    fake.fail_next_lists(1)
    with pytest.raises(TwilioException):
        client.messages.list()
    assert [m.sid for m in client.messages.list()] == [sid]
    fake.fail_next_lists(1)
    fake.reset()
    assert client.messages.list() == []


def test_list_filters_newest_first_and_follows_pages(fake: FakeTwilio, client: Client) -> None:
    for number in range(7):
        _send(client, to=CUSTOMER, body=f"to customer {number}")
    for number in range(3):
        _send(client, to=OTHER_CUSTOMER, from_="+15550009999", body=f"other {number}")

    listed = client.messages.list(to=CUSTOMER, from_=SENDER, limit=20)
    assert [m.body for m in listed] == [f"to customer {n}" for n in range(6, -1, -1)]

    streamed = client.messages.stream(to=CUSTOMER, page_size=3)
    assert [m.body for m in streamed] == [m.body for m in listed]

    assert [m.body for m in client.messages.list(from_="+15550009999")] == [
        "other 2",
        "other 1",
        "other 0",
    ]
    assert len(client.messages.list(limit=4)) == 4
    assert len(client.messages.list()) == 10


def test_page_json_matches_twilio(fake: FakeTwilio, client: Client) -> None:
    sids = [_send(client, body=f"m{n}").sid for n in range(5)]
    base = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"

    first = _raw_get(fake, f"{base}?To=%2B15550001111&PageSize=2")
    assert [m["sid"] for m in first["messages"]] == [sids[4], sids[3]]
    assert (first["page"], first["page_size"], first["start"], first["end"]) == (0, 2, 0, 1)
    assert first["previous_page_uri"] is None
    assert first["first_page_uri"] == f"{base}?To=%2B15550001111&PageSize=2&Page=0"
    assert first["next_page_uri"] == (
        f"{base}?To=%2B15550001111&PageSize=2&Page=1&PageToken=PA{sids[3]}"
    )

    second = _raw_get(fake, first["next_page_uri"])
    assert [m["sid"] for m in second["messages"]] == [sids[2], sids[1]]
    assert (second["page"], second["start"], second["end"]) == (1, 2, 3)
    assert second["previous_page_uri"].endswith(f"Page=0&PageToken=PB{sids[2]}")
    assert [m["sid"] for m in _raw_get(fake, second["previous_page_uri"])["messages"]] == [
        sids[4],
        sids[3],
    ]

    last = _raw_get(fake, second["next_page_uri"])
    assert [m["sid"] for m in last["messages"]] == [sids[0]]
    assert last["next_page_uri"] is None

    # The client pages with the same URIs.
    page = client.messages.page(to=CUSTOMER, page_size=2)
    assert [m.sid for m in page] == [sids[4], sids[3]]
    next_page = page.next_page()
    assert next_page is not None
    assert [m.sid for m in next_page] == [sids[2], sids[1]]


def test_cursor_paging_is_stable_while_messages_arrive(fake: FakeTwilio, client: Client) -> None:
    for number in range(4):
        _send(client, body=f"m{number}")
    page = client.messages.page(page_size=2)
    assert [m.body for m in page] == ["m3", "m2"]
    _send(client, body="new")  # lands on page 0, must not shift page 1
    next_page = page.next_page()
    assert next_page is not None
    assert [m.body for m in next_page] == ["m1", "m0"]


def _fixed_clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def test_list_filters_by_date_sent(fake: FakeTwilio, client: Client) -> None:
    days = [datetime(2024, 3, day, 12, 0, tzinfo=UTC) for day in (1, 2, 3)]
    sids = []
    for day in days:
        fake.clock = _fixed_clock(day)
        sid = _send(client, body=day.date().isoformat()).sid
        assert fake.send_status(sid, "sent") is None  # no StatusCallback: nothing to POST
        sids.append(sid)
    never_sent = _send(client, body="still queued").sid

    def bodies(**filters: Any) -> list[str]:
        return [m.body for m in client.messages.list(**filters)]

    assert bodies(date_sent=datetime(2024, 3, 2)) == ["2024-03-02"]
    assert bodies(date_sent_before=datetime(2024, 3, 2)) == ["2024-03-02", "2024-03-01"]
    assert bodies(date_sent_after=datetime(2024, 3, 2)) == ["2024-03-03", "2024-03-02"]
    assert bodies(date_sent=datetime(2024, 3, 4)) == []
    assert len(bodies()) == 4
    assert client.messages(never_sent).fetch().date_sent is None
    assert client.messages(sids[0]).fetch().date_sent == days[0]
    # The plain YYYY-MM-DD form from Twilio's docs works too.
    base = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    page = _raw_get(fake, f"{base}?{urllib.parse.urlencode({'DateSent>': '2024-03-03'})}")
    assert [m["sid"] for m in page["messages"]] == [sids[2]]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"to": ""}, 21604),
        ({"from_": None}, 21603),
        ({"body": None}, 21602),
        ({"body": "x" * 1601}, 21617),
        ({"to": "12345"}, 21211),
        ({"to": "+1234"}, 21211),
        ({"to": "whatsapp:5550001111"}, 21211),
        ({"to": "+15550007777"}, 21610),
        ({"to": WHATSAPP_CUSTOMER, "from_": WHATSAPP_SENDER}, 63016),
    ],
)
def test_validation_errors_surface_as_twilio_rest_exceptions(
    fake: FakeTwilio, client: Client, overrides: dict[str, Any], code: int
) -> None:
    fake.unsubscribed.add("+15550007777")
    fake.whatsapp_window_closed.add(WHATSAPP_CUSTOMER)
    params = {"to": CUSTOMER, "from_": SENDER, "body": "hi", **overrides}
    with pytest.raises(TwilioRestException) as caught:
        # None means "leave the parameter out", so the client does not send it at all.
        client.messages.create(**{key: value for key, value in params.items() if value is not None})

    assert (caught.value.status, caught.value.code) == (400, code)
    assert fake.messages == []
    assert [a["outcome"] for a in fake.attempts] == [f"rejected:{code}"]


def test_error_messages_follow_twilio(fake: FakeTwilio, client: Client) -> None:
    fake.unsubscribed.add(CUSTOMER)
    with pytest.raises(TwilioRestException) as caught:
        _send(client)
    assert caught.value.msg.endswith("Attempt to send to unsubscribed recipient")
    assert caught.value.uri == f"/Accounts/{fake.account_sid}/Messages.json"

    fake.whatsapp_window_closed.add(WHATSAPP_CUSTOMER)
    with pytest.raises(TwilioRestException) as caught:
        _send(client, to=WHATSAPP_CUSTOMER, from_=WHATSAPP_SENDER)
    assert "outside the allowed window" in caught.value.msg


def test_closed_whatsapp_window_still_takes_templates(fake: FakeTwilio, client: Client) -> None:
    fake.whatsapp_window_closed.add(WHATSAPP_CUSTOMER)
    message = client.messages.create(
        to=WHATSAPP_CUSTOMER, from_=WHATSAPP_SENDER, content_sid="HX" + "3" * 32
    )
    assert message.status == "queued"
    # The window only matters for WhatsApp: the same number over SMS is fine.
    fake.whatsapp_window_closed.add("+447700900123")
    assert _send(client, to="+447700900123").status == "queued"


# --------------------------------------------------------------------------- auth


def test_wrong_auth_token_is_401(fake: FakeTwilio) -> None:
    bad = _client(fake, auth_token="not-the-token")
    try:
        with pytest.raises(TwilioRestException) as caught:
            _send(bad)
        assert (caught.value.status, caught.value.code) == (401, 20003)
        assert caught.value.msg.endswith("Authenticate")
        with pytest.raises(TwilioRestException) as caught:
            bad.messages("SM" + "0" * 32).fetch()
        assert caught.value.status == 401
    finally:
        _close(bad)
    assert fake.messages == []
    assert [a["outcome"] for a in fake.attempts] == ["rejected:20003"]

    response = requests.get(fake.base_url + "/2010-04-01/Accounts/AC1/Messages.json", timeout=2)
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_list_errors_are_not_rest_exceptions(fake: FakeTwilio) -> None:
    # The client's Page raises a bare TwilioException (no .code) for any non-200 page.
    bad = _client(fake, auth_token="not-the-token")
    try:
        with pytest.raises(TwilioException) as caught:
            bad.messages.list()
    finally:
        _close(bad)
    assert not isinstance(caught.value, TwilioRestException)
    assert "Unable to fetch page" in str(caught.value)


def test_other_account_in_url_is_404(fake: FakeTwilio, client: Client) -> None:
    other = client.api.v2010.accounts("AC" + "9" * 32)
    with pytest.raises(TwilioRestException) as caught:
        other.messages.create(to=CUSTOMER, from_=SENDER, body="hi")
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert fake.messages == []


# --------------------------------------------------------------------------- faults


def test_fail_next_500_then_recovers(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(2)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            _send(client)
        assert (caught.value.status, caught.value.code) == (500, 20500)
    assert _send(client).status == "queued"
    assert [a["outcome"] for a in fake.attempts] == ["error:500", "error:500", "accepted"]
    assert len(fake.messages) == 1


def test_fail_next_429_sends_retry_after(fake: FakeTwilio, client: Client) -> None:
    fake.retry_after_seconds = 7
    fake.fail_next(1, status=429)
    with pytest.raises(TwilioRestException) as caught:
        _send(client)
    assert (caught.value.status, caught.value.code) == (429, 20429)
    # TwilioRestException carries no headers: only the last raw response has Retry-After.
    assert client.http_client._test_only_last_response.headers["Retry-After"] == "7"
    assert fake.attempts[0]["outcome"] == "error:429"


def test_faults_never_touch_list_or_fetch(fake: FakeTwilio, client: Client) -> None:
    sid = _send(client).sid
    fake.fail_next(3)
    fake.set_fault_rates(error_500=1.0)
    assert client.messages(sid).fetch().sid == sid
    assert [m.sid for m in client.messages.list()] == [sid]
    with pytest.raises(TwilioRestException):
        _send(client)


def test_hang_times_out_the_client_and_stop_does_not_wait() -> None:
    fake = FakeTwilio().start()
    client = _client(fake, timeout=0.5)
    try:
        fake.hang_seconds = 5
        fake.set_fault_rates(hang=1.0)
        started = time.monotonic()
        with pytest.raises(requests.exceptions.Timeout):
            _send(client)
        assert time.monotonic() - started < 2
        assert fake.messages == []
        assert [a["outcome"] for a in fake.attempts] == ["hang"]
    finally:
        _close(client)
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 1.5  # the hung handler is released, not awaited


def test_hang_next_hangs_once(fake: FakeTwilio) -> None:
    client = _client(fake, timeout=0.3)
    try:
        fake.hang_next()
        with pytest.raises(requests.exceptions.Timeout):
            _send(client)
        assert _send(client).status == "queued"
    finally:
        _close(client)
    assert [a["outcome"] for a in fake.attempts] == ["hang", "accepted"]


def test_drop_after_accept_records_the_message_but_never_answers(
    fake: FakeTwilio, client: Client
) -> None:
    fake.set_fault_rates(drop_after_accept=1.0)
    with pytest.raises(requests.exceptions.ConnectionError):
        _send(client, body="did it go?")
    [record] = fake.messages
    assert record["body"] == "did it go?"
    assert record["status"] == "queued"
    assert [a["outcome"] for a in fake.attempts] == ["dropped"]
    assert fake.attempts[0]["sid"] == record["sid"]
    # The crash window: Twilio has it, and a reconciling list call can find it.
    assert [m.sid for m in client.messages.list(to=CUSTOMER)] == [record["sid"]]


def test_drop_next_waits_for_a_valid_create(fake: FakeTwilio, client: Client) -> None:
    fake.drop_next()
    with pytest.raises(TwilioRestException):
        _send(client, to="bogus")
    with pytest.raises(requests.exceptions.ConnectionError):
        _send(client)
    assert _send(client).status == "queued"
    outcomes = [a["outcome"] for a in fake.attempts]
    assert outcomes == ["rejected:21211", "dropped", "accepted"]
    assert len(fake.messages) == 2


def test_delay_seconds_slows_create_only(fake: FakeTwilio, client: Client) -> None:
    fake.delay_seconds = 0.3
    started = time.monotonic()
    sid = _send(client).sid
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    client.messages(sid).fetch()
    assert time.monotonic() - started < 0.25


def _outcomes_for_seed(fake: FakeTwilio, client: Client, seed: int) -> list[str]:
    fake.reset()
    fake.set_fault_rates(error_500=0.3, error_429=0.2, drop_after_accept=0.1, seed=seed)
    for number in range(30):
        with contextlib.suppress(TwilioRestException, requests.exceptions.ConnectionError):
            _send(client, body=f"n{number}")
    return [attempt["outcome"] for attempt in fake.attempts]


def test_seeded_fault_rates_replay_exactly(fake: FakeTwilio, client: Client) -> None:
    first = _outcomes_for_seed(fake, client, seed=1234)
    accepted = [o for o in first if o in ("accepted", "dropped")]
    assert len(fake.messages) == len(accepted)
    assert {"accepted", "dropped", "error:500", "error:429"} <= set(first)
    assert len(first) == 30

    assert _outcomes_for_seed(fake, client, seed=1234) == first
    assert _outcomes_for_seed(fake, client, seed=4321) != first


def test_fault_rates_are_validated(fake: FakeTwilio) -> None:
    with pytest.raises(ValueError):
        fake.set_fault_rates(error_500=0.7, error_429=0.4)
    with pytest.raises(ValueError):
        fake.set_fault_rates(drop_after_accept=1.5)
    with pytest.raises(ValueError):
        fake.fail_next(1, status=200)


# --------------------------------------------------------------------------- status callbacks


@dataclass
class _Callback:
    path: str
    headers: dict[str, str]
    params: dict[str, str]


class _CallbackSink:
    """A tiny local HTTP server that records what Twilio (the fake) POSTs to it."""

    def __init__(self) -> None:
        self.received: queue.Queue[_Callback] = queue.Queue()
        self.reply_status = 204
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                sink.received.put(_Callback(self.path, dict(self.headers), params))
                self.send_response(sink.reply_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def next(self, timeout: float = 2.0) -> _Callback:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=2)


@pytest.fixture
def sink() -> Iterator[_CallbackSink]:
    callback_sink = _CallbackSink()
    yield callback_sink
    callback_sink.close()


def test_send_status_posts_a_signed_callback(
    fake: FakeTwilio, client: Client, sink: _CallbackSink
) -> None:
    url = sink.url("/twilio/status?tenant=7")
    sid = _send(client, to=WHATSAPP_CUSTOMER, from_=WHATSAPP_SENDER, status_callback=url).sid

    assert fake.send_status(sid, "delivered") == 204
    callback = sink.next()
    assert callback.path == "/twilio/status?tenant=7"
    assert callback.params == {
        "AccountSid": fake.account_sid,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "From": WHATSAPP_SENDER,
        "To": WHATSAPP_CUSTOMER,
        "ChannelPrefix": "whatsapp",
    }
    signature = callback.headers["X-Twilio-Signature"]
    assert RequestValidator(fake.auth_token).validate(url, callback.params, signature)
    assert not RequestValidator("another-token").validate(url, callback.params, signature)
    assert signature == sign_request(fake.auth_token, url, callback.params)

    fetched = client.messages(sid).fetch()
    assert fetched.status == "delivered"
    assert fetched.date_sent is not None
    assert fake.get_message(sid)["status"] == "delivered"


def test_send_status_with_error_code_and_failing_endpoint(
    fake: FakeTwilio, client: Client, sink: _CallbackSink
) -> None:
    url = sink.url("/status")
    sid = _send(client, status_callback=url).sid
    sink.reply_status = 500

    assert fake.send_status(sid, "undelivered", error_code=30003) == 500
    callback = sink.next()
    assert callback.params["ErrorCode"] == "30003"
    assert callback.params["MessageStatus"] == "undelivered"
    assert "ChannelPrefix" not in callback.params
    assert RequestValidator(fake.auth_token).validate(
        url, callback.params, callback.headers["X-Twilio-Signature"]
    )
    assert client.messages(sid).fetch().error_code == 30003
    assert fake.callbacks[-1]["http_status"] == 500

    with pytest.raises(KeyError):
        fake.send_status("SM" + "0" * 32, "sent")


def test_auto_callbacks_send_sent_then_delivered(
    fake: FakeTwilio, client: Client, sink: _CallbackSink
) -> None:
    fake.auto_callbacks = True
    fake.auto_callback_delay = 0.01
    url = sink.url("/status")
    sid = _send(client, status_callback=url).sid
    _send(client)  # no StatusCallback: no callbacks

    statuses = [sink.next().params["MessageStatus"] for _ in range(2)]
    assert statuses == ["sent", "delivered"]
    assert sink.received.empty()
    deadline = time.monotonic() + 2
    while len(fake.callbacks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(c["sid"], c["status"], c["http_status"]) for c in fake.callbacks] == [
        (sid, "sent", 204),
        (sid, "delivered", 204),
    ]
    assert fake.get_message(sid)["status"] == "delivered"


# --------------------------------------------------------------------------- control API


def test_control_api(fake: FakeTwilio, client: Client) -> None:
    control = fake.base_url + "/_fake"
    config = requests.post(
        f"{control}/config",
        json={"unsubscribed": [OTHER_CUSTOMER], "delay_seconds": 0.0, "seed": 5, "hang": 0.0},
        timeout=2,
    )
    assert config.status_code == 200
    assert config.json()["unsubscribed"] == [OTHER_CUSTOMER]
    assert config.json()["seed"] == 5
    assert fake.unsubscribed == {OTHER_CUSTOMER}

    sid = _send(client, body="via control").sid
    with pytest.raises(TwilioRestException) as caught:
        _send(client, to=OTHER_CUSTOMER)
    assert caught.value.code == 21610

    [record] = requests.get(f"{control}/messages", timeout=2).json()
    assert (record["sid"], record["body"], record["status"]) == (sid, "via control", "queued")
    assert datetime.fromisoformat(record["created_at"]).tzinfo is not None
    attempts = requests.get(f"{control}/attempts", timeout=2).json()
    assert [a["outcome"] for a in attempts] == ["accepted", "rejected:21610"]

    assert requests.post(f"{control}/fail_next", json={"status": 503}, timeout=2).ok
    with pytest.raises(TwilioRestException) as caught:
        _send(client)
    assert (caught.value.status, caught.value.code) == (503, 20503)

    bad = requests.post(f"{control}/config", json={"nonsense": 1}, timeout=2)
    assert bad.status_code == 400
    assert requests.get(f"{control}/nowhere", timeout=2).status_code == 404

    assert requests.post(f"{control}/reset", timeout=2).json() == {"ok": True}
    assert fake.messages == [] and fake.attempts == []
    assert requests.get(f"{control}/config", timeout=2).json()["unsubscribed"] == []


def test_control_api_sets_fault_rates(fake: FakeTwilio, client: Client) -> None:
    response = requests.post(
        fake.base_url + "/_fake/config", json={"error_429": 1.0, "seed": 1}, timeout=2
    )
    assert json.loads(response.text)["error_429"] == 1.0
    with pytest.raises(TwilioRestException) as caught:
        _send(client)
    assert caught.value.code == 20429
    requests.post(fake.base_url + "/_fake/config", json={"error_429": 0}, timeout=2)
    assert _send(client).status == "queued"


# --------------------------------------------------------------------------- lifecycle, helpers


def test_restart_keeps_port_and_records(client: Client, fake: FakeTwilio) -> None:
    sid = _send(client).sid
    port = fake.port
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        _send(client)
    fake.start()
    assert fake.port == port
    assert client.messages(sid).fetch().sid == sid


def test_wait_for_messages(fake: FakeTwilio, client: Client) -> None:
    timer = threading.Timer(0.05, lambda: _send(client, body="later"))
    timer.start()
    [record] = fake.wait_for_messages(1, timeout=2)
    timer.join()
    assert record["body"] == "later"
    with pytest.raises(TimeoutError):
        fake.wait_for_messages(2, timeout=0.05)


def test_helpers() -> None:
    assert re.fullmatch(r"SM[0-9a-f]{32}", random_sid("SM"))
    assert random_sid("SM") != random_sid("SM")
    params = {"MessageSid": "SM1", "MessageStatus": "sent"}
    signature = sign_request("token", "https://example.com/cb", params)
    assert RequestValidator("token").validate("https://example.com/cb", params, signature)


def test_main_runs_in_its_own_process() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feedback_bot.testing.fake_twilio",
            "--port",
            "0",
            "--account-sid",
            "AC" + "5" * 32,
            "--auth-token",
            "secret",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        response = requests.get(f"{base_url}/_fake/config", timeout=2)
        assert response.json()["hang_seconds"] == 30.0
        listed = requests.get(
            f"{base_url}/2010-04-01/Accounts/{'AC' + '5' * 32}/Messages.json",
            auth=("AC" + "5" * 32, "secret"),
            timeout=2,
        )
        assert listed.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_base_url_needs_a_running_server() -> None:
    fake = FakeTwilio(port=0)
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    with fake:
        assert fake.base_url == f"http://127.0.0.1:{fake.port}"
    assert not fake.running


def test_a_request_cut_off_mid_body_is_not_acted_on(fake: FakeTwilio) -> None:
    """A client killed while sending: Twilio never sees a whole request, so it neither
    sends a message nor refuses one (a 21604 for the "To" the cut-off body lacks)."""
    import socket

    body = urllib.parse.urlencode({"To": CUSTOMER, "From": SENDER, "Body": "hello"}).encode()
    path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    with socket.create_connection((fake.host, fake.port), timeout=2) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
            + body[:10]
        )
        connection.shutdown(socket.SHUT_WR)
        assert connection.recv(1024) == b""  # closed, unanswered
    assert fake.attempts == [] and fake.messages == []
