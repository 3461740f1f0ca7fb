"""The least a webhook can do and still keep the promise "nothing lost once answered":
check Twilio's signature, commit the message to PostgreSQL in one autocommitted INSERT
(one round trip), answer. No ORM, no queue, no encryption, no framework extensions.

It measures a ceiling, not a design: feedback-bot's webhook does this and also encrypts
the payload and enqueues the intake job. ``gunicorn durable_app:app``, run by
``bench/ingest.py`` with the same gunicorn settings as the real app, against the bench
database (in a table of its own).
"""

from __future__ import annotations

import os

import psycopg
from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
TABLE = """
CREATE TABLE IF NOT EXISTS durable_floor (
    id bigserial PRIMARY KEY,
    message_sid varchar(64) NOT NULL UNIQUE,
    sender varchar(64) NOT NULL,
    body text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = """
INSERT INTO durable_floor (message_sid, sender, body) VALUES (%s, %s, %s)
ON CONFLICT (message_sid) DO NOTHING
"""

app = Flask(__name__)
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
PUBLIC_URL = os.environ["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks/twilio/messages"
# One connection per gunicorn worker process (sync workers serve one request at a time),
# opened after the fork.
_connection: psycopg.Connection | None = None


def connection() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        database_url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        _connection = psycopg.connect(database_url, autocommit=True)
        _connection.execute(TABLE)
    return _connection


@app.post("/webhooks/twilio/messages")
def inbound_message() -> Response:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(PUBLIC_URL, request.form, signature):
        abort(403)
    form = request.form
    connection().execute(INSERT, (form["MessageSid"], form["From"], form.get("Body", "")))
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
