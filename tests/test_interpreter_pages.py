"""The interpreters' workspace, through its pages."""

from __future__ import annotations

import html
import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from babel.messages.pofile import read_po, write_po
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.messaging.templates import TEMPLATES, render
from feedback_bot.models import (
    Decision,
    DecisionTranslation,
    FeedbackItem,
    InboundMessage,
    MessageTranslation,
)

from .conftest import drain, send_sms
from .test_media import log_in

ARABIC_MEMBER = "+201001234567"
ARABIC = "المصعد في عمارتنا معطل منذ ثلاثة أسابيع ولا أحد يصلحه."
ACK = TEMPLATES["ack"].msgid


def interpreter(app, client, languages: str = "ar,pl") -> None:
    log_in(app, client, "interpreter")
    with app.app_context():
        from feedback_bot.models import User

        user = db.session.scalars(select(User)).one()
        user.languages = languages
        db.session.commit()


REQUIRED_MARK = '<span class="required-mark" aria-hidden="true">(required)</span>'


def test_interpreter_translates_arabic_feedback(app, client):
    send_sms(client, ARABIC_MEMBER, ARABIC)
    drain(app)
    interpreter(app, client)

    page = client.get("/admin/translate/").get_data(as_text=True)
    assert ARABIC[:30] in page
    assert "1001234567" not in page  # no number, not even part of one
    with app.app_context():
        message_id = db.session.scalars(select(InboundMessage.id)).one()
    form = client.get(f"/admin/translate/feedback/{message_id}").get_data(as_text=True)
    assert 'dir="rtl"' in form
    # The translation must be written, what a voice note says need not: the label says so.
    assert form.count(REQUIRED_MARK) == 1
    assert f'<label for="text">Translation {REQUIRED_MARK}</label>' in form
    # A form of one file has nothing to tell apart.
    assert REQUIRED_MARK not in client.get("/admin/translate/templates/ar").get_data(as_text=True)

    response = client.post(
        f"/admin/translate/feedback/{message_id}",
        data={"text": "The lift has been broken for three weeks.", "state": "reviewed"},
    )
    assert response.status_code == 302
    with app.app_context():
        translation = db.session.scalars(select(MessageTranslation)).one()
        assert (translation.locale, translation.state) == ("en", "reviewed")
    assert ARABIC[:30] not in client.get("/admin/translate/").get_data(as_text=True)


def test_the_feedback_page_goes_back_where_it_was_opened_from(app, client):
    """From an item's page (as the inbox left it), saving or cancelling goes back to it;
    from the workspace, to the workspace; never off the site."""
    send_sms(client, ARABIC_MEMBER, ARABIC)
    drain(app)
    interpreter(app, client)
    with app.app_context():
        message_id, item_id = db.session.execute(
            select(InboundMessage.id, InboundMessage.item_id)
        ).one()
    item_page = f"/admin/items/{item_id}?back=q%3Dlift%26page%3D2"
    [opened] = re.findall(
        r'href="([^"]+)" data-translate', client.get(item_page).get_data(as_text=True)
    )
    opened = html.unescape(opened)
    assert dict(parse_qsl(urlsplit(opened).query)) == {"next": item_page}

    def cancel(url: str) -> str:
        [back] = re.findall(
            r'<a href="([^"]+)" data-cancel>Cancel</a>', client.get(url).get_data(as_text=True)
        )
        return html.unescape(back)

    assert cancel(opened) == item_page
    saved = client.post(opened, data={"text": "The lift is broken.", "state": "reviewed"})
    assert saved.headers["Location"] == item_page
    with app.app_context():
        assert db.session.scalars(select(MessageTranslation.text)).one() == "The lift is broken."

    workspace = f"/admin/translate/feedback/{message_id}"
    assert cancel(workspace) == "/admin/translate/"
    for elsewhere in ("https://elsewhere.example/", "//elsewhere.example/", "/\\elsewhere.example"):
        url = f"{workspace}?{urlencode({'next': elsewhere})}"
        assert cancel(url) == "/admin/translate/"
        saved = client.post(url, data={"text": "The lift is broken.", "state": "reviewed"})
        assert saved.headers["Location"] == "/admin/translate/"


def test_a_number_typed_in_feedback_is_not_shown_to_interpreters(app, client):
    """The member wrote their number for staff to call them back; interpreters translate
    the rest. Egyptian mobile, written the local way (with its leading 0)."""
    typed = "المصعد معطل. اتصلوا بي على 0100 555 1234 من فضلكم."
    send_sms(client, ARABIC_MEMBER, typed)
    drain(app)
    interpreter(app, client)
    with app.app_context():
        message_id = db.session.scalars(select(InboundMessage.id)).one()
    for path in ("/admin/translate/", f"/admin/translate/feedback/{message_id}"):
        page = client.get(path).get_data(as_text=True)
        assert "[phone number removed]" in page, path
        assert "555" not in page and "1234" not in page, path
        assert "المصعد معطل" in page, path


def test_interpreters_only_work_in_their_languages(app, client):
    interpreter(app, client, languages="ar")
    assert client.get("/admin/translate/templates/ar").status_code == 200
    assert client.get("/admin/translate/templates/pl").status_code == 403
    assert client.get("/admin/translate/templates/pl/messages.po").status_code == 403


# The acknowledgement's form for 11 to 99 days (the default is 21): Arabic has six.
ARABIC_ACK_21 = "ack-5"


def test_template_with_a_missing_placeholder_is_refused_by_name(app, client):
    interpreter(app, client)
    response = client.post(
        "/admin/translate/templates/ar",
        data={"kind": ARABIC_ACK_21, "text": "شكرا لكم %(days)s", "state": "draft"},
    )
    assert response.status_code == 400
    assert "must keep %(ref)s" in response.get_data(as_text=True)


def test_a_mistyped_placeholder_is_explained_on_the_page(app, client):
    """ "%(days) dni": the s forgotten. The page says so, not "%(days) d is not in the
    original", which is what a parser of the format makes of it."""
    interpreter(app, client)
    typed = "W ciągu %(days) dni napiszemy, co dalej. Nr %(ref)s. Odpowiedz STOP."
    response = client.post(
        "/admin/translate/templates/pl", data={"kind": "ack-1", "text": typed, "state": "reviewed"}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert (
        "Not saved: Write %(days)s exactly: the s after the bracket is missing (you wrote "
        "“%(days)”)."
    ) in page
    assert "not in the original" not in page
    assert f">{typed}</textarea>" in page


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("شكرا لكم، وصلتنا رسالتكم خلال %(days)s يومًا", "must keep %(ref)s"),
        ("x" * 1_601, "empty or too long"),
    ],
)
def test_a_refused_template_keeps_what_the_interpreter_typed(app, client, typed, problem):
    """The page comes back with their text, and the state they chose, in that template's
    box, next to what is wrong: not the saved text in its place."""
    from html import escape

    interpreter(app, client)
    response = client.post(
        "/admin/translate/templates/ar",
        data={"kind": ARABIC_ACK_21, "text": typed, "state": "reviewed"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    section = page[page.index(f'id="template-{ARABIC_ACK_21}"') :]
    section = section[: section.index("</section>")]
    assert problem in section and 'aria-invalid="true"' in section
    assert f">{escape(typed, quote=False)}</textarea>" in section
    assert '<option value="reviewed" selected>' in section
    # Every other template shows its own text, unmarked.
    assert page.count('aria-invalid="true"') == 1


def test_summary_translation_releases_waiting_members(app, client, fake_twilio):
    clock.freeze(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    send_sms(client, "+48512345678", "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
        decision_id = decision.id
    drain(app)
    interpreter(app, client)
    assert "Lift" in client.get("/admin/translate/").get_data(as_text=True)

    # Before saving, the page says what saving does: it texts the waiting member now.
    page = client.get(f"/admin/translate/decision/{decision_id}/pl").get_data(as_text=True)
    said = " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert "Saving as Needs review or Reviewed texts this summary now to the 1 member " in said
    assert "Save as Draft to text nobody yet." in said
    assert '<option selected value="needs_review">' in page  # the default sends

    response = client.post(
        f"/admin/translate/decision/{decision_id}/pl",
        data={"summary": "Naprawimy windę do 1 marca.", "state": "needs_review"},
    )
    assert response.status_code == 302
    drain(app)
    assert "Naprawimy windę do 1 marca." in fake_twilio.messages[-2]["body"]

    # Told now: saving again (a corrected translation) texts nobody.
    page = client.get(f"/admin/translate/decision/{decision_id}/pl").get_data(as_text=True)
    assert 'data-waiting="0"' in page
    assert "Nobody is waiting for this summary now: saving texts nobody." in page


def test_interpreters_translate_the_public_pages_title_and_reason(app, client):
    """The workspace lists a published decision whose summary is in Polish but whose title
    and why the public page still shows in English; the summary's page takes all three,
    each kept with the English it translates. A title staff change is asked for again, with
    the old translation beside the box, not in it."""
    with app.app_context():
        decision = Decision(
            title="Lift",
            summary="We will repair the lift by 1 March.",
            reason="It is the only step-free way up.",
            published_at=clock.now(),
        )
        decision.translations.append(
            DecisionTranslation(locale="pl", summary="Naprawimy windę do 1 marca.")
        )
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
    interpreter(app, client)

    def listed() -> str | None:
        page = client.get("/admin/translate/").get_data(as_text=True)
        row = re.search(
            rf'<tr data-decision="{decision_id}" data-locale="pl">(.*?)</tr>', page, re.S
        )
        return row.group(1) if row else None

    row = listed()
    assert row is not None and 'data-missing="title why"' in row
    assert f'href="/admin/translate/decision/{decision_id}/pl"' in row
    url = f"/admin/translate/decision/{decision_id}/pl"
    form = client.get(url).get_data(as_text=True)
    assert '<blockquote id="source-title" lang="en">Lift</blockquote>' in form
    assert (
        '<blockquote id="source-reason" lang="en">It is the only step-free way up.</blockquote>'
        in form
    )

    response = client.post(
        url,
        data={
            "summary": "Naprawimy windę do 1 marca.",
            "title": "Winda",
            "reason": "To jedyna droga na górę bez schodów.",
            "state": "reviewed",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        saved = db.session.scalars(select(DecisionTranslation)).one()
        assert (saved.title, saved.title_source) == ("Winda", "Lift")
        assert saved.reason_source == "It is the only step-free way up."
    assert listed() is None

    with app.app_context():
        db.session.get(Decision, decision_id).title = "Lift in Block C"
        db.session.commit()
    row = listed()
    assert row is not None and 'data-missing="title"' in row
    form = client.get(url).get_data(as_text=True)
    assert "The title changed since it was translated" in form
    assert 'The earlier translation: <span lang="pl" dir="ltr">Winda</span>' in form
    assert re.search(r'<input[^>]*id="title"[^>]*value=""', form)
    assert 'value="To jedyna droga na górę bez schodów."' not in form  # a textarea holds it
    assert "To jedyna droga na górę bez schodów.</textarea>" in form  # still current


def test_a_decision_nobody_waits_for_is_listed_for_the_public_page(app, client):
    """Published with no member of Polish linked, nobody waits for its summary in Polish and
    the summaries list leaves it out; the public page in Polish showed it all in English,
    and no interpreter was ever asked. It is listed for the public page, and leaves the
    list once translated."""
    with app.app_context():
        decision = Decision(
            title="Later night buses",
            summary="Buses on route 7 will run until 1am from June.",
            reason="Shift workers asked for it.",
            published_at=clock.now(),
        )
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
    interpreter(app, client, languages="pl")

    def tables() -> tuple[str, str]:
        page = client.get("/admin/translate/").get_data(as_text=True)
        summaries = re.search(r'id="summary-queue">(.*?)</table>', page, re.S)
        public = re.search(r'id="public-text-queue">(.*?)</table>', page, re.S)
        return (summaries.group(1) if summaries else ""), (public.group(1) if public else "")

    summaries, public = tables()
    assert f'data-decision="{decision_id}"' not in summaries
    row = re.search(rf'<tr data-decision="{decision_id}" data-locale="pl">(.*?)</tr>', public, re.S)
    assert row is not None
    assert 'data-missing="summary title why">Summary, title and reason</td>' in row.group(1)

    response = client.post(
        f"/admin/translate/decision/{decision_id}/pl",
        data={
            "summary": "Autobusy linii 7 będą kursować do 1 w nocy od czerwca.",
            "title": "Późniejsze nocne autobusy",
            "reason": "Prosili o to pracownicy zmianowi.",
            "state": "reviewed",
        },
    )
    assert response.status_code == 302
    assert f'data-decision="{decision_id}"' not in "".join(tables())
    public_page = client.get("/you-said-we-did?lang=pl").get_data(as_text=True)
    assert "Późniejsze nocne autobusy" in public_page and "Later night buses" not in public_page


def test_a_summary_staff_changed_while_it_was_translated_is_not_saved(app, client, fake_twilio):
    """The page was opened on the old summary; staff changed it meanwhile (which made any
    translation outdated). Saved, the translation of the old text passed for one of the new,
    reviewed, and went to members. The page says what changed and saves nothing until the
    interpreter has seen the new text."""
    with app.app_context():
        decision = Decision(
            title="Lift", summary="We will repair the lift by 1 March.", published_at=clock.now()
        )
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
    interpreter(app, client, languages="pl")
    url = f"/admin/translate/decision/{decision_id}/pl"

    def marks(page: str) -> str:
        found = re.search(
            r'<input id="sources" name="sources" type="hidden" value="([^"]+)">', page
        )
        assert found, page
        return found.group(1)

    opened = marks(client.get(url).get_data(as_text=True))
    with app.app_context():
        db.session.get(Decision, decision_id).summary = "We will repair the lift by 1 April."
        db.session.get(Decision, decision_id).title = "Lift in Block C"
        db.session.commit()

    typed = {"summary": "Naprawimy windę do 1 marca.", "title": "Winda", "state": "reviewed"}
    refused = client.post(url, data={**typed, "sources": opened})
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "Staff changed the summary and the title while you were translating." in page
    assert "We will repair the lift by 1 April." in page  # the text as it is now
    assert "Naprawimy windę do 1 marca.</textarea>" in page  # what they typed, kept
    with app.app_context():
        assert db.session.scalars(select(DecisionTranslation)).all() == []

    # Seen, and saved again from the page as it now is.
    typed["summary"] = "Naprawimy windę do 1 kwietnia."
    saved = client.post(url, data={**typed, "sources": marks(page)})
    assert saved.status_code == 302
    with app.app_context():
        [translation] = db.session.scalars(select(DecisionTranslation)).all()
        assert translation.summary == "Naprawimy windę do 1 kwietnia."
        assert translation.title_source == "Lift in Block C"


def test_a_summary_opened_from_a_decisions_page_goes_back_there(app, client):
    """Staff who translate open it from the decision's page: Cancel and saving go back
    there, not to the workspace; only to a page of this site."""
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
    log_in(app, client, "admin")  # who may open both pages
    decision_page = client.get(f"/admin/decisions/{decision_id}").get_data(as_text=True)
    back = f"/admin/decisions/{decision_id}"
    link = f"/admin/translate/decision/{decision_id}/ar?next={back}"
    assert f'href="{link}"' in decision_page
    page = client.get(link).get_data(as_text=True)
    assert f'<a href="{back}" data-cancel>Cancel</a>' in page
    saved = client.post(link, data={"summary": "سنصلح المصعد بحلول 1 مارس.", "state": "reviewed"})
    assert saved.headers["Location"] == back
    elsewhere = f"/admin/translate/decision/{decision_id}/ar?next=https://evil.example/"
    assert '<a href="/admin/translate/" data-cancel>' in client.get(elsewhere).get_data(
        as_text=True
    )


def test_the_summary_page_of_a_draft_decision_says_saving_texts_nobody(app, client):
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
    interpreter(app, client)
    page = client.get(f"/admin/translate/decision/{decision_id}/pl").get_data(as_text=True)
    assert "This decision is not published yet: saving texts nobody." in page


def test_po_download_and_upload_through_the_pages(app, client):
    interpreter(app, client)
    exported = client.get("/admin/translate/templates/pl/messages.po")
    assert exported.status_code == 200
    # A sentence of two templates, the acknowledgement with and without a reference, in
    # each of Polish's three plural forms (one per number of days).
    sentence = "Przeczyta ją człowiek.".encode()
    assert exported.data.count(sentence) == 6
    edited = exported.data.replace(sentence, "Przeczytamy ją.".encode())
    assert edited != exported.data
    response = client.post(
        "/admin/translate/templates/pl/import",
        data={"catalogue": (io.BytesIO(edited), "pl.po")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Imported 6 change(s)" in response.get_data(as_text=True)
    assert client.get("/admin/translate/templates/pl/messages.po").data == edited


def test_staff_find_arabic_feedback_by_an_english_word_and_by_reference(app, client):
    send_sms(client, ARABIC_MEMBER, ARABIC)
    send_sms(client, "+447911123456", "Nothing to do with lifts at all, just parking.")
    drain(app)
    with app.app_context():
        from feedback_bot.interpreting.saving import save_message_translation

        message = db.session.scalars(
            select(InboundMessage).where(InboundMessage.body == ARABIC)
        ).one()
        save_message_translation(None, message, "en", "The elevator is broken.")
        arabic_ref = message.item.ref
    log_in(app, client, "staff")

    found = client.get("/admin/items?q=elevator").get_data(as_text=True)
    assert arabic_ref in found
    assert "parking" not in found
    by_ref = client.get(f"/admin/items?q={arabic_ref.lower()}").get_data(as_text=True)
    assert arabic_ref in by_ref and "parking" not in by_ref


def test_inbox_filter_for_feedback_that_needs_translation(app, client):
    send_sms(client, ARABIC_MEMBER, ARABIC)
    send_sms(client, "+447911123456", "The bins were not collected on Monday.")
    drain(app)
    log_in(app, client, "staff")
    with app.app_context():
        arabic = db.session.scalars(
            select(InboundMessage).where(InboundMessage.body == ARABIC)
        ).one()
        arabic_ref = arabic.item.ref
        english_ref = (
            db.session.scalars(select(FeedbackItem).where(FeedbackItem.id != arabic.item_id))
            .one()
            .ref
        )

    page = client.get("/admin/items?needs_translation=1").get_data(as_text=True)
    assert arabic_ref in page and english_ref not in page

    with app.app_context():
        from feedback_bot.interpreting.saving import save_message_translation

        arabic = db.session.get(InboundMessage, arabic.id)
        save_message_translation(None, arabic, "en", "The lift is broken.")
    page = client.get("/admin/items?needs_translation=1").get_data(as_text=True)
    assert arabic_ref not in page


def test_the_language_menu_is_saved_as_a_browser_sends_it(app, client):
    """A browser sends a textarea's line breaks as CRLF (the HTML form encoding): the
    template is found by its kind, and members get plain line breaks."""
    interpreter(app, client, languages="pl")
    page = client.get("/admin/translate/templates/pl").get_data(as_text=True)
    assert '<input type="hidden" name="kind" value="language_menu">' in page
    text = "Odpowiedz numerem, aby wybrać język:\r\n%(options)s\r\nOdpowiedz STOP, aby zrezygnować."
    response = client.post(
        "/admin/translate/templates/pl",
        data={"kind": "language_menu", "text": text, "state": "reviewed"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        assert render("language_menu", "pl", options="1 English\n2 Polski") == (
            "Odpowiedz numerem, aby wybrać język:\n1 English\n2 Polski\n"
            "Odpowiedz STOP, aby zrezygnować."
        )


def test_an_outdated_summary_is_translated_again_as_needing_review(app, client):
    """ "Outdated" is no choice in the form; the browser would submit its first, Draft."""
    clock.freeze(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    send_sms(client, "+48512345678", "Winda w naszym bloku jest zepsuta od tygodni.")
    drain(app)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        decision.translations.append(
            DecisionTranslation(locale="pl", summary="Naprawimy windę.", state="reviewed")
        )
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
        decision.summary = "We will replace the lift in May."
        loop.update_outcome(decision, notify_told=False, summary_changed=True)
        decision_id = decision.id
    interpreter(app, client)
    page = client.get(f"/admin/translate/decision/{decision_id}/pl").get_data(as_text=True)
    assert re.search(r'<option selected value="needs_review">', page), page
    assert 'id="outdated"' in page


def test_saving_a_draft_says_members_do_not_get_it(app, client):
    interpreter(app, client, languages="pl")
    response = client.post(
        "/admin/translate/templates/pl",
        data={"kind": "start", "text": "Witamy ponownie. Odpowiedz STOP.", "state": "draft"},
        follow_redirects=True,
    )
    assert "members do not get it" in response.get_data(as_text=True)


def test_a_fuzzy_entry_is_named_on_import(app, client):
    interpreter(app, client, languages="pl")
    exported = client.get("/admin/translate/templates/pl/messages.po").data
    catalog = read_po(io.BytesIO(exported))
    catalog[TEMPLATES["start"].msgid].flags.add("fuzzy")
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    response = client.post(
        "/admin/translate/templates/pl/import",
        data={"catalogue": (io.BytesIO(buffer.getvalue()), "pl.po")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Not imported, marked fuzzy" in page
    assert TEMPLATES["start"].msgid[:30] in page


def test_only_feedback_has_a_translation_page(app, client):
    """A STOP is no feedback: the panel lists it nowhere, and an interpreter stepping
    through ids does not read it either."""
    send_sms(client, ARABIC_MEMBER, ARABIC)
    send_sms(client, ARABIC_MEMBER, "STOP")
    drain(app)
    interpreter(app, client)
    with app.app_context():
        feedback, stop = db.session.scalars(select(InboundMessage.id).order_by(InboundMessage.id))
    assert client.get(f"/admin/translate/feedback/{feedback}").status_code == 200
    assert client.get(f"/admin/translate/feedback/{stop}").status_code == 404


LONG_ORG = "Riverside Borough Council Community Services"


def test_the_editor_counts_segments_as_members_get_the_message(make_app):
    """ "%(org)s" costs seven characters in the template and 44 in a member's HELP reply:
    the editor counts each text with the name, a reference and the days filled in, a
    form of the acknowledgement with the first number of days it is for."""
    from feedback_bot.interpreters.queries import TYPICAL_REF
    from feedback_bot.messaging.overrides import plural_form
    from feedback_bot.messaging.segments import sms_cost
    from feedback_bot.messaging.templates import render

    app = make_app(ORG_NAME=LONG_ORG)
    client = app.test_client()
    interpreter(app, client, languages="cy")
    page = client.get("/admin/translate/templates/cy").get_data(as_text=True)
    with app.app_context():
        two_days = f"ack-{plural_form('cy', 2)}"
        members_get = {
            "help": render("help", "cy", org=LONG_ORG),
            two_days: render("ack", "cy", ref=TYPICAL_REF, days=2),
            # The summary comes on top, as the page says: it is not counted as "%(summary)s".
            "what_next": render("what_next", "cy", ref=TYPICAL_REF, summary=""),
        }
    for kind, text in members_get.items():
        section = page.split(f'id="template-{kind}"', 1)[1].split("</section>", 1)[0]
        cost = sms_cost(text)
        assert (
            f"As members get it: {cost.characters} characters, {cost.encoding}, "
            f"{cost.segments} segment(s)"
        ) in section, section
    assert LONG_ORG in page.split('id="template-help"', 1)[1].split("</section>", 1)[0]
    what_next = page.split('id="template-what_next"', 1)[1].split("</section>", 1)[0]
    assert "the summary staff write comes on top" in what_next
    assert "%(summary)s</code> as" not in what_next


def test_the_editor_names_each_message_plainly_and_counts_as_the_workspace_does(app, client):
    """Each message under its name and when members get it, its forms under the numbers
    they are for, keyword lists by what they do; the codes of .po files small beside them.
    The page says how its boxes add up to the workspace's count."""
    from markupsafe import escape

    from feedback_bot.interpreters.queries import completeness
    from feedback_bot.messaging.templates import ABOUT, KEYWORD_MSGIDS, RATING_WORD_MSGIDS

    interpreter(app, client, languages="pl")
    page = client.get("/admin/translate/templates/pl").get_data(as_text=True)
    workspace = client.get("/admin/translate/").get_data(as_text=True)
    with app.app_context():
        total = completeness(["pl"])["pl"]["total"]

    assert set(ABOUT) == set(TEMPLATES)
    for about in ABOUT.values():
        assert f"<h2>{escape(about.title)}" in page and escape(about.sent_when) in page
    assert "<h2>Acknowledgement</h2>" in page
    assert "Sent when someone sends us feedback as text." in page
    # Polish has three forms: 1, 2-4 (and 22-24...), 5-21 (and 25-31...).
    assert "<h3>For 2, 3, 4, 22, 23, 24, 32, 33… days <small" in page
    assert "<h3>For 5, 6, 7, 8, 9, 10, 11, 12… days <small" in page
    assert "<h3>For 1 day <small" in page
    assert "<h2>Words that mean STOP <small" in page
    assert "A member sends one of these words alone to stop all messages." in page
    assert "<h2>Words that answer &#34;Did we listen?&#34; with no <small" in page
    assert 'id="template-keywords-polite-words"' in page
    for internal in ("ack, form", "keywords: stop <", "<h2>ack", "<h2>help"):
        assert internal not in page
    # The machine names, small, for people who work with .po files.
    assert "<code>ack-1</code> · in .po files <code>msgstr[1]</code>" in page
    assert "<code>keywords: stop</code> · in .po files <code>msgctxt &#34;keyword&#34;</code>" in (
        page
    )

    # 17 messages and 9 word lists (5 of keywords, the polite words and 3 of answers to
    # "Did we listen?") make the workspace's 26; 5 messages have 3 boxes.
    messages = len(TEMPLATES)
    keywords = len(KEYWORD_MSGIDS) + 1 + len(RATING_WORD_MSGIDS)
    assert total == messages + keywords
    with_forms = sum(1 for template in TEMPLATES.values() if template.count)
    boxes = messages - with_forms + 3 * with_forms + keywords
    assert f"{total} / {total}" in workspace and "Counted by text to translate" in workspace
    counts = page.split('id="template-counts">', 1)[1].split("</p>", 1)[0]
    assert f"The Translation page counts these {total}: {messages} messages and {keywords}" in (
        counts
    )
    assert f"this page has {boxes} boxes" in counts
    assert f"{with_forms} of those boxes are for numbers no message uses" in counts
    assert page.count('<input type="hidden" name="kind"') == boxes
    assert page.count("Never sent · optional") == with_forms
    index = page.split('class="template-index"', 1)[1].split("</nav>", 1)[0]
    assert index.count("<li>") == total


def test_languages_nobody_reviewed_count_their_members_in_words(app, client):
    send_sms(client, ARABIC_MEMBER, ARABIC)
    drain(app)
    interpreter(app, client)
    page = client.get("/admin/translate/").get_data(as_text=True)
    assert "(1 member)" in page

    send_sms(client, "+201001234568", ARABIC)
    drain(app)
    assert "(2 members)" in client.get("/admin/translate/").get_data(as_text=True)


class Labels(HTMLParser):
    """The form controls of a page, each with how many labels name it (a ``for`` that gives
    its id, or a label around it with no ``for``), and how many labels sit inside another."""

    CONTROLS = ("input", "select", "textarea")

    def __init__(self, page: str) -> None:
        super().__init__()
        self.controls: list[str] = []  # a name for each, to say which is wrong
        self.ids: dict[str, int] = {}
        self.named = Counter[int]()  # by a label around it
        self.named_for = Counter[str]()  # by a label's "for", which may come before it
        self.open: list[dict[str, object]] = []
        self.nested = 0
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "label":
            self.nested += bool(self.open)
            self.open.append({"for": values.get("for"), "control": None})
        elif tag in self.CONTROLS and values.get("type") not in ("hidden", "submit", "button"):
            index = len(self.controls)
            self.controls.append(f"<{tag} name={values.get('name')!r} id={values.get('id')!r}>")
            if values.get("id"):
                self.ids[str(values["id"])] = index
            for label in self.open:  # a label with no "for" names its first control
                if label["for"] is None and label["control"] is None:
                    label["control"] = index

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.open:
            label = self.open.pop()
            if label["for"] is not None:
                self.named_for[str(label["for"])] += 1
            elif label["control"] is not None:
                self.named[int(str(label["control"]))] += 1

    def problems(self) -> list[str]:
        named = self.named.copy()
        for control_id, count in self.named_for.items():
            named[self.ids.get(control_id, -1)] += count
        found = [f"{self.nested} label(s) inside another"] if self.nested else []
        found += [
            f"{control} has {named[index]} labels"
            for index, control in enumerate(self.controls)
            if named[index] != 1
        ]
        if named[-1]:
            found.append(f"{named[-1]} label(s) for no control of the page")
        return found


def test_each_control_of_the_translation_pages_has_one_label(app, client, fake_twilio):
    """No label inside another (a field's own ``<label for>`` wrapped in a second one),
    which gives a box two names and a screen reader two readings."""
    from .test_media import VOICE

    url = fake_twilio.add_media(VOICE, "audio/ogg")
    send_sms(client, ARABIC_MEMBER, "", media=[(url, "audio/ogg")])
    drain(app)
    with app.app_context():
        decision = Decision(title="Lift", summary="We will repair the lift by 1 March.")
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
        message_id = db.session.scalars(select(InboundMessage.id)).one()
    interpreter(app, client)
    pages = {
        "feedback": f"/admin/translate/feedback/{message_id}",
        "summary": f"/admin/translate/decision/{decision_id}/pl",
        "templates": "/admin/translate/templates/pl",
    }
    for name, path in pages.items():
        page = client.get(path).get_data(as_text=True)
        labels = Labels(page)
        assert len(labels.controls) >= 2, name
        assert labels.problems() == [], name
    feedback = Labels(client.get(pages["feedback"]).get_data(as_text=True))
    assert any("name='transcript'" in control for control in feedback.controls)


PHOTO = b"\xff\xd8\xff\xe0 a photo"


def test_only_a_voice_note_gets_a_box_for_what_it_says(app, client, fake_twilio):
    """A photo has nothing to write down in its own language: its page has the translation
    box alone, and a transcript sent anyway is not kept."""
    from .test_media import VOICE

    photo = fake_twilio.add_media(PHOTO, "image/jpeg")
    send_sms(client, ARABIC_MEMBER, ARABIC, media=[(photo, "image/jpeg")])
    drain(app)
    clock.freeze(clock.now() + timedelta(seconds=app.config["ACK_COALESCE_SECONDS"] + 1))
    voice = fake_twilio.add_media(VOICE, "audio/ogg")
    send_sms(client, ARABIC_MEMBER, "", media=[(voice, "audio/ogg")])
    drain(app)
    with app.app_context():
        with_photo, with_voice = db.session.scalars(
            select(InboundMessage.id).order_by(InboundMessage.id)
        )
    interpreter(app, client)

    page = client.get(f"/admin/translate/feedback/{with_photo}").get_data(as_text=True)
    assert 'alt="Photo sent by the member"' in page
    assert "What the voice note says" not in page and 'name="transcript"' not in page
    client.post(
        f"/admin/translate/feedback/{with_photo}",
        data={"text": "The lift is broken.", "transcript": "x", "state": "needs_review"},
    )
    page = client.get(f"/admin/translate/feedback/{with_voice}").get_data(as_text=True)
    assert "What the voice note says (in its own language)" in page
    assert 'name="transcript"' in page and 'dir="rtl"' in page
    client.post(
        f"/admin/translate/feedback/{with_voice}",
        data={"text": "The lift is broken.", "transcript": "المصعد معطل", "state": "needs_review"},
    )
    with app.app_context():
        transcripts = dict(
            db.session.execute(
                select(MessageTranslation.message_id, MessageTranslation.transcript)
            ).all()
        )
    assert transcripts == {with_photo: None, with_voice: "المصعد معطل"}
