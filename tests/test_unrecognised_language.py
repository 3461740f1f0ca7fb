"""A message's language is its own: a sentence in a language nobody recognised is shown as
such to every interpreter and flagged for staff, never labelled with the language its
writer is answered in; short texts ("ok", an emoji) stay out of everybody's queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from feedback_bot import clock
from feedback_bot.extensions import db
from feedback_bot.interpreting.saving import save_message_translation
from feedback_bot.models import Contact, FeedbackItem, InboundMessage, User

from .conftest import drain, send_sms
from .test_interpreter_pages import ARABIC, ARABIC_MEMBER, interpreter
from .test_media import log_in

DAYTIME = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FRENCH_MEMBER = "+33612345678"
FRENCH = "Bonjour, la piscine est fermée depuis deux semaines et personne ne nous dit pourquoi."
UK_MEMBER = "+447911123456"
NOT_RECOGNISED = "Language not recognised"


def message(app, body: str) -> InboundMessage:
    with app.app_context():
        found = db.session.scalars(select(InboundMessage).where(InboundMessage.body == body)).one()
        db.session.expunge(found)
        return found


def french_then_polish(app, client) -> InboundMessage:
    """A French number writes in French (answered in English, the default: we offer no
    French), is offered the menu, and picks Polish."""
    clock.freeze(DAYTIME)
    send_sms(client, FRENCH_MEMBER, FRENCH)
    clock.freeze(DAYTIME + timedelta(minutes=5))
    send_sms(client, FRENCH_MEMBER, "Polski")
    drain(app)
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        assert (contact.locale, contact.locale_source) == ("pl", "chosen")
    return message(app, FRENCH)


def queue_row(page: str, body: str) -> str:
    """The row of the interpreters' queue that shows ``body``."""
    start = page.index(body[:40])
    return page[page.rindex("<tr>", 0, start) : page.index("</tr>", start)]


def test_a_sentence_in_no_language_we_offer_is_not_recognised(app, client):
    french = french_then_polish(app, client)
    assert french.detected_locale == "und"


def test_every_interpreter_sees_it_as_not_recognised(app, client):
    french = french_then_polish(app, client)
    send_sms(client, ARABIC_MEMBER, ARABIC)
    drain(app)

    interpreter(app, client, languages="pl")
    page = client.get("/admin/translate/").get_data(as_text=True)
    row = queue_row(page, FRENCH)
    assert NOT_RECOGNISED in row and "Polski" not in row
    assert ARABIC[:30] not in page  # detected: for Arabic's interpreters only

    with app.app_context():
        user = db.session.scalars(select(User)).one()
        user.languages = "ar"
        db.session.commit()
    page = client.get("/admin/translate/").get_data(as_text=True)
    assert NOT_RECOGNISED in queue_row(page, FRENCH)
    assert "العربية" in queue_row(page, ARABIC)

    form = client.get(f"/admin/translate/feedback/{french.id}")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert f"Original ({NOT_RECOGNISED})" in html
    assert 'lang="und" dir="auto"' in html

    response = client.post(
        f"/admin/translate/feedback/{french.id}",
        data={"text": "The pool has been shut for two weeks.", "state": "reviewed"},
    )
    assert response.status_code == 302
    assert FRENCH[:40] not in client.get("/admin/translate/").get_data(as_text=True)


def test_staff_see_it_needs_translation_until_it_has_one(app, client):
    """From the start, while its writer is answered in English, the staff language."""
    clock.freeze(DAYTIME)
    send_sms(client, FRENCH_MEMBER, FRENCH)
    drain(app)
    french = message(app, FRENCH)
    log_in(app, client, "staff")
    with app.app_context():
        item = db.session.get(FeedbackItem, french.item_id)
        assert item.locale == "en"
        ref = item.ref

    assert ref in client.get("/admin/items?needs_translation=1").get_data(as_text=True)
    item_page = client.get(f"/admin/items/{french.item_id}").get_data(as_text=True)
    assert "language not recognised" in item_page

    with app.app_context():
        save_message_translation(None, db.session.get(InboundMessage, french.id), "en", "Shut.")
    assert ref not in client.get("/admin/items?needs_translation=1").get_data(as_text=True)


def test_short_texts_stay_out_of_the_queue(app, client):
    """Nothing in them tells a language: "ok", an emoji, a greeting, a keyword."""
    for number, body in [
        (UK_MEMBER, "ok"),
        ("+447911123457", "👍"),
        ("+447911123458", "Merci beaucoup"),
        ("+447911123459", "HELP"),
    ]:
        send_sms(client, number, body)
    drain(app)
    with app.app_context():
        assert db.session.scalars(select(InboundMessage.detected_locale)).all() == [None] * 4

    interpreter(app, client, languages="ar,pl")
    assert "Nothing waiting." in client.get("/admin/translate/").get_data(as_text=True)


def test_an_unrecognised_message_may_be_translated_by_any_interpreter_only(app, client):
    """Any interpreter, not any user: staff still cannot open the page."""
    french = french_then_polish(app, client)
    log_in(app, client, "staff")
    assert client.get(f"/admin/translate/feedback/{french.id}").status_code == 403


def test_upgrade_marks_stored_sentences_nobody_recognised(app):
    """Messages stored before intake marked them: the long ones with no language."""
    rows = [
        (1, FRENCH, None, "feedback"),
        (2, "Merci beaucoup", None, "feedback"),
        (3, "Dzień dobry, winda w bloku C nie działa od dwóch tygodni.", "pl", "feedback"),
        (4, "please stop sending me these messages about the roadworks", None, "keyword"),
        (5, FRENCH, None, "received"),
    ]
    with app.app_context():
        downgrade(revision="0014")
        try:
            for row_id, body, detected, disposition in rows:
                db.session.execute(
                    text(
                        "INSERT INTO inbound_message (id, message_sid, channel, to_address,"
                        " body, num_media, disposition, detected_locale, received_at)"
                        " VALUES (:id, :sid, 'sms', '+441632960000', :body, 0, :disposition,"
                        " :detected, :now)"
                    ),
                    {
                        "id": row_id,
                        "sid": f"SM{row_id}",
                        "body": body,
                        "disposition": disposition,
                        "detected": detected,
                        "now": DAYTIME,
                    },
                )
            db.session.commit()
        finally:
            db.session.remove()
        upgrade()
        found = db.session.execute(
            text("SELECT detected_locale FROM inbound_message ORDER BY id")
        ).scalars()
        assert list(found) == ["und", None, "pl", None, None]
