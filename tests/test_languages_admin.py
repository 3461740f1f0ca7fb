"""Admins choose which languages members are offered; every part of the service follows."""

from __future__ import annotations

from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.models import AuditEntry, Contact

from .conftest import drain, send_sms
from .test_media import log_in

MEMBER = "+447911123456"


def menu(app, client, fake_twilio) -> str:
    send_sms(client, MEMBER, "LANGUAGE")
    drain(app)
    return fake_twilio.messages[-1]["body"]


def test_switching_a_language_off_and_on(app, client, fake_twilio):
    log_in(app, client, "admin")
    assert "Soomaali" in menu(app, client, fake_twilio)

    response = client.post("/admin/languages/so/disable", follow_redirects=True)
    assert "so is no longer offered" in response.get_data(as_text=True)
    assert "Soomaali" not in menu(app, client, fake_twilio)
    assert "Soomaali" not in client.get("/you-said-we-did").get_data(as_text=True)
    # The menu is renumbered without Somali (it was 8th): 8 now means Spanish.
    send_sms(client, MEMBER, "8")
    drain(app)
    with app.app_context():
        assert db.session.scalars(select(Contact.locale)).one() == "es"

    client.post("/admin/languages/so/enable")
    assert "Soomaali" in menu(app, client, fake_twilio)
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action)).all()
        assert actions.count("language.disable") == 1 and actions.count("language.enable") == 1


def test_a_language_needs_a_catalogue_and_the_default_stays(app, client):
    log_in(app, client, "admin")
    refused = client.post("/admin/languages/fr/enable", follow_redirects=True)
    assert "translate init fr" in refused.get_data(as_text=True)
    default = client.post("/admin/languages/en/disable", follow_redirects=True)
    assert "default language cannot be switched off" in default.get_data(as_text=True)


def test_only_admins_manage_languages(app, client):
    log_in(app, client, "staff")
    assert client.get("/admin/languages").status_code == 403
    assert client.post("/admin/languages/so/disable").status_code == 403
