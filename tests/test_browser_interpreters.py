"""The interpreters' workspace in real Chromium.

An interpreter who works in Arabic and Polish translates an Arabic member's message into
English (staff then find it by an English word), writes the Polish summary a waiting Polish
member is told at once, and is refused, by name, a template that drops ``%(ref)s``. A Polish
interpreter finds what is not finished: a draft decision's summary to have ready when it is
published, a summary staff changed, a translation of feedback they saved as a draft.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.admin import routes_items
from feedback_bot.extensions import db
from feedback_bot.messaging.templates import TEMPLATES
from feedback_bot.models import (
    Decision,
    FeedbackItem,
    InboundMessage,
    MessageKind,
    MessageOverride,
    MessageTranslation,
    OutboundMessage,
    Role,
)

from .browser import (
    new_page,
    screenshot,
    sign_in,
)
from .conftest import drain, send_sms
from .test_auth import PASSWORD, create_user

ARABIC_MEMBER = "+201001234567"
ARABIC = "المصعد في عمارتنا معطل منذ ثلاثة أسابيع ولا أحد يصلحه."
ENGLISH = "The elevator in our building has been broken for three weeks and nobody fixes it."
POLISH_MEMBER = "+48512345678"
POLISH = "Winda w naszym bloku jest zepsuta od tygodni."
TITLE = "Lift repairs in Mill House"
SUMMARY = "We will repair the lift in Mill House by 1 March."
SUMMARY_PL = "Naprawimy windę w Mill House do 1 marca."
ACK = TEMPLATES["ack"].msgid
# Midday on a weekday: no quiet hours anywhere near Warsaw or Cairo.
MIDDAY = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(make_app) -> Flask:
    return make_app(WTF_CSRF_ENABLED=True)


def kinds_sent_to(app: Flask, fake_twilio, address: str) -> list[tuple[str, str]]:
    """(kind, body) of what the fake Twilio accepted for ``address``, by our outbox rows."""
    sent = {m["sid"]: m["body"] for m in fake_twilio.messages_to(address)}
    with app.app_context():
        rows = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.twilio_sid.in_(list(sent)))
        ).all()
        kinds = {row.twilio_sid: row.kind for row in rows}
        db.session.remove()
    assert set(kinds) == set(sent), "Twilio got a message the outbox does not know"
    return [(kinds[sid], body) for sid, body in sent.items()]


@pytest.mark.browser
def test_interpreter_translates_feedback_and_summary_in_the_browser(
    app, client, live_server, chromium, fake_twilio
):
    clock.freeze(MIDDAY)  # the live server runs in this process: it sees this clock too

    # An Arabic member writes; a Polish member's item is linked to a published decision
    # that has no Polish summary, so they get nothing but the acknowledgement.
    assert send_sms(client, ARABIC_MEMBER, ARABIC).status_code == 200
    assert send_sms(client, POLISH_MEMBER, POLISH).status_code == 200
    drain(app)
    with app.app_context():
        arabic = db.session.scalars(
            select(InboundMessage).where(InboundMessage.body == ARABIC)
        ).one()
        arabic_id, arabic_ref = arabic.id, arabic.item.ref
        polish_item = db.session.scalars(
            select(FeedbackItem).join(InboundMessage).where(InboundMessage.body == POLISH)
        ).one()
        polish_ref = polish_item.ref
        assert polish_item.locale == "pl"
        decision = Decision(title=TITLE, summary=SUMMARY)
        db.session.add(decision)
        db.session.commit()
        loop.link(decision, [polish_item])
        loop.publish(decision)
        decision_id = decision.id
    drain(app)
    assert [kind for kind, _ in kinds_sent_to(app, fake_twilio, POLISH_MEMBER)] == [MessageKind.ACK]
    create_user(app, Role.INTERPRETER, languages="ar,pl")
    create_user(app, Role.STAFF)

    # ---- the interpreter signs in and opens the workspace
    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    expect(page.locator("h1")).to_have_text("Translation")
    queue = page.locator("#feedback-queue")
    expect(queue).to_contain_text(ARABIC[:30])
    assert "1001234567" not in page.content()  # no number, not even part of one
    summaries = page.locator("#summary-queue tr", has_text=TITLE)
    expect(summaries.locator("td[data-members]")).to_have_text("1")  # one member waiting
    screenshot(page, "interp-1-workspace")

    # ---- the Arabic message: shown right to left, translated into English
    queue.locator("tr", has_text=ARABIC[:30]).get_by_role("link", name="Translate").click()
    expect(page).to_have_url(re.compile(rf"/admin/translate/feedback/{arabic_id}$"))
    original = page.locator("#original")
    expect(original).to_have_text(ARABIC)
    expect(original).to_have_attribute("dir", "rtl")
    expect(original).to_have_attribute("lang", "ar")
    # Chromium lays it out right to left, not just carries the attribute.
    assert original.evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.fill('textarea[name="text"]', ENGLISH)
    screenshot(page, "interp-2-feedback")
    page.click('button:has-text("Save translation")')
    expect(page).to_have_url(re.compile(r"/admin/translate/$"))
    expect(page.locator(".flash-success")).to_contain_text("Translation saved")
    expect(page.locator("#feedback-queue")).not_to_contain_text(ARABIC[:30])
    with app.app_context():
        saved = db.session.scalars(select(MessageTranslation)).one()
        assert (saved.message_id, saved.locale, saved.text) == (arabic_id, "en", ENGLISH)
        db.session.remove()

    # ---- the Polish summary: saving it tells the waiting member
    page.locator("#summary-queue tr", has_text=TITLE).get_by_role("link", name="Translate").click()
    expect(page).to_have_url(re.compile(rf"/admin/translate/decision/{decision_id}/pl$"))
    expect(page.locator("#source-summary")).to_have_text(SUMMARY)
    page.fill('textarea[name="summary"]', SUMMARY_PL)
    page.click('button:has-text("Save translation")')
    expect(page.locator(".flash-success")).to_contain_text("1 member(s) waiting")
    expect(page.locator("#summary-queue")).to_have_count(0)
    drain(app)
    told = [
        body
        for kind, body in kinds_sent_to(app, fake_twilio, POLISH_MEMBER)
        if kind == MessageKind.WHAT_NEXT
    ]
    assert len(told) == 1
    assert SUMMARY_PL in told[0] and polish_ref in told[0]
    assert SUMMARY not in told[0]

    # ---- a template that drops %(ref)s is refused, by name, and nothing is saved
    page.goto("/admin/translate/templates/pl")
    ack_row = page.locator(
        "section.template-row",
        has=page.locator('input[name="kind"][value="ack-2"]'),  # 21 days
    )
    expect(ack_row).to_have_count(1)
    textarea = ack_row.locator('textarea[name="text"]')
    shipped = textarea.input_value()
    assert "%(ref)s" in shipped and "%(days)s" in shipped
    textarea.fill(shipped.replace("%(ref)s", ""))
    with page.expect_response(re.compile(r"/admin/translate/templates/pl$")) as answer:
        ack_row.get_by_role("button", name="Save").click()
    assert answer.value.status == 400
    error = page.locator(".flash-error")
    expect(error).to_contain_text("Not saved")
    expect(error).to_contain_text("%(ref)s")
    expect(page.locator(".flash-success")).to_have_count(0)
    screenshot(page, "interp-3-template-refused")

    # ---- a message that names a number of days has a box per form, with its numbers
    page.goto("/admin/translate/templates/ar")
    two_days = page.locator("#template-ack-2")
    expect(two_days.locator("h3")).to_contain_text("For 2 days")
    # A form no message takes is folded away until someone opens it.
    never_sent = page.locator("#template-ack-0")
    expect(never_sent.locator("textarea")).to_be_hidden()
    never_sent.locator("summary").click()
    expect(never_sent.locator("textarea")).to_be_visible()
    expect(two_days.locator("textarea")).to_have_attribute("dir", "rtl")
    expect(two_days.locator("textarea")).to_have_value(re.compile("خلال يومين"))
    expect(page.locator("#template-ack-5 textarea")).to_have_value(re.compile("يومًا"))
    screenshot(page, "interp-3b-plural-forms")
    with app.app_context():
        assert db.session.scalars(select(MessageOverride)).all() == []
        db.session.remove()

    # ---- staff find the Arabic item by the interpreter's English word
    staff = new_page(chromium, live_server.url)
    sign_in(staff, "staff@example.org", PASSWORD)
    staff.fill('input[name="q"]', "elevator")
    staff.click('button:has-text("Filter")')
    expect(staff).to_have_url(re.compile(r"[?&]q=elevator"))
    rows = staff.locator("table.items tbody tr[data-item]")
    expect(rows).to_have_count(1)
    expect(rows.locator("a.ref")).to_have_text(arabic_ref)
    assert polish_ref not in staff.locator("table.items").inner_text()
    rows.locator("a.ref").click()
    expect(staff.locator(".timeline .translation")).to_contain_text(ENGLISH)
    screenshot(staff, "interp-4-staff-search")


@pytest.mark.browser
def test_the_segment_counter_fills_in_the_placeholders_as_members_get_them(
    app, live_server, chromium
):
    """While the interpreter types, the count is of the message a member would get: the
    organisation's name where "%(org)s" stands (Riverside Council, 17 characters)."""
    create_user(app, Role.INTERPRETER, languages="pl")
    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    page.goto("/admin/translate/templates/pl")
    help_box = page.locator("#template-help")
    typed = "%(org)s czyta każdą wiadomość. Wyślij STOP, aby zrezygnować."
    help_box.locator("textarea").fill(typed)
    members_get = typed.replace("%(org)s", app.config["ORG_NAME"])
    counter = help_box.locator("output")
    expect(counter).to_contain_text(f"As members get it: {len(members_get)} characters · UCS-2")
    assert len(members_get) != len(typed)
    # Nothing else is filled in: a placeholder the message does not have stays as typed.
    help_box.locator("textarea").fill("%(ref)s STOP")
    expect(counter).to_contain_text("As members get it: 12 characters · GSM-7")


@pytest.mark.browser
def test_the_summary_counter_counts_the_whole_message_in_the_members_language(
    app, live_server, chromium
):
    """A Polish summary that fits one segment alone reaches members inside "O Twoim
    zgłoszeniu …: … Odpowiedz STOP…", which it does not fit: the page counts that whole
    message, with a typical reference, as the staff form counts the English one."""
    from feedback_bot.messaging.segments import sms_cost
    from feedback_bot.messaging.templates import render
    from feedback_bot.refs import TYPICAL_REF

    create_user(app, Role.INTERPRETER, languages="pl")
    with app.app_context():
        decision = Decision(title=TITLE, summary=SUMMARY)
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id

        def members_get(summary: str) -> int:
            return sms_cost(render("what_next", "pl", ref=TYPICAL_REF, summary=summary)).segments

        whole = members_get(SUMMARY_PL)
        # "$'" is text, not a pattern that puts the rest of the message in again (which
        # would make this one three segments).
        odd = "Koszt naprawy windy to 5$' za godzinę; płaci za to administracja."
        odd_whole = members_get(odd)
    assert sms_cost(SUMMARY_PL).segments == 1 and whole == 2 and odd_whole == 2

    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    page.goto(f"/admin/translate/decision/{decision_id}/pl")
    page.fill('textarea[name="summary"]', SUMMARY_PL)
    counter = page.locator("#summary-count")
    expect(counter).to_have_attribute("data-segments", "1")
    expect(counter).to_have_attribute("data-whole-segments", str(whole))
    expect(counter).to_contain_text("Whole message in Polski, as members get it: 2 segments, UCS-2")
    screenshot(page, "interp-summary-whole-message")
    page.fill('textarea[name="summary"]', odd)
    expect(counter).to_have_attribute("data-whole-segments", str(odd_whole))


@pytest.mark.browser
def test_saving_one_template_asks_before_losing_what_was_typed_in_another(
    app, live_server, chromium
):
    """Each box saves on its own and the save reloads the page: text typed into another box
    and not saved would go without a word, so the browser asks first."""
    create_user(app, Role.INTERPRETER, languages="pl")
    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    page.goto("/admin/translate/templates/pl")
    unsaved = "%(org)s czyta każdą wiadomość. Napisz STOP, aby zrezygnować."
    page.locator("#template-help textarea").fill(unsaved)
    start_box = page.locator("#template-start textarea")
    start_box.fill("Witamy ponownie. Napisz STOP, aby zrezygnować.")

    asked: list[str] = []

    def stay(dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.locator("#template-start button[type=submit]").click()
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    expect(page.locator("#template-help textarea")).to_have_value(unsaved)
    with app.app_context():
        assert db.session.scalars(select(MessageOverride)).all() == []
        db.session.remove()

    # Saving the box that was typed in, with nothing typed elsewhere, asks nothing.
    page.locator("#template-help textarea").fill(
        page.locator("#template-help textarea").evaluate("t => t.defaultValue")
    )
    page.once("dialog", stay)
    page.locator("#template-start button[type=submit]").click()
    expect(page.locator(".flash")).to_be_visible()
    assert asked == ["beforeunload"]
    with app.app_context():
        [saved] = db.session.scalars(select(MessageOverride)).all()
        assert saved.text.startswith("Witamy ponownie.")
        db.session.remove()


POLISH_LATER = "Na naszej ulicy od dwóch tygodni nie działa oświetlenie."
BINS = "Bin collections"
BINS_SUMMARY = "Bins will be collected on Tuesdays."
LABELLED = """() => [...document.querySelectorAll("main textarea, main select, main input")]
  .filter(control => !["hidden", "submit", "button"].includes(control.type))
  .map(control => [control.name, control.labels.length])"""


def each_control_has_one_label(page) -> None:
    """The browser's own count of each box's labels: two when a label sits in another."""
    controls = page.evaluate(LABELLED)
    assert controls and all(count == 1 for _, count in controls), controls


@pytest.mark.browser
def test_interpreter_finds_unfinished_translations_in_the_workspace(
    app, client, live_server, chromium, fake_twilio
):
    clock.freeze(MIDDAY)
    # A Polish member was told a decision whose summary staff have changed since, without
    # sending an update: its Polish translation is outdated, and nobody waits for it now.
    assert send_sms(client, POLISH_MEMBER, POLISH).status_code == 200
    drain(app)
    with app.app_context():
        from feedback_bot.models import DecisionTranslation

        bins = Decision(title=BINS, summary=BINS_SUMMARY)
        bins.translations.append(
            DecisionTranslation(locale="pl", summary="Śmieci we wtorki.", state="reviewed")
        )
        db.session.add(bins)
        db.session.commit()
        loop.link(bins, list(db.session.scalars(select(FeedbackItem))))
        loop.publish(bins)
    drain(app)
    with app.app_context():
        bins = db.session.scalars(select(Decision)).one()
        bins.summary = "Bins will be collected on Wednesdays."
        loop.update_outcome(bins, notify_told=False, summary_changed=True)
    # Another Polish member's feedback is linked to a decision staff have not published.
    later = "+48512345679"
    assert send_sms(client, later, POLISH_LATER).status_code == 200
    drain(app)
    with app.app_context():
        item = db.session.scalars(
            select(FeedbackItem).join(InboundMessage).where(InboundMessage.body == POLISH_LATER)
        ).one()
        item_id, message_id = item.id, item.messages[0].id
        draft = Decision(title=TITLE, summary=SUMMARY)
        db.session.add(draft)
        db.session.commit()
        loop.link(draft, [item])
        draft_id = draft.id
    create_user(app, Role.INTERPRETER, languages="pl")

    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    rows = page.locator("#summary-queue tbody tr")
    expect(rows).to_have_count(2)
    # Members who wait from the moment it is published first; then the outdated one.
    expect(rows.nth(0)).to_contain_text(TITLE)
    expect(rows.nth(0)).to_contain_text("draft")
    expect(rows.nth(0).locator("td[data-members]")).to_have_text("1 once published")
    expect(rows.nth(1)).to_contain_text(BINS)
    expect(rows.nth(1)).to_contain_text("outdated: the summary changed")
    screenshot(page, "interp-5-unfinished")

    # ---- the draft decision's summary, ready before it is published
    rows.nth(0).get_by_role("link", name="Translate").click()
    expect(page).to_have_url(re.compile(rf"/admin/translate/decision/{draft_id}/pl$"))
    expect(page.locator("#sends-note")).to_contain_text("This decision is not published yet")
    each_control_has_one_label(page)
    page.get_by_label("Summary for members").fill(SUMMARY_PL)
    page.get_by_label("State").select_option("reviewed")
    page.click('button:has-text("Save translation")')
    expect(page).to_have_url(re.compile(r"/admin/translate/$"))
    expect(page.locator("#summary-queue tbody tr")).to_have_count(1)
    expect(page.locator("#summary-queue")).not_to_contain_text(TITLE)

    # ---- feedback saved as a draft stays in the list, marked so
    queue = page.locator("#feedback-queue")
    queue.locator("tr", has_text=POLISH_LATER).get_by_role("link", name="Translate").click()
    expect(page).to_have_url(re.compile(rf"/admin/translate/feedback/{message_id}$"))
    each_control_has_one_label(page)
    expect(page.get_by_label("What the voice note says (in its own language)")).to_have_count(0)
    page.get_by_label("Translation").fill("For two weeks the street lights")
    page.get_by_label("State").select_option("draft")
    page.click('button:has-text("Save translation")')
    expect(page.locator(".flash-success")).to_contain_text("Saved as a draft")
    row = page.locator("#feedback-queue tr", has_text=POLISH_LATER)
    expect(row).to_contain_text("draft")

    # ---- and is found again from the item's page, where the interpreter reads it
    page.goto(f"/admin/items/{item_id}")
    expect(page.locator(".timeline .translation")).to_contain_text("draft")
    page.get_by_role("link", name="Edit the translation").click()
    expect(page).to_have_url(
        re.compile(rf"/admin/translate/feedback/{message_id}\?next=/admin/items/{item_id}$")
    )
    expect(page.get_by_label("Translation")).to_have_value("For two weeks the street lights")
    page.get_by_label("Translation").fill("The street lights have been out for two weeks.")
    page.get_by_label("State").select_option("needs_review")
    page.click('button:has-text("Save translation")')
    # Back where it was opened from.
    expect(page).to_have_url(re.compile(rf"/admin/items/{item_id}$"))
    expect(page.locator(".timeline .translation")).to_contain_text("needs review")
    page.goto("/admin/translate/")
    expect(page.locator("#feedback-queue")).not_to_contain_text(POLISH_LATER)
    expect(page.locator("#review-queue tr", has_text=POLISH_LATER)).to_contain_text("needs review")
    screenshot(page, "interp-6-to-review")

    # Published, the decision goes to its member in Polish at once: nobody waits.
    with app.app_context():
        loop.publish(db.session.get(Decision, draft_id))
    drain(app)
    told = [
        body
        for kind, body in kinds_sent_to(app, fake_twilio, later)
        if kind == MessageKind.WHAT_NEXT
    ]
    assert len(told) == 1 and SUMMARY_PL in told[0]


def same_page(url: str, other: str) -> bool:
    """Whether two URLs name the same page, whatever the order of their arguments."""
    parts, others = urlsplit(url), urlsplit(other)
    return parts.path == others.path and sorted(parse_qsl(parts.query)) == sorted(
        parse_qsl(others.query)
    )


@pytest.mark.browser
def test_from_an_item_the_translation_and_the_inbox_are_a_step_away_and_back(
    app, client, live_server, chromium, monkeypatch
):
    """An interpreter on page 2 of the inbox, filtered and searched, opens an item and
    its translation, cancels, saves, and comes back to the inbox as they left it."""
    monkeypatch.setattr(routes_items, "PER_PAGE", 1)
    clock.freeze(MIDDAY)
    assert send_sms(client, ARABIC_MEMBER, ARABIC).status_code == 200
    clock.freeze(MIDDAY + timedelta(minutes=5))
    later = "المصعد في عمارتنا معطل مرة أخرى منذ يومين، نرجو إصلاحه بسرعة."
    assert send_sms(client, "+201001234568", later).status_code == 200
    drain(app)
    with app.app_context():
        item_id = db.session.scalars(
            select(InboundMessage.item_id).where(InboundMessage.body == ARABIC)
        ).one()
    create_user(app, Role.INTERPRETER, languages="ar")
    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")

    page.goto("/admin/items")
    page.select_option('select[name="locale"]', "ar")
    page.fill('input[name="q"]', "المصعد")
    page.click('button:has-text("Filter")')
    page.click('a[rel="next"]')
    expect(page.locator(".pager")).to_contain_text("Page 2 of 2")
    inbox = page.url
    page.click(f'tr[data-item="{item_id}"] a.ref')
    expect(page.locator("h1")).to_contain_text("Feedback")
    item_page = page.url

    page.click("[data-translate]")
    expect(page.locator("h1")).to_contain_text("Translate feedback")
    page.fill('textarea[name="text"]', "Not this.")
    page.click("text=Cancel")
    page.wait_for_url(item_page)
    with app.app_context():
        assert db.session.scalars(select(MessageTranslation)).all() == []
        db.session.remove()

    page.click("[data-translate]")
    page.fill('textarea[name="text"]', ENGLISH)
    page.click('button:has-text("Save translation")')
    page.wait_for_url(item_page)
    expect(page.locator(".flash")).to_contain_text("Translation saved")
    expect(page.locator(".timeline .translation")).to_contain_text(ENGLISH)

    page.click("[data-back-to-inbox]")
    page.wait_for_url(lambda url: same_page(url, inbox))
    expect(page.locator('input[name="q"]')).to_have_value("المصعد")
    expect(page.locator('select[name="locale"]')).to_have_value("ar")
    expect(page.locator(f'tr[data-item="{item_id}"]')).to_have_count(1)
    page.context.close()


@pytest.mark.browser
def test_an_interpreter_reads_an_item_without_the_number_its_member_typed(
    app, client, live_server, chromium
):
    """A member wrote their number for staff to call them back: the interpreter who opens
    the item reads the rest of their words, and staff the number too."""
    typed = "Please call me on 07911 123456 about the lift"
    assert send_sms(client, "+447956000111", typed).status_code == 200
    drain(app)
    with app.app_context():
        item_id = db.session.scalars(select(FeedbackItem.id)).one()
    create_user(app, Role.INTERPRETER, languages="pl")
    create_user(app, Role.STAFF)

    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    page.goto(f"/admin/items/{item_id}")
    body = page.locator(".timeline li.inbound p.body")
    expect(body).to_have_text("Please call me on [phone number removed] about the lift")
    assert "07911" not in page.content() and "123456" not in page.content()
    screenshot(page, "interp-item-without-number")

    staff = new_page(chromium, live_server.url)
    sign_in(staff, "staff@example.org", PASSWORD)
    staff.goto(f"/admin/items/{item_id}")
    expect(staff.locator(".timeline li.inbound p.body")).to_have_text(typed)


@pytest.mark.browser
def test_the_summary_counter_counts_the_full_stop_members_get(app, live_server, chromium):
    """A summary typed without a full stop is sent with one (``templates.as_sentence``):
    the page counts it, at the length where that one character makes another segment."""
    from feedback_bot.messaging.segments import sms_cost
    from feedback_bot.messaging.templates import SUMMARY_MARK, render, summary_frame
    from feedback_bot.refs import TYPICAL_REF

    create_user(app, Role.INTERPRETER, languages="pl")
    with app.app_context():
        decision = Decision(title=TITLE, summary=SUMMARY)
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
        frame = summary_frame("pl")
        summary = "Naprawimy windę"
        while True:
            sent = render("what_next", "pl", ref=TYPICAL_REF, summary=summary)
            as_typed = frame.replace(SUMMARY_MARK, summary)
            if sms_cost(sent).segments > sms_cost(as_typed).segments:
                break
            summary += " i"
        whole = sms_cost(sent).segments
    assert sent == as_typed.replace(f"{summary} ", f"{summary}. ")

    page = new_page(chromium, live_server.url)
    sign_in(page, "interpreter@example.org", PASSWORD, lands_on="/admin/translate/")
    page.goto(f"/admin/translate/decision/{decision_id}/pl")
    page.fill('textarea[name="summary"]', summary)
    counter = page.locator("#summary-count")
    expect(counter).to_have_attribute("data-whole-segments", str(whole))
    # With its own full stop, the same.
    page.fill('textarea[name="summary"]', summary + ".")
    expect(counter).to_have_attribute("data-whole-segments", str(whole))
