"""Phone numbers never sit in the database, or the logs, in clear text."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess

import pytest
from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.models import Contact
from feedback_bot.privacy import mask_phone, vault

from .conftest import drain, send_sms

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
