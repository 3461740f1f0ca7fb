"""Phone numbers never sit in the database, or the logs, in clear text."""

from __future__ import annotations

import io
import logging
import shutil
import sqlite3
import subprocess

import pytest
from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.delivery import record_status
from feedback_bot.extensions import db
from feedback_bot.logs import RedactingFilter, redact
from feedback_bot.messaging.transport import (
    Envelope,
    PermanentSendError,
    SendError,
    TransientSendError,
    TwilioTransport,
)
from feedback_bot.models import Contact, MessageKind, OutboundMessage, OutboundStatus
from feedback_bot.outbox import owe_message
from feedback_bot.privacy import mask_phone, vault

from .conftest import drain, outbound, send_sms

NUMBERS = ["+447911123456", "+48512345678", "+380501234567"]


def database_dump(app) -> str:
    with app.app_context():
        url = db.engine.url
        if url.get_backend_name() == "postgresql":
            pg_dump = shutil.which("pg_dump")
            if pg_dump is None:
                pytest.fail("pg_dump is needed to check the PostgreSQL dump")
            plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return subprocess.run(
                [pg_dump, "--data-only", plain], check=True, capture_output=True, text=True
            ).stdout
        with sqlite3.connect(url.database) as connection:
            return "\n".join(connection.iterdump())


def test_a_database_dump_holds_no_phone_number(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    for number in NUMBERS:
        send_sms(client, number, "The playground gate is broken.")
        send_sms(client, f"whatsapp:{number}", "HELP")
    drain(app)

    dump = database_dump(app)
    assert "The playground gate is broken." in dump  # the dump is real and has the data
    for number in NUMBERS:
        digits = number.lstrip("+")
        assert digits not in dump
        assert digits[-9:] not in dump  # nor the national form
        assert digits not in caplog.text
    assert "The playground gate is broken." not in caplog.text


def test_numbers_are_encrypted_and_found_by_keyed_hash(app, client):
    send_sms(client, NUMBERS[0], "Hello")
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        assert vault().decrypt(contact.phone_ciphertext) == NUMBERS[0]
        assert contact.phone_hash == vault().lookup_hash(NUMBERS[0])
        assert contact.phone_hash != vault().lookup_hash(NUMBERS[1])


def test_masked_number_shows_only_country_and_last_digits():
    assert mask_phone("+447911123456") == "+44 •••• ••34 56"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+50051234", "+500 •••• ••4"),  # the Falklands: five digits
        ("+6831234", "+683 •••• ••4"),  # Niue: four
        ("+2906123", "+290 •••• ••3"),  # St Helena: four
        ("+35621234567", "+356 •••• ••67"),  # Malta: eight
    ],
)
def test_a_short_number_shows_a_third_of_it_at_most(number, masked):
    assert mask_phone(number) == masked


# Twilio's own wording of the errors that echo the "To" address.
TWILIO_ERRORS = {
    "21211": "Invalid 'To' Phone Number: {to}",
    "21408": "Permission to send an SMS has not been enabled for the region indicated by the "
    "'To' number: {to}.",
    "21612": "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
    "number via SMS.",
}


def refusing_with(monkeypatch, error: type[SendError], code: str) -> None:
    """Our Twilio transport's next send fails with Twilio's text for ``code``."""

    def send(self: TwilioTransport, envelope: Envelope) -> None:
        monkeypatch.undo()
        raise error(code, TWILIO_ERRORS[code].format(to=envelope.to))

    monkeypatch.setattr(TwilioTransport, "send", send)


@pytest.mark.parametrize("code", sorted(TWILIO_ERRORS))
@pytest.mark.parametrize(
    ("error", "status"),
    [(PermanentSendError, OutboundStatus.FAILED), (TransientSendError, OutboundStatus.PENDING)],
)
@pytest.mark.parametrize("number", [NUMBERS[0], f"whatsapp:{NUMBERS[1]}"])
def test_twilio_error_texts_are_kept_without_the_number(
    app, client, fake_twilio, monkeypatch, code, error, status, number
):
    refusing_with(monkeypatch, error, code)
    send_sms(client, number, "The playground gate is broken.")

    [row] = outbound(app)
    assert (row.status, row.error_code) == (status, code)
    digits = number.removeprefix("whatsapp:").lstrip("+")
    assert digits not in row.error_message
    assert digits[-9:] not in row.error_message
    assert row.error_message == TWILIO_ERRORS[code].format(to="•••" + digits[-2:])
    assert digits not in database_dump(app)


def test_a_short_number_twilio_calls_invalid_is_not_kept_in_the_error(app, client, fake_twilio):
    """Niue's numbers have seven digits: too short to look like a phone number to the log
    redaction, and too short for the fake Twilio, which refuses them as Twilio does (21211)
    and echoes the number. The row's own address is masked wherever the text has it."""
    niue = "+6834002"
    send_sms(client, niue, "The playground gate is broken.")

    [row] = outbound(app)
    assert (row.status, row.error_code) == (OutboundStatus.FAILED, "21211")
    assert row.error_message.endswith("Invalid 'To' Phone Number: •••02")
    assert row.to_ciphertext is None
    assert "6834002" not in database_dump(app)


def test_forget_erases_error_texts_kept_before(app, client, fake_twilio):
    """Rows refused before error texts were masked hold the number in clear: FORGET erases
    those texts with the rest."""
    send_sms(client, NUMBERS[0], "The playground gate is broken.")
    with app.app_context():
        row = db.session.scalars(select(OutboundMessage)).one()
        row.error_message = TWILIO_ERRORS["21612"].format(to=NUMBERS[0])
        db.session.commit()
    send_sms(client, NUMBERS[0], "FORGET")

    acknowledgement, confirmation = outbound(app)
    assert acknowledgement.error_message is None
    assert confirmation.kind == MessageKind.FORGET
    assert NUMBERS[0].lstrip("+") not in database_dump(app)


def test_rows_keep_no_number_once_they_are_final(app, client, fake_twilio, monkeypatch):
    """Sent, refused or cancelled, a row is never sent again: its address goes. What
    follows a row (an SMS fallback, the rating question) is addressed from the member."""
    send_sms(client, NUMBERS[0], "The playground gate is broken.")  # sent
    refusing_with(monkeypatch, PermanentSendError, "21612")
    send_sms(client, NUMBERS[1], "The playground gate is broken.")  # refused
    send_sms(client, NUMBERS[2], "STOP")  # its confirmation is sent...
    send_sms(client, NUMBERS[2], "LANGUAGE")  # ... then nothing more
    drain(app)

    rows = outbound(app)
    assert [row.status for row in rows] == [
        OutboundStatus.QUEUED,
        OutboundStatus.FAILED,
        OutboundStatus.QUEUED,
        OutboundStatus.CANCELLED,
    ]
    assert [row.to_ciphertext for row in rows] == [None] * 4


def test_a_status_callback_drops_a_number_kept_before(app, client, fake_twilio):
    """Rows sent before addresses were dropped on sending still hold one; the next status
    callback for them drops it."""
    send_sms(client, NUMBERS[0], "The playground gate is broken.")
    with app.app_context():
        row = db.session.scalars(select(OutboundMessage)).one()
        row.to_ciphertext = vault().encrypt(NUMBERS[0])
        db.session.commit()
        record_status(row.twilio_sid, OutboundStatus.DELIVERED, None, clock.now())

    [row] = outbound(app)
    assert (row.status, row.to_ciphertext) == (OutboundStatus.DELIVERED, None)


def test_an_acknowledgement_given_inline_is_kept_without_the_number(app, client, fake_twilio):
    """With the database down the member is acknowledged in the webhook's answer; the row
    that records it, owed already sent, keeps no address."""
    send_sms(client, NUMBERS[0], "HELP")
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        row_id = owe_message(
            key="ack:inline",
            kind=MessageKind.ACK_INLINE,
            contact=contact,
            channel="sms",
            to_e164=NUMBERS[0],
            status=OutboundStatus.SENT,
            days=21,
        )
        db.session.commit()
        row = db.session.get(OutboundMessage, row_id)
        assert (row.status, row.to_ciphertext) == (OutboundStatus.SENT, None)


def test_a_logged_traceback_holds_no_number():
    """The filter masks the message, and the traceback too: an exception's text can hold a
    number (Twilio's errors echo the "To" address, and chained exceptions show it)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise PermanentSendError("21612", TWILIO_ERRORS["21612"].format(to=NUMBERS[0]))
        except PermanentSendError as exc:
            raise RuntimeError(f"while sending to whatsapp:{NUMBERS[1]}") from exc
    except RuntimeError:
        logger.exception("outbound %s: attempt failed for %s", 7, NUMBERS[2])
    finally:
        logger.removeHandler(handler)

    logged = stream.getvalue()
    assert "Traceback" in logged and "PermanentSendError: 21612" in logged
    for number in NUMBERS:
        assert number.lstrip("+") not in logged
    assert "•••56" in logged and "•••78" in logged and "•••67" in logged


def test_redaction_masks_a_known_number_however_it_is_written():
    assert redact("To +6834002, from whatsapp:+683 4002", ["+6834002"]) == "To •••02, from •••02"
    assert redact("order 1234, ref 20261123") == "order 1234, ref •••23"  # 8 digits: a number
    assert redact("order 1234", ["+1234"]) == "order 1234"  # too short to mask with safety
