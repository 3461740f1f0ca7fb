"""Transports: how an outbound row leaves the building.

``TwilioTransport`` calls Twilio's Messages API. ``ConsoleTransport`` (no Twilio account
configured) records the message in the log and treats it as delivered, so the whole
system, worker and outbox included, runs on a laptop.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ..logs import mask_digits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    sid: str
    status: str  # as Twilio reported it: queued, accepted, sent, delivered...


class SendError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientSendError(SendError):
    """Worth trying again later: rate limits, Twilio outages, timeouts, network trouble.

    ``uncertain``: Twilio may have the message even so (a timeout, a dropped connection, a
    5xx answer), so the next attempt asks Twilio before sending again.

    ``credentials_refused``: Twilio refused our account's credentials (401). Retried like
    the rest, but worth an error in the log every time: nothing gets out until an operator
    fixes the settings.
    """

    def __init__(
        self,
        code: str,
        message: str,
        retry_after: float | None = None,
        uncertain: bool = False,
        credentials_refused: bool = False,
    ) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after
        self.uncertain = uncertain
        self.credentials_refused = credentials_refused


def credentials_refused_advice(code: str) -> str:
    """What every log line about Twilio refusing our account says, wherever it happens: what
    to fix."""
    return (
        f"Twilio refused our credentials ({code}); check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
    )


class PermanentSendError(SendError):
    """Trying again would fail the same way: a bad number, an unsubscribed member."""


# Twilio error codes that mean "this recipient is gone", not "this message is bad".
UNSUBSCRIBED = "21610"
INVALID_NUMBERS = frozenset({"21211", "21614", "21612", "21408", "63003"})
OUTSIDE_WHATSAPP_WINDOW = "63016"
# 4xx answers that pass: too many messages queued for the sender (21611), and the
# account's credentials refused (20003), which an operator fixes while the row waits.
PASSING_CLIENT_ERRORS = frozenset({"21611", "20003"})
AUTHENTICATION_FAILED = "20003"


@dataclass(frozen=True)
class Envelope:
    to: str  # "+447700900123" or "whatsapp:+447700900123"
    from_: str | None
    body: str
    status_callback: str | None
    # An approved WhatsApp template replaces the body outside the 24-hour window.
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None


class Transport(Protocol):
    name: str

    def send(self, envelope: Envelope) -> Accepted: ...

    def find_sent(self, envelope: Envelope, since: datetime) -> list[Accepted]:
        """Messages like ``envelope`` the provider accepted at or after ``since``."""
        ...

    def delete_message(self, sid: str) -> None:
        """Delete the provider's copy of message ``sid`` and its media; raises
        ``SendError`` if it will not (yet)."""
        ...

    def sent_to(self, address: str, until: datetime) -> list[str]:
        """The SIDs of the messages the provider keeps that were sent to ``address`` up to
        ``until``, whoever made them; raises ``SendError`` if it cannot tell."""
        ...


class TwilioTransport:
    name = "twilio"

    def __init__(self, client: Client, messaging_service_sid: str | None = None) -> None:
        self.client = client
        self.messaging_service_sid = messaging_service_sid

    def send(self, envelope: Envelope) -> Accepted:
        params: dict[str, str] = {"to": envelope.to}
        if envelope.content_sid:
            params["content_sid"] = envelope.content_sid
            params["content_variables"] = json.dumps(envelope.content_variables or {})
        else:
            params["body"] = envelope.body
        if envelope.from_:
            params["from_"] = envelope.from_
        elif self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if envelope.status_callback:
            params["status_callback"] = envelope.status_callback
        with twilio_errors_classified():
            message = self.client.messages.create(**params)
        return Accepted(sid=message.sid, status=message.status or "queued")

    def find_sent(self, envelope: Envelope, since: datetime) -> list[Accepted]:
        """Messages like ``envelope`` Twilio accepted at or after ``since``, newest first.

        Several can match (two replies with the same text); the caller skips those another
        row already holds.
        """
        filters: dict[str, str] = {"to": envelope.to}
        if envelope.from_:
            filters["from_"] = envelope.from_
        found = []
        # Twilio's list filters by the day a message was *sent*, which a queued message
        # does not have yet, so ask for the newest messages to this member and compare.
        with twilio_errors_classified():
            for message in self.client.messages.list(**filters, limit=50):
                created = message.date_created
                if created is not None and created < since - timedelta(seconds=5):
                    break
                # A template's text is Twilio's rendering, not ours: match it by time alone.
                if envelope.content_sid or message.body == envelope.body:
                    found.append(Accepted(sid=message.sid, status=message.status or "queued"))
        return found

    def delete_message(self, sid: str) -> None:
        """Delete Twilio's record of ``sid``, which deletes its media too."""
        with twilio_errors_classified():
            self.client.messages(sid).delete()

    def sent_to(self, address: str, until: datetime) -> list[str]:
        """Every message Twilio keeps that went to ``address`` (ours, those Twilio made from
        our TwiML, its Advanced Opt-Out's replies) and was created by ``until``: every page,
        1,000 (Twilio's most) a page."""
        with twilio_errors_classified():
            return [
                message.sid
                for message in self.client.messages.list(to=address, page_size=1000)
                if message.sid and message.date_created and message.date_created <= until
            ]


@contextmanager
def twilio_errors_classified() -> Iterator[None]:
    """Turn what the Twilio client raises into a transient or permanent ``SendError``."""
    try:
        yield
    except TwilioRestException as exc:
        raise classify_rest_error(exc) from exc
    except requests.RequestException as exc:
        # Timeouts and dropped connections: Twilio may or may not have the message. The
        # row stays "sending" until retried; the sweeper asks Twilio before re-sending.
        raise TransientSendError("network", type(exc).__name__, uncertain=True) from exc
    except TwilioException as exc:
        raise TransientSendError("twilio", str(exc), uncertain=True) from exc


def classify_rest_error(exc: TwilioRestException) -> SendError:
    code = str(exc.code) if exc.code is not None else str(exc.status)
    message = exc.msg if isinstance(exc.msg, str) else str(exc)
    if exc.status == 401 or code == AUTHENTICATION_FAILED:
        return TransientSendError(code, message, credentials_refused=True)
    if exc.status == 429 or code == "20429" or code in PASSING_CLIENT_ERRORS:
        return TransientSendError(code, message)
    if exc.status >= 500:
        # Twilio failed while handling the request: it may have created the message.
        return TransientSendError(code, message, uncertain=True)
    return PermanentSendError(code, message)


class ConsoleTransport:
    """Prints instead of sending; the outbox row itself is the record."""

    name = "console"

    def send(self, envelope: Envelope) -> Accepted:
        sid = "SMconsole" + secrets.token_hex(12)
        log.info(
            "console transport: message %s to %s (%d characters)",
            sid,
            mask_digits(envelope.to),
            len(envelope.body),
        )
        return Accepted(sid=sid, status="delivered")

    def find_sent(self, envelope: Envelope, since: datetime) -> list[Accepted]:
        # Nothing leaves the machine, so nothing can be half-sent.
        return []

    def delete_message(self, sid: str) -> None:
        # Nothing left the machine, so nothing is kept elsewhere.
        log.info("console transport: nothing to delete for %s", sid)

    def sent_to(self, address: str, until: datetime) -> list[str]:
        # Nothing left the machine, so there is nothing to find.
        return []
