"""The public "You said, we did" page: published decisions only, nothing about members."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.interpreting.saving import save_decision_summary
from feedback_bot.models import Contact, Decision, DecisionTranslation, FeedbackItem, Role

from .conftest import drain, send_sms
from .test_auth import create_user, sign_in

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
UK = "+447911123456"
POLISH = "+48512345678"
UKRAINE = "+380501234567"
ENGLISH_TEXT = "The lift in our block has been broken for weeks."
POLISH_TEXT = "Winda w naszym bloku jest zepsuta od tygodni."
OTHER_TEXT = "Please put a bench at the bus stop on Mill Lane."
SUMMARY = "We will repair the lift by 1 March."
POLISH_SUMMARY = "Naprawimy windę do 1 marca."
REASON = "The lift is the only step-free way up."
DRAFT_TITLE = "Secret draft about benches"


def seed(app: Flask, client: FlaskClient) -> dict[str, int]:
    """Three members; two linked to a published decision, one to an unpublished one."""
    clock.freeze(T0)
    send_sms(client, UK, ENGLISH_TEXT)
    send_sms(client, POLISH, POLISH_TEXT)
    send_sms(client, UKRAINE, OTHER_TEXT)
    drain(app)
    with app.app_context():
        items = {item.messages[0].body: item for item in db.session.scalars(select(FeedbackItem))}
        published = Decision(
            title="Lift repairs", summary=SUMMARY, reason=REASON, outcome="adopted"
        )
        published.translations.append(DecisionTranslation(locale="pl", summary=POLISH_SUMMARY))
        draft = Decision(
            title=DRAFT_TITLE, summary="Draft summary, not public.", outcome="under_review"
        )
        db.session.add_all([published, draft])
        db.session.commit()
        loop.link(published, [items[ENGLISH_TEXT], items[POLISH_TEXT]])
        loop.link(draft, [items[OTHER_TEXT]])
        loop.publish(published)
        ids = {"published": published.id, "draft": draft.id}
    drain(app)
    return ids


def page(client: FlaskClient, query: str = "", **headers: str) -> str:
    response = client.get(f"/you-said-we-did{query}", headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_anyone_sees_published_decisions_with_their_feedback_count(app, client):
    seed(app, client)

    html = page(client)

    assert "Lift repairs" in html
    assert "Adopted" in html
    assert REASON in html
    assert SUMMARY in html
    assert re.search(
        r'class="feedback-count" data-count="2">\s*Based on 2 pieces of feedback', html
    )
    assert '<html lang="en" dir="ltr">' in html
    assert 'Published on <time datetime="2026-11-23">November 23, 2026</time>' in html


def test_unpublished_decisions_and_member_data_never_appear(app, client):
    ids = seed(app, client)

    html = page(client)

    assert DRAFT_TITLE not in html
    assert "Draft summary" not in html
    assert html.count('class="feedback-count"') == 1
    for text in (ENGLISH_TEXT, POLISH_TEXT, OTHER_TEXT):
        assert text not in html
    for number in (UK, POLISH, UKRAINE):
        digits = number.lstrip("+")
        assert digits not in html
        assert digits[-9:] not in html  # nor the national form
    with app.app_context():
        labels = [c.label for c in db.session.scalars(select(Contact))]
        refs = [i.ref for i in db.session.scalars(select(FeedbackItem))]
    for private in labels + refs:
        assert private not in html
    # The draft becomes public only once published.
    with app.app_context():
        loop.publish(db.session.get(Decision, ids["draft"]))
    assert DRAFT_TITLE in page(client)


def test_polish_page_shows_the_polish_summary(app, client):
    seed(app, client)

    html = page(client, "?lang=pl")

    assert '<html lang="pl" dir="ltr">' in html
    assert POLISH_SUMMARY in html
    assert SUMMARY not in html
    assert re.search(r'<div class="summary" lang="pl" dir="ltr">', html)
    assert 'data-count="2"' in html
    assert '<time datetime="2026-11-23">23 listopada 2026</time>' in html  # a Polish date
    # The choice is remembered for the next visit.
    assert POLISH_SUMMARY in page(client)
    with client.session_transaction() as session:
        assert session["locale"] == "pl"


POLISH_TITLE = "Naprawa windy"
POLISH_REASON = "Winda to jedyna droga na górę bez schodów."


def translate_title_and_reason(app: Flask, decision_id: int, state: str = "reviewed") -> None:
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        save_decision_summary(
            None, decision, "pl", POLISH_SUMMARY, state, title=POLISH_TITLE, reason=POLISH_REASON
        )


def test_the_polish_page_shows_the_title_and_reason_an_interpreter_translated(app, client):
    """Title, summary and why, all in Polish, each marked as such; the English page is as
    staff wrote it."""
    ids = seed(app, client)
    assert "Lift repairs" in page(client, "?lang=pl")  # nobody has translated them yet
    translate_title_and_reason(app, ids["published"])

    html = page(client, "?lang=pl")
    assert re.search(r'<h2 id="decision-1" lang="pl" dir="ltr">Naprawa windy</h2>', html)
    assert f'<p lang="pl" dir="ltr">{POLISH_REASON}</p>' in html
    assert "Lift repairs" not in html and REASON not in html
    english = page(client, "?lang=en")
    assert re.search(r'<h2 id="decision-1" lang="en" dir="ltr">Lift repairs</h2>', english)
    assert POLISH_TITLE not in english


def test_a_title_staff_change_reads_in_their_language_until_translated_again(app, client):
    """A translation of the old title would say something staff no longer do: the page
    shows the new title as written, and the reason, unchanged, still in Polish."""
    ids = seed(app, client)
    translate_title_and_reason(app, ids["published"])
    with app.app_context():
        db.session.get(Decision, ids["published"]).title = "Lift repairs in Block C"
        db.session.commit()

    html = page(client, "?lang=pl")
    assert re.search(r'lang="en" dir="ltr">Lift repairs in Block C</h2>', html)
    assert POLISH_TITLE not in html
    assert f'<p lang="pl" dir="ltr">{POLISH_REASON}</p>' in html


def test_a_draft_translation_of_the_title_is_not_shown(app, client):
    ids = seed(app, client)
    translate_title_and_reason(app, ids["published"], state="draft")

    html = page(client, "?lang=pl")
    assert POLISH_TITLE not in html and POLISH_REASON not in html
    assert "Lift repairs" in html


def test_a_language_without_a_translation_falls_back_to_the_staff_summary(app, client):
    seed(app, client)

    html = page(client, "?lang=ro")

    assert '<html lang="ro" dir="ltr">' in html
    assert SUMMARY in html
    assert POLISH_SUMMARY not in html
    assert re.search(r'<div class="summary" lang="en" dir="ltr">', html)


def test_arabic_and_urdu_pages_are_right_to_left(app, client):
    seed(app, client)

    for locale in ("ar", "ur"):
        html = page(client, f"?lang={locale}")
        assert f'<html lang="{locale}" dir="rtl">' in html, locale
        # Staff-language text inside keeps its own direction.
        assert '<h2 id="decision-1" lang="en" dir="ltr">Lift repairs</h2>' in html


def test_the_language_switcher_offers_every_shipped_language(app, client):
    html = page(client)
    for code, name in (("pl", "Polski"), ("ar", "العربية"), ("cy", "Cymraeg")):
        assert f'href="/you-said-we-did?lang={code}" lang="{code}"' in html
        assert f">{name}</a>" in html
    assert re.findall(r'lang="(\w+)" hreflang="\w+" dir="\w+" aria-current="true"', html) == ["en"]


def test_a_keyboard_skips_the_ten_languages_in_one_step_in_the_pages_language(app, client):
    """The first link on the page, before the language switcher, leads to the content."""
    for query, words in (("", "Skip to main content"), ("?lang=pl", "Przejdź do treści głównej")):
        html = page(client, query)
        first_link = re.search(r"<a [^>]*>[^<]*</a>", html)
        assert first_link is not None
        assert first_link[0] == f'<a class="skip-link" href="#main">{words}</a>', query
        assert '<main id="main">' in html


def test_unknown_language_is_ignored_and_accept_language_is_honoured(app, client):
    html = page(client, "?lang=xx")
    assert '<html lang="en" dir="ltr">' in html
    with client.session_transaction() as session:
        assert "locale" not in session
    other = page(client, **{"Accept-Language": "ar;q=1.0, en;q=0.5"})
    assert '<html lang="ar" dir="rtl">' in other


def test_newest_decision_first_and_empty_state(app, client):
    assert "Nothing has been published yet" in page(client)
    with app.app_context():
        for days, title in ((1, "Older decision"), (5, "Newer decision")):
            db.session.add(
                Decision(title=title, summary="s", published_at=T0 + timedelta(days=days))
            )
        db.session.commit()
    html = page(client)
    assert html.index("Newer decision") < html.index("Older decision")
    assert 'data-count="0"' in html
    assert "Nothing has been published yet" not in html


def brand_link(html: str) -> str:
    match = re.search(r'<a class="brand" href="([^"]*)"', html)
    assert match, "no brand link"
    return match.group(1)


def test_the_brand_leads_staff_to_the_panel_and_the_public_page_leads_them_back(app, client):
    anonymous = page(client)
    assert brand_link(anonymous) == "/you-said-we-did"
    assert "Back to the panel" not in anonymous and 'href="/admin' not in anonymous

    create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")
    assert brand_link(client.get("/admin/items").get_data(as_text=True)) == "/"
    signed_in = page(client)
    assert brand_link(signed_in) == "/"
    assert re.search(r'<a class="to-panel" href="/"[^>]*>Back to the panel</a>', signed_in)
