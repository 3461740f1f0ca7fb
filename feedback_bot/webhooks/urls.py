"""URLs as Twilio sees them, built from PUBLIC_BASE_URL, never from the request."""

from __future__ import annotations

from flask import current_app


def public_url(path: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def status_callback_url() -> str | None:
    # Twilio must reach this URL; the console transport never calls it.
    return public_url("/webhooks/twilio/status")
