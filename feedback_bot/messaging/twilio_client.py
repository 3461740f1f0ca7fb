"""The Twilio REST client, built from config inside the app, never at import."""

from __future__ import annotations

from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TWILIO_API = "https://api.twilio.com"


class RebasedHttpClient(TwilioHttpClient):
    """Sends the client's REST calls to ``base_url`` instead of api.twilio.com.

    Used with ``TWILIO_API_BASE_URL`` to talk to a local server that speaks Twilio's API, so
    tests and benchmarks exercise the real client, its errors and its timeouts.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


def build_client(
    account_sid: str, auth_token: str, timeout: float, base_url: str | None = None
) -> Client:
    # The default HTTP client has no timeout at all: a hung connection would hold a worker
    # (and the message) forever.
    http_client = (
        RebasedHttpClient(base_url, timeout) if base_url else TwilioHttpClient(timeout=timeout)
    )
    return Client(account_sid, auth_token, http_client=http_client)
