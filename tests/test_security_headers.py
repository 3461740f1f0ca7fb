"""Every response carries the headers that keep hostile member text harmless."""

import pytest

from .conftest import send_sms

PATHS = ["/healthz", "/you-said-we-did", "/login", "/admin/"]


@pytest.mark.parametrize("path", PATHS)
def test_security_headers_everywhere(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_webhook_responses_have_them_too(client):
    response = send_sms(client, "+447911123456", "hello")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_production_adds_hsts(make_app):
    app = make_app(FEEDBACK_ENV="production")
    assert "max-age=" in app.test_client().get("/healthz").headers["Strict-Transport-Security"]
