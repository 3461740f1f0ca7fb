"""The tutorial design, for comparison: the webhook checks Twilio's signature, then calls
Twilio's Messages API itself, synchronously, and only then answers Twilio. Nothing is
stored; a slow or failing Twilio call is the member's lost acknowledgement.

It uses the real ``twilio`` client, pointed at the fake Twilio by ``TWILIO_API_BASE_URL``
(whose ``delay_seconds`` stands for Twilio's own response time). ``gunicorn naive_app:app``,
run by ``bench/ingest.py`` with the same gunicorn settings as the real app.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

from feedback_bot.messaging.twilio_client import build_client

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

app = Flask(__name__)
client = build_client(
    os.environ["TWILIO_ACCOUNT_SID"],
    os.environ["TWILIO_AUTH_TOKEN"],
    timeout=float(os.environ.get("TWILIO_TIMEOUT_SECONDS", "10")),
    base_url=os.environ.get("TWILIO_API_BASE_URL"),
)
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
PUBLIC_URL = os.environ["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks/twilio/messages"


@app.post("/webhooks/twilio/messages")
def inbound_message() -> Response:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(PUBLIC_URL, request.form, signature):
        abort(403)
    client.messages.create(
        to=request.form["From"],
        from_=os.environ["TWILIO_SMS_FROM"],
        body="Thanks, we got your message. A person will read it.",
    )
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
