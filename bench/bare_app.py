"""The floor: a Flask app that answers Twilio's webhook with empty TwiML and does nothing
else (no signature check, no database, no queue). ``gunicorn bare_app:app``, run by
``bench/ingest.py`` with the same gunicorn settings as the real app."""

from __future__ import annotations

from flask import Flask, Response

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

app = Flask(__name__)


@app.post("/webhooks/twilio/messages")
def inbound_message() -> Response:
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
