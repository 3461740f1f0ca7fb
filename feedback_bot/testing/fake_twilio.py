"""A local fake of Twilio's REST API (2010-04-01 Messages) that the real ``twilio`` client can use.

Tests, benchmarks and the fault-injection suite point the *real* client at this server instead
of mocking it, so serialisation, authentication, paging and error mapping run exactly as they
do in production. To point the client here, subclass ``twilio.http.http_client.TwilioHttpClient``
and rewrite the leading ``https://api.twilio.com`` of each URL to :attr:`FakeTwilio.base_url`.

In-process use::

    with FakeTwilio() as fake:
        fake.fail_next(1, status=429)
        ...                                   # drive the app
        assert fake.messages_to("+15550001111")[0]["body"] == "Thanks!"

From another process (benchmarks)::

    python -m feedback_bot.testing.fake_twilio --port 8765 --account-sid AC... --auth-token ...

and drive it through the ``/_fake/...`` control API (see :meth:`FakeTwilio._handle_control`).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import copy
import http
import json
import logging
import math
import random
import re
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, cast

from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "fa4e" * 8
DEFAULT_AUTH_TOKEN = "70ce" * 8  # a fixed fake credential
CONTROL_PREFIX = "/_fake/"

MAX_BODY_CHARS = 1600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_AUTO_CALLBACK_DELAY = 0.05
DEFAULT_CALLBACK_TIMEOUT = 5.0
DEFAULT_RETRY_AFTER_SECONDS = 1

# A message record: what the fake keeps for each accepted message (see FakeTwilio.messages).
Record = dict[str, Any]
# Statuses in which Twilio refuses to delete a message (error 20009).
IN_PROGRESS = frozenset({"accepted", "scheduled", "queued", "sending"})

_COLLECTION_PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json")
# Where Twilio keeps a message's media: fetching it needs the account's credentials.
_MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<sid>[^/.]+)"
)
_INSTANCE_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json"
)
# E.164 as Twilio checks it on the way in; WhatsApp addresses carry a channel prefix.
_TO_ADDRESS = re.compile(r"(?:whatsapp:)?\+[0-9]{8,15}")

# Statuses after which Twilio has handed the message on, so it has a date_sent.
_SENT_STATUSES = frozenset({"sent", "delivered", "undelivered", "read"})

_ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20009: "Cannot delete this resource before it is complete",
    20004: "Method not allowed",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
}
_DEFAULT_ERROR_CODES = {429: 20429, 500: 20500, 503: 20503}
_RATE_NAMES = frozenset({"error_500", "error_429", "hang", "drop_after_accept"})
_FLOAT_SETTINGS = ("delay_seconds", "hang_seconds", "auto_callback_delay", "callback_timeout")

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char). Anything
# else forces the whole message into UCS-2, which is what shrinks segments from 160 to 70.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


# --------------------------------------------------------------------------- module helpers


def random_sid(prefix: str) -> str:
    """A Twilio-shaped SID: a two-letter prefix (``SM``, ``AC``, ``MG``...) and 32 hex chars."""
    return prefix + secrets.token_hex(16)


def sign_request(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send with a form POST of ``params`` to ``url``."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def count_segments(body: str) -> int:
    """How many SMS segments Twilio bills ``body`` as (GSM-7: 160/153, UCS-2: 70/67)."""
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENDED for char in body):
        units = len(body) + sum(char in _GSM7_EXTENDED for char in body)
        single, per_part = 160, 153
    else:
        # UCS-2 counts UTF-16 code units: an emoji outside the BMP takes two.
        units = len(body.encode("utf-16-le")) // 2
        single, per_part = 70, 67
    return 1 if units <= single else math.ceil(units / per_part)


def rfc2822(moment: datetime) -> str:
    """Twilio's date format, e.g. ``Thu, 30 Jul 2015 20:12:31 +0000``."""
    return format_datetime(moment.astimezone(UTC))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def twilio_error(status: int, code: int, message: str | None = None) -> dict[str, Any]:
    """An error body in Twilio's legacy JSON shape, which the client maps to TwilioRestException.

    It must not carry ``type``/``title``: the client would then build a TwilioServiceException.
    """
    return {
        "code": code,
        "message": message or _ERROR_MESSAGES.get(code) or http.HTTPStatus(status).phrase,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _jsonable(value: Any) -> Any:
    """Records hold datetimes and sets; the control API sends them as ISO strings and lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(item) for item in value)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _first(form: Mapping[str, list[str]], key: str) -> str | None:
    """The first value of a form field; Twilio treats an empty value as absent."""
    values = form.get(key) or [""]
    return values[0] or None


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


def _post_form(
    url: str, params: Mapping[str, str], headers: Mapping[str, str], timeout: float
) -> int:
    """POST ``params`` form-encoded and return the HTTP status, whatever it is."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"status callback URL must be http(s): {url!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=urllib.parse.urlencode(params).encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        method="POST",
    )
    # No proxies: callbacks go to a local app, and an inherited HTTP_PROXY would swallow them.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:  # an unclosed HTTPError leaks its socket (a ResourceWarning in tests)
            return int(error.code)


# --------------------------------------------------------------------------- request model


class _ApiError(Exception):
    """A Twilio error reply, raised from deep inside request handling."""

    def __init__(self, status: int, code: int, message: str | None = None) -> None:
        super().__init__(message or _ERROR_MESSAGES.get(code, ""))
        self.status = status
        self.code = code
        self.message = message

    def reply(self, delay: float = 0.0, headers: Mapping[str, str] | None = None) -> _Reply:
        body = twilio_error(self.status, self.code, self.message)
        return _Reply(self.status, body, dict(headers or {}), delay=delay)


@dataclass
class _Reply:
    """What the handler should do: answer with JSON, hang, or drop the connection."""

    status: int = 200
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "respond"  # "respond" | "hang" | "drop" | "raw"
    delay: float = 0.0
    # For "raw": the bytes and content type to answer with (media files).
    raw: bytes = b""
    content_type: str = ""


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    authorization: str | None
    body: bytes


@dataclass(frozen=True)
class _Fault:
    kind: str  # "error" | "hang"
    status: int = 0
    code: int = 0


@dataclass(frozen=True)
class _FaultRates:
    error_500: float = 0.0
    error_429: float = 0.0
    hang: float = 0.0
    drop_after_accept: float = 0.0

    def __post_init__(self) -> None:
        for name, rate in self.as_dict().items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {rate}")
        if self.error_500 + self.error_429 + self.hang > 1.0:
            raise ValueError("error_500 + error_429 + hang must not exceed 1")

    def as_dict(self) -> dict[str, float]:
        return {
            "error_500": self.error_500,
            "error_429": self.error_429,
            "hang": self.hang,
            "drop_after_accept": self.drop_after_accept,
        }

    def fault_for(self, roll: float) -> _Fault | None:
        """Map one uniform draw onto at most one pre-acceptance fault."""
        if roll < self.error_500:
            return _Fault("error", 500, 20500)
        if roll < self.error_500 + self.error_429:
            return _Fault("error", 429, 20429)
        if roll < self.error_500 + self.error_429 + self.hang:
            return _Fault("hang")
        return None


@dataclass(frozen=True)
class _MessageRequest:
    """The create parameters the fake cares about, as the client form-encodes them."""

    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    content_sid: str | None
    content_variables: str | None
    media_urls: tuple[str, ...]
    status_callback: str | None

    @classmethod
    def from_form(cls, form: Mapping[str, list[str]]) -> _MessageRequest:
        return cls(
            to=_first(form, "To"),
            from_=_first(form, "From"),
            messaging_service_sid=_first(form, "MessagingServiceSid"),
            body=_first(form, "Body"),
            content_sid=_first(form, "ContentSid"),
            content_variables=_first(form, "ContentVariables"),
            media_urls=tuple(url for url in form.get("MediaUrl", []) if url),
            status_callback=_first(form, "StatusCallback"),
        )


def _validate(
    message: _MessageRequest, unsubscribed: Iterable[str], window_closed: Iterable[str]
) -> None:
    """Raise the error Twilio would give for this create request, in the order Twilio checks."""
    if message.to is None:
        raise _ApiError(400, 21604)
    if message.from_ is None and message.messaging_service_sid is None:
        raise _ApiError(400, 21603)
    if message.body is None and message.content_sid is None and not message.media_urls:
        raise _ApiError(400, 21602)
    if message.body is not None and len(message.body) > MAX_BODY_CHARS:
        raise _ApiError(400, 21617)
    if not _TO_ADDRESS.fullmatch(message.to):
        raise _ApiError(400, 21211, f"Invalid 'To' Phone Number: {message.to}")
    if message.to in unsubscribed:
        raise _ApiError(400, 21610)
    is_freeform = message.body is not None and message.content_sid is None
    if message.to.startswith("whatsapp:") and message.to in window_closed and is_freeform:
        raise _ApiError(400, 63016)


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class _ListQuery:
    """Filters and paging of a Messages list request."""

    to: str | None
    from_: str | None
    date_sent: date | None
    date_sent_before: date | None
    date_sent_after: date | None
    page: int
    page_size: int
    page_token: str | None

    @classmethod
    def parse(cls, query: Mapping[str, list[str]]) -> _ListQuery:
        return cls(
            to=_first(query, "To"),
            from_=_first(query, "From"),
            date_sent=_parse_date(query, "DateSent"),
            date_sent_before=_parse_date(query, "DateSent<"),
            date_sent_after=_parse_date(query, "DateSent>"),
            page=_parse_int(query, "Page", 0, minimum=0),
            page_size=min(
                _parse_int(query, "PageSize", DEFAULT_PAGE_SIZE, minimum=1), MAX_PAGE_SIZE
            ),
            page_token=_first(query, "PageToken"),
        )

    def matches(self, record: Record) -> bool:
        if self.to is not None and record["to"] != self.to:
            return False
        if self.from_ is not None and record["from"] != self.from_:
            return False
        return self._date_matches(record["date_sent"])

    def _date_matches(self, sent_at: datetime | None) -> bool:
        bounds = (self.date_sent, self.date_sent_before, self.date_sent_after)
        if all(bound is None for bound in bounds):
            return True
        if sent_at is None:
            return False  # never sent: no date filter can select it
        sent_on = sent_at.astimezone(UTC).date()
        # Twilio's DateSent< and DateSent> are inclusive ("on or before", "on or after").
        return (
            (self.date_sent is None or sent_on == self.date_sent)
            and (self.date_sent_before is None or sent_on <= self.date_sent_before)
            and (self.date_sent_after is None or sent_on >= self.date_sent_after)
        )

    def filter_items(self) -> list[tuple[str, str]]:
        """The filters to repeat in page URIs, so following next_page_uri keeps filtering."""
        items = [("To", self.to), ("From", self.from_)]
        items += [
            ("DateSent", _iso(self.date_sent)),
            ("DateSent<", _iso(self.date_sent_before)),
            ("DateSent>", _iso(self.date_sent_after)),
        ]
        return [(key, value) for key, value in items if value is not None]

    def start_index(self, sids: Sequence[str]) -> int:
        """Where this page starts in the newest-first list.

        Twilio's PageToken is a cursor ("PA" + the last SID of the previous page, "PB" + the
        first SID of the next page), so paging is stable while new messages arrive.
        """
        offset = self.page * self.page_size
        token = self.page_token or ""
        cursor = token[2:]
        if token.startswith("PA") and cursor in sids:
            return sids.index(cursor) + 1
        if token.startswith("PB") and cursor in sids:
            return max(0, sids.index(cursor) - self.page_size)
        return offset


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_date(query: Mapping[str, list[str]], key: str) -> date | None:
    value = _first(query, key)
    if value is None:
        return None
    # The docs say YYYY-MM-DD but twilio-python 9 serialises datetimes as
    # YYYY-MM-DDTHH:MM:SSZ, so only the date part is compared.
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise _ApiError(400, 20001, f"Invalid {key}: {value}") from None


def _parse_int(query: Mapping[str, list[str]], key: str, default: int, minimum: int) -> int:
    value = _first(query, key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _ApiError(400, 20001, f"Invalid {key}: {value}") from None
    if number < minimum:
        raise _ApiError(400, 20001, f"Invalid {key}: {value}")
    return number


# --------------------------------------------------------------------------- the fake


class FakeTwilio:
    """A threaded local HTTP server speaking Twilio's 2010-04-01 Messages API.

    State (``messages``, ``attempts``, ``callbacks``) and fault injection are thread-safe. Plain
    attributes may be set at any time: ``delay_seconds``, ``hang_seconds``, ``auto_callbacks``,
    ``auto_callback_delay``, ``callback_timeout``, ``retry_after_seconds``, ``clock``, and the
    address sets ``unsubscribed`` and ``whatsapp_window_closed``.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port

        # Latency added to every create answer. The message (if valid) is already recorded
        # while the answer waits, so a client timing out here has *not* avoided a send.
        self.delay_seconds = 0.0
        # How long a "hang" fault holds the request before closing it unanswered.
        self.hang_seconds = DEFAULT_HANG_SECONDS
        self.auto_callbacks = False
        self.auto_callback_delay = DEFAULT_AUTO_CALLBACK_DELAY
        self.callback_timeout = DEFAULT_CALLBACK_TIMEOUT
        self.retry_after_seconds = DEFAULT_RETRY_AFTER_SECONDS
        self.unsubscribed: set[str] = set()
        self.whatsapp_window_closed: set[str] = set()
        # Tests may swap the clock to put date_created/date_sent on chosen days.
        self.clock: Callable[[], datetime] = _utc_now

        self._lock = threading.RLock()
        self._media: dict[str, tuple[bytes, str]] = {}
        self._changed = threading.Condition(self._lock)
        self._messages: list[Record] = []
        # Messages members sent us (``receive``): Twilio keeps those in the log too.
        self._inbound: list[Record] = []
        self._by_sid: dict[str, Record] = {}
        self._attempts: list[Record] = []
        self._callbacks: list[Record] = []
        self._deletions: list[Record] = []
        self._forced: deque[_Fault] = deque()
        self._failing_lists: deque[int] = deque()
        self._pending_drops = 0
        self._rates = _FaultRates()
        self._seed: int | None = None
        # A seeded PRNG on purpose: fault sequences must replay exactly for a given seed.
        self._rng = random.Random()  # noqa: S311 - not used for anything secret

        self._stop_event = threading.Event()
        self._server: _FakeServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTwilio:
        """Bind and serve in a daemon thread. After stop(), start() rebinds the same port."""
        if self._server is not None:
            raise RuntimeError("FakeTwilio is already running")
        self._stop_event = threading.Event()
        server = _FakeServer((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        # A short poll interval keeps stop() fast: shutdown() waits for the next poll.
        self._serve_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-twilio-{self.port}",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hung and delayed requests are released at once, unanswered."""
        server, thread = self._server, self._serve_thread
        if server is None:
            return
        self._stop_event.set()  # wakes hangs, delays and auto-callback workers
        server.shutdown()
        server.close_connections()  # idle keep-alive handlers would otherwise linger
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            workers, self._workers = self._workers, []
        # Workers stuck in a callback POST are daemons: wait a little, never for long.
        deadline = time.monotonic() + 1.0
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        self._server = None
        self._serve_thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the server listens, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ records

    @property
    def messages(self) -> list[Record]:
        """Snapshot of accepted messages, oldest first (copies: mutating them changes nothing)."""
        with self._lock:
            return copy.deepcopy(self._messages)

    @property
    def inbound(self) -> list[Record]:
        """Snapshot of the messages members sent (``receive``) that Twilio still keeps."""
        with self._lock:
            return copy.deepcopy(self._inbound)

    def receive(self, from_: str, to: str, body: str = "", num_media: int = 0) -> str:
        """Keep a message a member sends, as Twilio does before its webhook; returns its
        SID, for the webhook's ``MessageSid``. Deletable like any other (``_delete``)."""
        record = self._kept(from_, to, body, num_media, direction="inbound", status="received")
        with self._lock:
            self._inbound.append(record)
            self._by_sid[record["sid"]] = record
        return str(record["sid"])

    def reply(self, to: str, from_: str, body: str) -> str:
        """Keep a message Twilio made and sent by itself, with no create call: the reply
        of a webhook's TwiML ``<Message>``, or Advanced Opt-Out's answer to a keyword.
        Returns its SID, which the app never sees. Listed and deletable like any other."""
        record = self._kept(from_, to, body, 0, direction="outbound-reply", status="delivered")
        with self._lock:
            self._messages.append(record)
            self._by_sid[record["sid"]] = record
            self._changed.notify_all()
        return str(record["sid"])

    def _kept(
        self, from_: str, to: str, body: str, num_media: int, *, direction: str, status: str
    ) -> Record:
        now = self.clock()
        return {
            "sid": random_sid("MM" if num_media else "SM"),
            "account_sid": self.account_sid,
            "to": to,
            "from": from_,
            "messaging_service_sid": None,
            "body": body,
            "content_sid": None,
            "content_variables": None,
            "media_urls": [],
            "status_callback": None,
            "status": status,
            "direction": direction,
            "num_segments": count_segments(body),
            "num_media": num_media,
            "error_code": None,
            "error_message": None,
            "created_at": now,
            "updated_at": now,
            "date_sent": now,
        }

    @property
    def attempts(self) -> list[Record]:
        """Snapshot of every create attempt, oldest first, each with its ``outcome``."""
        with self._lock:
            return copy.deepcopy(self._attempts)

    @property
    def callbacks(self) -> list[Record]:
        """Snapshot of status callbacks sent: sid, status, url, http_status, error."""
        with self._lock:
            return copy.deepcopy(self._callbacks)

    @property
    def deletions(self) -> list[Record]:
        """Snapshot of every DELETE of a message, oldest first: sid and outcome ("deleted",
        "not found" or "in progress")."""
        with self._lock:
            return copy.deepcopy(self._deletions)

    def messages_to(self, address: str) -> list[Record]:
        """Accepted messages whose ``to`` is exactly ``address`` (e.g. ``whatsapp:+1555...``)."""
        return [record for record in self.messages if record["to"] == address]

    def get_message(self, sid: str) -> Record:
        """A copy of one message record; KeyError if the fake never accepted ``sid``."""
        with self._lock:
            return copy.deepcopy(self._by_sid[sid])

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[Record]:
        """Block until at least ``count`` messages were accepted; TimeoutError otherwise.

        For tests whose sends happen on a worker thread or in another process.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} of {count} messages after {timeout}s")
            return copy.deepcopy(self._messages)

    def add_media(self, content: bytes, content_type: str) -> str:
        """Keep a media file as Twilio would for an inbound message; returns its URL.

        Like Twilio's, the URL answers only with the account's credentials.
        """
        sid = random_sid("ME")
        with self._lock:
            self._media[sid] = (content, content_type)
        message = random_sid("MM")
        account = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}"
        return f"{account}/Messages/{message}/Media/{sid}"

    def reset(self) -> None:
        """Forget all records and restore every fault and config setting to its default."""
        with self._lock:
            self._messages.clear()
            self._inbound.clear()
            self._by_sid.clear()
            self._attempts.clear()
            self._callbacks.clear()
            self._deletions.clear()
            self._media.clear()
            self._forced.clear()
            self._failing_lists.clear()
            self._pending_drops = 0
            self.clock = _utc_now
            self._rates = _FaultRates()
            self._seed = None
            self._rng = random.Random()  # noqa: S311 - see __init__
            self.delay_seconds = 0.0
            self.hang_seconds = DEFAULT_HANG_SECONDS
            self.auto_callbacks = False
            self.auto_callback_delay = DEFAULT_AUTO_CALLBACK_DELAY
            self.callback_timeout = DEFAULT_CALLBACK_TIMEOUT
            self.retry_after_seconds = DEFAULT_RETRY_AFTER_SECONDS
            # Cleared in place: tests may hold references to these sets.
            self.unsubscribed.clear()
            self.whatsapp_window_closed.clear()

    # ------------------------------------------------------------------ fault injection

    def fail_next(self, count: int = 1, status: int = 500, code: int | None = None) -> None:
        """Make the next ``count`` create calls fail with ``status`` (429 adds Retry-After)."""
        if count < 0 or not 400 <= status <= 599:
            raise ValueError(f"bad fail_next(count={count}, status={status})")
        fault = _Fault("error", status, code or _DEFAULT_ERROR_CODES.get(status, status))
        with self._lock:
            self._forced.extend([fault] * count)

    def fail_next_lists(self, count: int = 1, status: int = 500) -> None:
        """Make the next ``count`` list calls (GET of the Messages collection) fail."""
        if count < 0 or not 400 <= status <= 599:
            raise ValueError(f"bad fail_next_lists(count={count}, status={status})")
        with self._lock:
            self._failing_lists.extend([status] * count)

    def hang_next(self, count: int = 1) -> None:
        """Make the next ``count`` create calls hang (no answer, no message)."""
        with self._lock:
            self._forced.extend([_Fault("hang")] * count)

    def drop_next(self, count: int = 1) -> None:
        """Accept the next ``count`` *valid* creates, then close without answering."""
        with self._lock:
            self._pending_drops += count

    def set_fault_rates(
        self,
        error_500: float = 0.0,
        error_429: float = 0.0,
        hang: float = 0.0,
        drop_after_accept: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Random faults on create calls. A ``seed`` replays the same fault sequence.

        Every create call draws exactly two numbers (one for 500/429/hang, one for the drop),
        whatever happens to it, so the sequence for a seed does not depend on payloads.
        ``seed=None`` keeps the current generator.
        """
        rates = _FaultRates(error_500, error_429, hang, drop_after_accept)
        with self._lock:
            self._rates = rates
            if seed is not None:
                self._seed = seed
                self._rng = random.Random(seed)  # noqa: S311 - see __init__

    def configure(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a partial config (the ``/_fake/config`` body) and return the full config.

        Rates not mentioned keep their values; the generator is reseeded only if ``seed`` is.
        """
        unknown = set(settings) - set(self.config())
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        with self._lock:
            rates = {
                **self._rates.as_dict(),
                **{name: float(value) for name, value in settings.items() if name in _RATE_NAMES},
            }
            seed = settings.get("seed")
            self.set_fault_rates(
                error_500=rates["error_500"],
                error_429=rates["error_429"],
                hang=rates["hang"],
                drop_after_accept=rates["drop_after_accept"],
                seed=None if seed is None else int(seed),
            )
            for name in _FLOAT_SETTINGS:
                if name in settings:
                    setattr(self, name, float(settings[name]))
            if "retry_after_seconds" in settings:
                self.retry_after_seconds = int(settings["retry_after_seconds"])
            if "auto_callbacks" in settings:
                self.auto_callbacks = bool(settings["auto_callbacks"])
            for name in ("unsubscribed", "whatsapp_window_closed"):
                if name in settings:
                    addresses: set[str] = getattr(self, name)
                    addresses.clear()  # in place: callers may hold a reference to the set
                    addresses.update(str(address) for address in settings[name])
            return self.config()

    def config(self) -> dict[str, Any]:
        """The current fault rates and settings, as ``/_fake/config`` reports them."""
        with self._lock:
            return {
                **self._rates.as_dict(),
                "seed": self._seed,
                "delay_seconds": self.delay_seconds,
                "hang_seconds": self.hang_seconds,
                "auto_callbacks": self.auto_callbacks,
                "auto_callback_delay": self.auto_callback_delay,
                "callback_timeout": self.callback_timeout,
                "retry_after_seconds": self.retry_after_seconds,
                "unsubscribed": sorted(self.unsubscribed),
                "whatsapp_window_closed": sorted(self.whatsapp_window_closed),
            }

    # ------------------------------------------------------------------ status callbacks

    def set_status(self, sid: str, status: str) -> None:
        """Move a message to ``status`` without calling back (a delivery nobody listens to)."""
        self._set_status(sid, status, None)

    def send_status(self, sid: str, status: str, error_code: int | None = None) -> int | None:
        """Move a message to ``status`` and POST the signed callback Twilio would send.

        Returns the callback's HTTP status (4xx/5xx included), or None when the message has
        no StatusCallback. Connection failures raise OSError (urllib.error.URLError).
        KeyError if the fake never accepted ``sid``.
        """
        record = self._set_status(sid, status, error_code)
        url = record["status_callback"]
        if url is None:
            return None
        params = self._callback_params(record, error_code)
        headers = {
            "X-Twilio-Signature": sign_request(self.auth_token, url, params),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }
        http_status: int | None = None
        error: str | None = None
        try:
            http_status = _post_form(url, params, headers, self.callback_timeout)
            return http_status
        except (OSError, ValueError) as exc:
            error = repr(exc)
            raise
        finally:
            self._log_callback(sid, status, url, http_status, error)

    def _set_status(self, sid: str, status: str, error_code: int | None) -> Record:
        with self._lock:
            record = self._by_sid[sid]
            now = self.clock()
            record["status"] = status
            record["updated_at"] = now
            if status in _SENT_STATUSES and record["date_sent"] is None:
                record["date_sent"] = now
            if error_code is not None:
                record["error_code"] = error_code
                record["error_message"] = _ERROR_MESSAGES.get(error_code)
            return copy.deepcopy(record)

    def _callback_params(self, record: Record, error_code: int | None) -> dict[str, str]:
        params = {
            "AccountSid": record["account_sid"],
            "ApiVersion": API_VERSION,
            "MessageSid": record["sid"],
            "SmsSid": record["sid"],
            "MessageStatus": record["status"],
            "SmsStatus": record["status"],
            "To": record["to"],
        }
        # Optional fields are left out rather than sent empty, as Twilio does.
        if record["from"] is not None:
            params["From"] = record["from"]
        if record["messaging_service_sid"] is not None:
            params["MessagingServiceSid"] = record["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        if str(record["to"]).startswith("whatsapp:"):
            params["ChannelPrefix"] = "whatsapp"
        return params

    def _log_callback(
        self, sid: str, status: str, url: str, http_status: int | None, error: str | None
    ) -> None:
        entry = {
            "sid": sid,
            "status": status,
            "url": url,
            "http_status": http_status,
            "error": error,
            "sent_at": self.clock(),
        }
        with self._lock:
            self._callbacks.append(entry)

    def _schedule_auto_callbacks(self, sid: str) -> None:
        worker = threading.Thread(
            target=self._run_auto_callbacks, args=(sid,), name=f"fake-twilio-cb-{sid}", daemon=True
        )
        with self._lock:
            self._workers = [thread for thread in self._workers if thread.is_alive()]
            self._workers.append(worker)
        worker.start()

    def _run_auto_callbacks(self, sid: str) -> None:
        for status in ("sent", "delivered"):
            if self._stop_event.wait(self.auto_callback_delay):
                return
            try:
                self.send_status(sid, status)
            except KeyError:
                return  # reset() forgot the message meanwhile
            except (OSError, ValueError) as exc:
                # Already logged in callbacks; a background thread has nobody to raise to.
                log.warning("status callback for %s (%s) failed: %s", sid, status, exc)

    # ------------------------------------------------------------------ request handling

    def _wait(self, seconds: float) -> bool:
        """Sleep that stop() interrupts; True if the fake is stopping."""
        return self._stop_event.wait(seconds) if seconds > 0 else self._stop_event.is_set()

    def _handle(self, request: _Request) -> _Reply:
        parts = urllib.parse.urlsplit(request.path)
        if parts.path.startswith(CONTROL_PREFIX):
            return self._handle_control(request.method, parts.path, request.body)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        try:
            return self._handle_api(request, parts.path, query)
        except _ApiError as error:
            return error.reply()

    def _handle_api(self, request: _Request, path: str, query: Mapping[str, list[str]]) -> _Reply:
        media = _MEDIA_PATH.fullmatch(path)
        if media is not None and request.method == "GET":
            self._check_access(request.authorization, media, path)
            with self._lock:
                stored = self._media.get(media["sid"])
            if stored is None:
                raise _not_found(path)
            return _Reply(200, action="raw", raw=stored[0], content_type=stored[1])
        collection = _COLLECTION_PATH.fullmatch(path)
        instance = _INSTANCE_PATH.fullmatch(path)
        is_create = collection is not None and request.method == "POST"
        form = _parse_form(request.body) if is_create else {}
        try:
            self._check_access(request.authorization, collection or instance, path)
        except _ApiError as error:
            if is_create:  # attempts log *every* create, rejected ones included
                self._record_attempt(_MessageRequest.from_form(form), f"rejected:{error.code}")
            raise
        if collection is not None and request.method == "POST":
            return self._create(form)
        if collection is not None and request.method == "GET":
            return self._list(_ListQuery.parse(query))
        if instance is not None and request.method == "GET":
            return self._fetch(instance["sid"], path)
        if instance is not None and request.method == "DELETE":
            return self._delete(instance["sid"], path)
        if collection is not None or instance is not None:
            raise _ApiError(405, 20004)
        raise _not_found(path)

    def _check_access(
        self, authorization: str | None, route: re.Match[str] | None, path: str
    ) -> None:
        # Twilio authenticates before it looks at the path, hence 401 even for unknown URLs.
        if _basic_credentials(authorization) != (self.account_sid, self.auth_token):
            raise _ApiError(401, 20003)
        if route is not None and route["account"] != self.account_sid:
            raise _not_found(path)

    def _create(self, form: Mapping[str, list[str]]) -> _Reply:
        message = _MessageRequest.from_form(form)
        fault, drop_roll = self._draw_fault()
        if fault is not None:
            return self._fault_reply(message, fault)
        try:
            _validate(message, self.unsubscribed, self.whatsapp_window_closed)
        except _ApiError as error:
            self._record_attempt(message, f"rejected:{error.code}")
            return error.reply(delay=self.delay_seconds)
        record = self._accept(message)
        dropped = self._take_drop(drop_roll)
        self._record_attempt(message, "dropped" if dropped else "accepted", record["sid"])
        if self.auto_callbacks and message.status_callback is not None:
            # Twilio accepted it, so callbacks follow even when the answer is dropped.
            self._schedule_auto_callbacks(record["sid"])
        if dropped:
            return _Reply(action="drop", delay=self.delay_seconds)
        return _Reply(201, self._message_json(record), delay=self.delay_seconds)

    def _draw_fault(self) -> tuple[_Fault | None, float]:
        with self._lock:
            # Draw both numbers every time so a seed replays regardless of forced faults.
            roll, drop_roll = self._rng.random(), self._rng.random()
            if self._forced:
                return self._forced.popleft(), drop_roll
            return self._rates.fault_for(roll), drop_roll

    def _take_drop(self, drop_roll: float) -> bool:
        with self._lock:
            if self._pending_drops > 0:
                self._pending_drops -= 1
                return True
            return drop_roll < self._rates.drop_after_accept

    def _fault_reply(self, message: _MessageRequest, fault: _Fault) -> _Reply:
        if fault.kind == "hang":
            self._record_attempt(message, "hang")
            return _Reply(action="hang")
        self._record_attempt(message, f"error:{fault.status}")
        headers = {"Retry-After": str(self.retry_after_seconds)} if fault.status == 429 else {}
        return _ApiError(fault.status, fault.code).reply(self.delay_seconds, headers)

    def _accept(self, message: _MessageRequest) -> Record:
        now = self.clock()
        uses_service_only = message.from_ is None
        record: Record = {
            "sid": random_sid("SM"),
            "account_sid": self.account_sid,
            "to": message.to,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "body": message.body,
            "content_sid": message.content_sid,
            "content_variables": message.content_variables,
            "media_urls": list(message.media_urls),
            "status_callback": message.status_callback,
            # A messaging service picks the sender later, so Twilio says "accepted".
            "status": "accepted" if uses_service_only else "queued",
            "num_segments": count_segments(message.body or ""),
            "num_media": len(message.media_urls),
            "error_code": None,
            "error_message": None,
            "created_at": now,
            "updated_at": now,
            "date_sent": None,
        }
        with self._changed:
            self._messages.append(record)
            self._by_sid[record["sid"]] = record
            self._changed.notify_all()
            return copy.deepcopy(record)

    def _record_attempt(
        self, message: _MessageRequest, outcome: str, sid: str | None = None
    ) -> None:
        attempt = {
            "outcome": outcome,
            "sid": sid,
            "to": message.to,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "body": message.body,
            "content_sid": message.content_sid,
            "created_at": self.clock(),
        }
        with self._lock:
            self._attempts.append(attempt)

    def _fetch(self, sid: str, path: str) -> _Reply:
        with self._lock:
            record = self._by_sid.get(sid)
            if record is None:
                raise _not_found(path)
            return _Reply(200, self._message_json(record))

    def _delete(self, sid: str, path: str) -> _Reply:
        """Twilio deletes a message (and its media) once it is final; before that, 20009."""
        with self._lock:
            record = self._by_sid.get(sid)
            if record is not None and record["status"] in IN_PROGRESS:
                self._deletions.append({"sid": sid, "outcome": "in progress"})
                raise _ApiError(409, 20009)
            self._deletions.append(
                {"sid": sid, "outcome": "not found" if record is None else "deleted"}
            )
            if record is None:
                raise _not_found(path)
            del self._by_sid[sid]
            kept = self._inbound if record.get("direction") == "inbound" else self._messages
            kept.remove(record)
        return _Reply(204, action="raw", raw=b"", content_type="application/json")

    def _list(self, query: _ListQuery) -> _Reply:
        with self._lock:
            if self._failing_lists:
                status = self._failing_lists.popleft()
                raise _ApiError(status, _DEFAULT_ERROR_CODES.get(status, status))
            indexed = sorted(
                enumerate(self._messages),
                key=lambda pair: (pair[1]["created_at"], pair[0]),
                reverse=True,  # newest first; insertion order breaks same-instant ties
            )
            matching = [record for _, record in indexed if query.matches(record)]
            start = query.start_index([record["sid"] for record in matching])
            page = matching[start : start + query.page_size]
            has_next = start + len(page) < len(matching)
            return _Reply(200, self._page_json(query, page, has_next))

    def _page_json(self, query: _ListQuery, page: list[Record], has_next: bool) -> dict[str, Any]:
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        # Page URIs are relative to the API host and include /2010-04-01, as Twilio's are:
        # the client resolves them against its domain and follows next_page_uri verbatim.
        def uri(page_number: int, token: str | None = None) -> str:
            items = [
                *query.filter_items(),
                ("PageSize", str(query.page_size)),
                ("Page", str(page_number)),
            ]
            if token is not None:
                items.append(("PageToken", token))
            return f"{base}?{urllib.parse.urlencode(items)}"

        start = query.page * query.page_size
        previous = None
        if query.page > 0:
            previous = uri(query.page - 1, f"PB{page[0]['sid']}" if page else None)
        return {
            "messages": [self._message_json(record) for record in page],
            "first_page_uri": uri(0),
            "next_page_uri": uri(query.page + 1, f"PA{page[-1]['sid']}") if has_next else None,
            "previous_page_uri": previous,
            "page": query.page,
            "page_size": query.page_size,
            "start": start,
            "end": start + max(len(page) - 1, 0),
            "uri": uri(query.page, query.page_token),
        }

    def _message_json(self, record: Record) -> dict[str, Any]:
        """A message resource as Twilio renders it (counts are strings, dates RFC 2822)."""
        uri = f"/{API_VERSION}/Accounts/{record['account_sid']}/Messages/{record['sid']}"
        date_sent = record["date_sent"]
        return {
            "account_sid": record["account_sid"],
            "api_version": API_VERSION,
            "body": record["body"] or "",
            "date_created": rfc2822(record["created_at"]),
            "date_sent": None if date_sent is None else rfc2822(date_sent),
            "date_updated": rfc2822(record["updated_at"]),
            "direction": record.get("direction", "outbound-api"),
            "error_code": record["error_code"],
            "error_message": record["error_message"],
            "from": record["from"],
            "messaging_service_sid": record["messaging_service_sid"],
            "num_media": str(record["num_media"]),
            "num_segments": str(record["num_segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": record["sid"],
            "status": record["status"],
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": record["to"],
            "uri": f"{uri}.json",
        }

    # ------------------------------------------------------------------ control API

    def _handle_control(self, method: str, path: str, body: bytes) -> _Reply:
        """``/_fake/...``: unauthenticated JSON endpoints for tests and other processes.

        GET  messages | attempts | callbacks | config
        POST reset | config {settings} | fail_next {count, status, code} | hang_next {count}
             | drop_next {count} | send_status {sid, status, error_code}
        """
        name = path[len(CONTROL_PREFIX) :].strip("/")
        try:
            payload = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the JSON body must be an object")
            return _Reply(200, _jsonable(self._control(method, name, payload)))
        except LookupError as error:
            return _Reply(404, {"error": f"not found: {error}"})
        except (ValueError, TypeError) as error:
            return _Reply(400, {"error": str(error)})

    def _control(self, method: str, name: str, payload: dict[str, Any]) -> Any:
        match (method, name):
            case ("GET", "messages"):
                return self.messages
            case ("GET", "attempts"):
                return self.attempts
            case ("GET", "callbacks"):
                return self.callbacks
            case ("GET", "config"):
                return self.config()
            case ("POST", "config"):
                return self.configure(payload)
            case ("POST", "reset"):
                self.reset()
            case ("POST", "fail_next"):
                self.fail_next(
                    int(payload.get("count", 1)),
                    int(payload.get("status", 500)),
                    payload.get("code"),
                )
            case ("POST", "hang_next"):
                self.hang_next(int(payload.get("count", 1)))
            case ("POST", "drop_next"):
                self.drop_next(int(payload.get("count", 1)))
            case ("POST", "send_status"):
                http_status = self.send_status(
                    str(payload["sid"]), str(payload["status"]), payload.get("error_code")
                )
                return {"http_status": http_status}
            case _:
                raise LookupError(f"{method} {CONTROL_PREFIX}{name}")
        return {"ok": True}


def _not_found(path: str) -> _ApiError:
    return _ApiError(404, 20404, f"The requested resource {path} was not found")


def _parse_form(body: bytes) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


# --------------------------------------------------------------------------- HTTP plumbing


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # restart on the same port while old sockets sit in TIME_WAIT
    # socketserver's default backlog of 5 drops SYNs under concurrent load; the client then
    # sees connect timeouts that no real Twilio outage would explain.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeTwilio) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Unblock handler threads parked on keep-alive connections so they exit now."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients vanishing mid-request is routine here (timeouts, drops); keep stderr quiet.
        log.debug("fake twilio: error while handling %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive like the real API: the client pools connections, and benchmarks should not
    # pay a TCP handshake per call.
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"
    # Idle keep-alive connections give up on their own even if stop() is never called.
    timeout = 60
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK
    # adds ~40 ms to every call, which would swamp any benchmark.
    disable_nagle_algorithm = True

    @property
    def _fake_server(self) -> _FakeServer:
        return cast(_FakeServer, self.server)

    def setup(self) -> None:
        super().setup()
        self._fake_server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._fake_server.untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake twilio: " + format, *args)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            # The client went away mid-request (a worker killed while sending): as with
            # Twilio, nothing happens and nobody is there to answer.
            self.close_connection = True
            return
        request = _Request(
            method=self.command,
            path=self.path,
            authorization=self.headers.get("Authorization"),
            body=body,
        )
        try:
            reply = self._fake_server.fake._handle(request)
        except Exception:
            # A bug in the fake should look like a Twilio 500, not a mysterious hangup.
            log.exception("fake twilio: unhandled error for %s %s", self.command, self.path)
            reply = _Reply(500, twilio_error(500, 20500))
        self._deliver(reply)

    def _deliver(self, reply: _Reply) -> None:
        fake = self._fake_server.fake
        if reply.action == "hang":
            # Hold the request, then give up unanswered like a stuck gateway. stop() ends the
            # wait early so no test ever waits for hang_seconds.
            fake._wait(fake.hang_seconds)
            self.close_connection = True
            return
        stopping = fake._wait(reply.delay)
        if stopping or reply.action == "drop":
            # "drop": the crash window. The message is recorded, but the client sees the
            # connection close with no HTTP response at all.
            self.close_connection = True
            return
        if reply.action == "raw":
            self._write_raw(reply)
        else:
            self._write_json(reply)

    def _write_raw(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.raw)))
        self.end_headers()
        self.wfile.write(reply.raw)

    def _write_json(self, reply: _Reply) -> None:
        data = json.dumps(reply.payload).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Twilio-Request-Id", random_sid("RQ"))
        if reply.status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake in the foreground until SIGTERM/SIGINT; prints its base URL first."""
    parser = argparse.ArgumentParser(description="Fake Twilio REST API for tests and benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--auto-callbacks", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    fake = FakeTwilio(args.account_sid, args.auth_token, args.host, args.port)
    fake.auto_callbacks = args.auto_callbacks
    with fake:
        print(fake.base_url, flush=True)
        # A timed wait, so the main thread wakes up to run the signal handler promptly.
        while not stop_requested.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
