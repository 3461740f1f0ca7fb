"""The whole loop in real Chromium: a Polish member's feedback, triaged, decided, told.

Staff find the item, tag it, write a decision, link the item and publish; the worker
sends "what happened next" in Polish. An interpreter then finds no number and no way
to publish.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.interpreting.saving import save_decision_summary
from feedback_bot.jobs.sweep import sweep
from feedback_bot.models import (
    Decision,
    DecisionTranslation,
    FeedbackItem,
    ItemStatus,
    ReviewState,
    Role,
    WhatsAppTemplate,
)
from feedback_bot.testing.fake_twilio import count_segments

from .browser import (
    new_page,
    screenshot,
    sign_in,
)
from .conftest import drain, send_sms
from .test_auth import PASSWORD, create_user
from .test_whatsapp import status_callback

POLISH = "+48512345678"
MASKED = "+48 •••• ••56 78"
LIGHTS = "Dzień dobry, na naszej ulicy od dwóch tygodni nie działa oświetlenie uliczne."
TITLE = "Street lights on Mill Road"
SUMMARY = "We will repair the street lights on Mill Road by the end of May."
SUMMARY_PL = "Naprawimy oświetlenie uliczne na Mill Road do końca maja."

SEGMENT_SAMPLES = [
    "",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "{" * 80,
    "€" * 81,
    "a" * 158 + "^",
    "ż" * 70,
    "ż" * 71,
    "ż" * 134,
    "ż" * 135,
    "🙂" * 35,
    "🙂" * 36,
    "Zażółć gęślą jaźń",
    "Line one\nline two [with] brackets ~ and | pipes \\ backslash",
]


@pytest.fixture
def app(make_app) -> Flask:
    # Real CSRF tokens in the browser; quiet hours off so the result does not depend on
    # the time of the run.
    return make_app(WTF_CSRF_ENABLED=True, QUIET_HOURS_START=0, QUIET_HOURS_END=0)


@pytest.mark.browser
def test_staff_close_the_loop_and_interpreters_are_kept_out(
    app, client, live_server, chromium, fake_twilio
):
    # A member writes in Polish and is acknowledged.
    assert send_sms(client, POLISH, LIGHTS).status_code == 200
    drain(app)
    [ack] = fake_twilio.messages_to(POLISH)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        item_id, ref = item.id, item.ref
        assert item.locale == "pl"
    assert ref in ack["body"]
    create_user(app, Role.STAFF)
    create_user(app, Role.INTERPRETER, languages="pl")

    # ---- staff: sign in and find the item
    page = new_page(chromium, live_server.url)
    page.goto("/admin/items")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    sign_in(page, "staff@example.org", PASSWORD)
    page.fill('input[name="q"]', "oświetlenie")
    page.click('button:has-text("Filter")')
    row = page.locator(f'tr[data-item="{item_id}"]')
    expect(row).to_contain_text(MASKED)
    # Select-all on the page (panel.js) picks the one item. The script is deferred: it
    # listens once the page has loaded, and a click before then changes one box only.
    page.wait_for_load_state("load")
    page.check("[data-select-all]")
    expect(page.locator(f'input[name="item_ids"][value="{item_id}"]')).to_be_checked()
    expect(page.locator("[data-selected-count]")).to_have_text("(1 selected)")
    screenshot(page, "1-inbox")
    row.locator("a.ref").click()
    expect(page.locator("h1")).to_contain_text(ref)
    expect(page.locator(".timeline .inbound")).to_contain_text(LIGHTS)
    expect(page.locator(".timeline .outbound")).to_contain_text(ref)

    # ---- tag it with a topic created inline
    page.fill('form[data-tag-form] input[name="new_topic"]', "Street lighting")
    page.click('form[data-tag-form] button:has-text("Tag")')
    expect(page.locator("ul.tags")).to_contain_text("Street lighting")
    expect(page.locator(".timeline")).to_contain_text("Tagged “Street lighting”")
    screenshot(page, "2-item")

    # ---- write the decision, watching the segment counter
    page.click('nav a:has-text("Decisions")')
    page.click("text=New decision")
    page.fill('input[name="title"]', TITLE)
    page.select_option('select[name="outcome"]', "adopted")
    page.fill('input[name="responsible"]', "Highways team")
    page.fill('textarea[name="summary"]', SUMMARY)
    counter = page.locator("#summary-count")
    expect(counter).to_contain_text(f"{len(SUMMARY)} characters · GSM-7 · 1 segment")
    expect(counter).to_contain_text("Whole message in English, as members get it: ")
    # The counter is not read out at each key; its status says only a change of cost.
    expect(counter).to_have_attribute("aria-live", "off")
    said = page.locator('[data-counter-announcer="summary-count"]')
    expect(said).to_have_attribute("role", "status")
    expect(said).to_have_text("")  # still one segment, GSM-7: nothing to say
    page.fill('textarea[name="summary"]', SUMMARY + " Dziękujemy!")  # ę is not GSM-7
    expect(counter).to_contain_text("UCS-2")
    expect(counter).to_have_attribute("data-segments", "2")
    expect(said).to_have_text(re.compile(r"^Summary: 2 segments, UCS-2\. Whole message in English"))
    page.fill('textarea[name="summary"]', SUMMARY)
    expect(counter).to_have_attribute("data-encoding", "GSM-7")
    expect(said).to_contain_text("Summary: 1 segment, GSM-7.")
    # The counter agrees with how Twilio bills (the fake's count) on every edge.
    for sample in SEGMENT_SAMPLES:
        counted = page.evaluate("s => window.feedbackPanel.countSegments(s).segments", sample)
        assert counted == count_segments(sample), sample
    screenshot(page, "3-decision-form")
    page.click('button:has-text("Save")')
    expect(page.locator("h1")).to_contain_text(TITLE)
    decision_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    # The Polish summary: there is no interpreter UI yet, so straight into the database.
    with app.app_context():
        db.session.add(
            DecisionTranslation(
                decision_id=decision_id,
                locale="pl",
                summary=SUMMARY_PL,
                state=ReviewState.REVIEWED,
            )
        )
        db.session.commit()

    # ---- link the item from its page
    page.goto(f"/admin/items/{item_id}")
    page.select_option('form[data-link-form] select[name="decision_id"]', str(decision_id))
    page.click('button:has-text("Link to decision")')
    expect(page.locator("[data-linked-decision]")).to_have_text(TITLE)
    expect(page.locator("h1 .badge")).to_have_text("Linked")

    # ---- publish, with a confirmation step
    page.goto(f"/admin/decisions/{decision_id}")
    expect(page.locator('[data-count="linked"]')).to_have_text("1")
    page.click("[data-publish]")
    expect(page.locator("h1")).to_contain_text("Publish")
    expect(page.locator("main")).to_contain_text("Polski (pl) 1")
    screenshot(page, "4-publish")
    page.click("[data-confirm-publish]")
    expect(page.locator(".flash")).to_contain_text("Published")

    # ---- the worker tells the member, in Polish
    drain(app)
    told = [m for m in fake_twilio.messages_to(POLISH) if SUMMARY_PL in m["body"]]
    assert len(told) == 1
    assert ref in told[0]["body"]
    assert SUMMARY not in told[0]["body"]
    with app.app_context():
        assert db.session.get(FeedbackItem, item_id).status == ItemStatus.TOLD
        progress = loop.progress(db.session.get(Decision, decision_id))
    assert progress["queued"] + progress["sent"] + progress["delivered"] == 1
    # The open decision page catches up by itself (panel.js polls the JSON endpoint).
    for key in ("pending", "queued", "sent", "delivered"):
        expect(page.locator(f'[data-count="{key}"]')).to_have_text(str(progress[key]))
    undelivered = page.locator('[data-hint-for="undelivered"]')
    expect(undelivered).to_be_hidden()
    # The phone never got it: Twilio says so later, and the open page says what that means.
    assert status_callback(client, told[0], "undelivered", "30003").status_code == 204
    expect(page.locator('[data-count="undelivered"]')).to_have_text("1")
    expect(undelivered).to_be_visible()
    expect(undelivered).to_contain_text("Not delivered: Twilio sent it but the phone did not")
    expect(page.locator('[data-hint-for="failed"]')).to_be_hidden()

    screenshot(page, "5-decision")

    # ---- an interpreter: no number anywhere, no publishing
    with app.app_context():
        other = Decision(title="Library hours", summary="We will open later on Saturdays.")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    interpreter = new_page(chromium, live_server.url)
    sign_in(interpreter, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    interpreter.goto("/admin/items")
    expect(interpreter.locator(f'tr[data-item="{item_id}"]')).to_contain_text(ref)
    for path in ("/admin/items", f"/admin/items/{item_id}"):
        interpreter.goto(path)
        expect(interpreter.locator("main")).to_contain_text(LIGHTS)
        html = interpreter.content()
        assert POLISH not in html and POLISH[1:] not in html
        assert MASKED not in html and "••" not in html
        assert "Reveal number" not in html
    screenshot(interpreter, "6-interpreter-item")
    refused = interpreter.goto(f"/admin/decisions/{other_id}/publish")
    assert refused is not None and refused.status == 403
    interpreter.goto(f"/admin/decisions/{other_id}")
    expect(interpreter.locator("[data-publish]")).to_have_count(0)
    token = interpreter.locator('meta[name="csrf-token"]').get_attribute("content")
    posted = interpreter.request.post(
        f"/admin/decisions/{other_id}/publish", form={"csrf_token": token or ""}
    )
    assert posted.status == 403
    with app.app_context():
        assert db.session.get(Decision, other_id).published_at is None


ARABIC = "+201001234567"
SUMMARY_AR = "سنصلح أضواء الشوارع في طريق ميل بحلول نهاية مايو."
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.browser
def test_the_decision_page_says_who_is_waiting_and_who_can_unblock_them(
    app, client, live_server, chromium, fake_twilio
):
    """A Polish member on WhatsApp waits for a template (three days on, the 24-hour window
    is shut), an Arabic member by SMS for a translation: the open decision page counts
    both, says who can unblock them, and catches up by itself when each is given."""
    clock.freeze(MONDAY_NOON)  # the live server runs in this process: it sees this clock too
    assert send_sms(client, f"whatsapp:{POLISH}", LIGHTS).status_code == 200
    assert send_sms(client, ARABIC, "أضواء الشارع في طريق ميل مطفأة منذ أسبوع.").status_code == 200
    drain(app)
    clock.freeze(MONDAY_NOON + timedelta(days=3))
    with app.app_context():
        decision = Decision(title=TITLE, summary=SUMMARY)
        decision.translations.append(
            DecisionTranslation(locale="pl", summary=SUMMARY_PL, state=ReviewState.REVIEWED)
        )
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(decision)
        decision_id = decision.id
    drain(app)
    create_user(app, Role.STAFF)

    page = new_page(chromium, live_server.url)
    sign_in(page, "staff@example.org", PASSWORD)
    page.goto(f"/admin/decisions/{decision_id}")
    for_template = page.locator('[data-waiting="awaiting_whatsapp_template"]')
    for_translation = page.locator('[data-waiting="awaiting_translation"]')
    expect(page.locator('[data-count="awaiting_whatsapp_template"]')).to_have_text("1")
    expect(for_template.locator("li")).to_have_text("Polski (pl): 1 member waiting")
    expect(for_template).to_contain_text("Who can unblock them: an admin")
    expect(for_translation.locator("li")).to_have_text("العربية (ar): 1 member waiting")
    expect(for_translation.locator("[data-unblock]")).to_contain_text("an interpreter")
    questions = page.locator('[data-waiting="questions_awaiting_whatsapp_template"]')
    expect(questions).to_be_hidden()  # nobody has been told yet, so nobody asked
    screenshot(page, "decision-waiting")

    # An admin adds the template, an interpreter writes the Arabic summary.
    with app.app_context():
        db.session.add(
            WhatsAppTemplate(kind="what_next", locale="pl", content_sid="HX" + "a1" * 16)
        )
        db.session.commit()
        sweep()
        save_decision_summary(
            None, db.session.get(Decision, decision_id), "ar", SUMMARY_AR, ReviewState.REVIEWED
        )
    drain(app)
    expect(page.locator('[data-count="awaiting_whatsapp_template"]')).to_have_text("0")
    expect(for_template).to_be_hidden()
    # Told by the template, the Polish member is asked "Did we listen?", which has none.
    # The list panel.js drew names the language as the page does, marked as written in it.
    expect(questions.locator("li")).to_have_text("Polski (pl): 1 question waiting")
    expect(questions.locator('li span[lang="pl"][dir="ltr"]')).to_have_text("Polski")
    expect(questions.locator("[data-unblock]")).to_contain_text("Who can unblock them: an admin")
    expect(for_translation.locator("li")).to_have_text("Nobody is waiting for a translation.")
    expect(for_translation.locator("[data-unblock]")).to_be_hidden()
    assert any(m["content_sid"] for m in fake_twilio.messages_to(f"whatsapp:{POLISH}"))
    assert any(SUMMARY_AR in (m["body"] or "") for m in fake_twilio.messages_to(ARABIC))
