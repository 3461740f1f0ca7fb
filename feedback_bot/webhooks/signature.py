"""Twilio's request signature, checked against the URL Twilio was given."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator

from .urls import public_url

log = logging.getLogger(__name__)


def signed_url() -> str:
    """The URL Twilio signed: behind a proxy ``request.url`` is not it, PUBLIC_BASE_URL is."""
    query = request.query_string.decode("latin-1")
    return public_url(request.path) + (f"?{query}" if query else "")


def require_twilio_signature(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = current_app.config.get("TWILIO_AUTH_TOKEN")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token:
            log.error("webhook refused: TWILIO_AUTH_TOKEN is not set, signatures cannot be checked")
            abort(403, "signature cannot be checked")
        url = signed_url()
        if not signature or not RequestValidator(token).validate(url, request.form, signature):
            # What an operator needs to see a PUBLIC_BASE_URL that is not the address
            # Twilio calls (http:// for https://, another host, a path twice): the URL
            # checked, and the address the request reached us at. Never the token, nor the
            # form, which holds a phone number and a member's message.
            log.warning(
                "webhook refused: %s X-Twilio-Signature, checked against %s (built from "
                "PUBLIC_BASE_URL; the request reached this app as %s). If every webhook "
                "is refused, PUBLIC_BASE_URL is not the address Twilio calls, or "
                "TWILIO_AUTH_TOKEN is not this account's",
                "invalid" if signature else "missing",
                url,
                request.host_url,
            )
            abort(403, "invalid signature")
        return view(*args, **kwargs)

    return wrapped
