"""Admins choose which languages members are offered; every part of the service follows."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.languages import set_enabled
from feedback_bot.messaging.templates import render
from feedback_bot.models import AuditEntry, Contact, Decision, FeedbackItem, InboundMessage

from .conftest import drain, send_sms
from .test_confirmations import confirm, text_of
from .test_interpreter_pages import interpreter
from .test_media import log_in

MEMBER = "+447911123456"


def menu(app, client, fake_twilio) -> str:
    send_sms(client, MEMBER, "LANGUAGE")
    drain(app)
    return fake_twilio.messages[-1]["body"]


def test_switching_a_language_off_and_on(app, client, fake_twilio):
    log_in(app, client, "admin")
    assert "Soomaali" in menu(app, client, fake_twilio)

    response = client.post(
        "/admin/languages/so/disable", data={"confirmed": "yes"}, follow_redirects=True
    )
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


def test_stopping_offering_a_language_says_what_happens_and_asks_first(app, client, fake_twilio):
    send_sms(client, SOMALI_MEMBER, SOMALI)  # a Somali member, who keeps Somali
    drain(app)
    log_in(app, client, "admin")
    page = client.get("/admin/languages").get_data(as_text=True)
    assert 'action="/admin/languages/so/disable"' in page

    asked = client.post("/admin/languages/so/disable")
    assert asked.status_code == 200
    said = text_of(asked)
    assert "Stop offering Soomaali (so) to new members?" in said
    assert "New members will no longer be offered it" in said
    assert "Members who already use it keep it" in said and "1 member now)" in said
    assert "Nobody is texted about this." in said
    assert 'href="/admin/languages">Cancel</a>' in asked.get_data(as_text=True)
    # Asking changed nothing.
    assert "Soomaali" in menu(app, client, fake_twilio)
    with app.app_context():
        assert db.session.scalars(select(AuditEntry.action)).all().count("language.disable") == 0

    confirmed = confirm(client, asked)
    assert confirmed.status_code == 302
    assert "Soomaali" not in menu(app, client, fake_twilio)
    with app.app_context():
        assert db.session.scalars(select(AuditEntry.action)).all().count("language.disable") == 1

    # Offering it again, which strands nobody, does not ask.
    assert client.post("/admin/languages/so/enable").status_code == 302
    assert "Soomaali" in menu(app, client, fake_twilio)
    # Nor does what would be refused anyway: it says why at once.
    refused = client.post("/admin/languages/en/disable", follow_redirects=True)
    assert "default language cannot be switched off" in refused.get_data(as_text=True)
    assert "to new members?" not in text_of(refused)


def test_a_language_needs_a_catalogue_and_the_default_stays(app, client):
    log_in(app, client, "admin")
    refused = client.post("/admin/languages/fr/enable", follow_redirects=True)
    assert "translate init fr" in refused.get_data(as_text=True)
    default = client.post("/admin/languages/en/disable", follow_redirects=True)
    assert "default language cannot be switched off" in default.get_data(as_text=True)
    # The page offers no button that would only be refused.
    page = client.get("/admin/languages").get_data(as_text=True)
    assert "/admin/languages/en/disable" not in page
    assert "The default language</span>" in page
    assert "/admin/languages/pl/disable" in page


def test_only_admins_manage_languages(app, client):
    log_in(app, client, "staff")
    assert client.get("/admin/languages").status_code == 403
    assert client.post("/admin/languages/so/disable").status_code == 403


SOMALI_MEMBER = "+252612345678"
SOMALI = "Biyaha ma jiraan tuulada dhowr maalmood, fadlan na caawiya sida ugu dhaqsiyaha badan."


def test_members_of_a_language_switched_off_keep_it(app, client, fake_twilio):
    """Switching Somali off stops offering it to new members; those who chose it are still
    answered in it, can still say STOP in it, and interpreters still work for them."""
    clock.freeze(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    send_sms(client, SOMALI_MEMBER, SOMALI)
    drain(app)
    with app.app_context():
        assert db.session.scalars(select(Contact.locale)).one() == "so"
        message_id = db.session.scalars(select(InboundMessage.id)).one()
        set_enabled("so", False, None)
        decision = Decision(title="Water", summary="The water will be back on Friday.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
        decision_id = decision.id
    drain(app)

    interpreter(app, client, languages="so")
    workspace = client.get("/admin/translate/").get_data(as_text=True)
    assert SOMALI[:30] in workspace and "Water" in workspace
    assert client.get(f"/admin/translate/feedback/{message_id}").status_code == 200
    assert client.get(f"/admin/translate/decision/{decision_id}/so").status_code == 200

    send_sms(client, SOMALI_MEMBER, "JOOJI")  # Somali for STOP
    drain(app)
    with app.app_context():
        assert db.session.scalars(select(Contact.opted_out_at)).one() is not None
        assert fake_twilio.messages[-1]["body"] == render("stop", "so", org="Riverside Council")

    # A new member from Somalia is not given Somali: Arabic is official there too.
    send_sms(client, "+252612345679", "👍")
    drain(app)
    with app.app_context():
        newcomer = db.session.scalars(select(Contact).order_by(Contact.id.desc())).first()
        assert (newcomer.locale, newcomer.locale_source) == ("ar", "country")


def test_a_language_is_prepared_before_it_is_offered(app, client):
    with app.app_context():
        set_enabled("so", False, None)
    interpreter(app, client, languages="so")
    assert client.get("/admin/translate/templates/so").status_code == 200
    exported = client.get("/admin/translate/templates/so/messages.po")
    assert exported.status_code == 200
    imported = client.post(
        "/admin/translate/templates/so/import",
        data={"catalogue": (io.BytesIO(exported.data), "so.po")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Imported 0 change(s)" in imported.get_data(as_text=True)
    saved = client.post(
        "/admin/translate/templates/so",
        data={
            "kind": "start",
            "text": "Ku soo dhawoow. Jawaab JOOJI si aad u joojiso.",
            "state": "reviewed",
        },
    )
    assert saved.status_code == 302
