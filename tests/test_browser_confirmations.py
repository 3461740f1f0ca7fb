"""In real Chromium: what texts members asks first, on a page of its own; Cancel does
nothing, confirming does it, with what was typed carried through unchanged."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from feedback_bot import clock, loop
from feedback_bot.extensions import db
from feedback_bot.models import Decision, FeedbackItem, ItemStatus, Role

from .browser import new_page, screenshot, sign_in
from .conftest import drain, send_sms
from .test_auth import PASSWORD, create_user

UK = "+447911123456"
POLISH = "+48512345678"
SUMMARY = "We will repair the lift by 1 March."
REASON = 'The county runs the lights.\nSee "Highways" <policy> & the budget.'


@pytest.fixture
def app(make_app) -> Flask:
    return make_app(WTF_CSRF_ENABLED=True, QUIET_HOURS_START=0, QUIET_HOURS_END=0)


@pytest.mark.browser
def test_linking_and_closing_ask_first(app, client, live_server, chromium, fake_twilio):
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    send_sms(client, POLISH, "Na naszej ulicy nie działa oświetlenie.")
    drain(app)
    with app.app_context():
        items = {i.locale: i.id for i in db.session.scalars(select(FeedbackItem))}
        decision = Decision(title="Lift repairs", summary=SUMMARY, published_at=clock.now())
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
    create_user(app, Role.STAFF)
    acknowledged = len(fake_twilio.messages)
    page = new_page(chromium, live_server.url)
    sign_in(page, "staff@example.org", PASSWORD)

    # ---- linking to a published decision: asked, cancelled, asked again, confirmed
    page.goto(f"/admin/items/{items['en']}")
    page.select_option('form[data-link-form] select[name="decision_id"]', str(decision_id))
    page.click('button:has-text("Link to decision")')
    expect(page.locator("h1")).to_contain_text("and text the member?")
    expect(page.locator("[data-sends-now]")).to_contain_text("linking texts the member now")
    screenshot(page, "confirm-link")
    page.click("text=Cancel")
    expect(page.locator("[data-linked-decision]")).to_have_count(0)
    assert len(fake_twilio.messages) == acknowledged

    page.select_option('form[data-link-form] select[name="decision_id"]', str(decision_id))
    page.click('button:has-text("Link to decision")')
    page.click("[data-confirm-send]")
    expect(page.locator(".flash")).to_contain_text("Linked to “Lift repairs”")
    drain(app)
    assert any(SUMMARY in m["body"] for m in fake_twilio.messages_to(UK))

    # ---- closing from the inbox, with a reason of several lines
    page.goto("/admin/items")
    page.wait_for_load_state("load")
    page.check(f'input[name="item_ids"][value="{items["pl"]}"]')
    page.select_option("select[data-bulk-action]", "close")
    page.fill('textarea[name="reason"]', REASON)
    page.click('button:has-text("Apply")')
    expect(page.locator("h1")).to_have_text("Close 1 item as no action and text their members?")
    expect(page.locator("blockquote")).to_contain_text('See "Highways" <policy> & the budget.')
    screenshot(page, "confirm-close")
    page.click("[data-confirm-send]")
    expect(page.locator(".flash")).to_contain_text("Closed 1 item(s) as no action")
    with app.app_context():
        item = db.session.get(FeedbackItem, items["pl"])
        assert (item.status, item.closed_reason) == (ItemStatus.CLOSED, REASON)


@pytest.mark.browser
def test_stopping_offering_a_language_asks_first(app, live_server, chromium, fake_twilio):
    create_user(app, Role.ADMIN)
    page = new_page(chromium, live_server.url)
    sign_in(page, "admin@example.org", PASSWORD)
    page.goto("/admin/languages")
    stop = page.locator('form[action="/admin/languages/so/disable"] button')
    stop.click()
    expect(page.locator("h1")).to_have_text("Stop offering Soomaali (so) to new members?")
    expect(page.locator("[data-keep]")).to_contain_text("no member uses it now")
    screenshot(page, "confirm-language")
    page.click("text=Cancel")
    expect(stop).to_have_text("Stop offering")  # still offered

    stop.click()
    page.click("[data-confirm-send]")
    expect(page.locator(".flash")).to_contain_text("so is no longer offered to new members")
    expect(page.locator('form[action="/admin/languages/so/enable"] button')).to_have_text(
        "Offer to members"
    )
    page.context.close()


@pytest.mark.browser
def test_erasing_a_member_who_asked_in_words_asks_first(
    app, client, live_server, chromium, fake_twilio
):
    send_sms(client, POLISH, "Proszę usuńcie mój numer, przeprowadzam się za granicę w maju.")
    drain(app)
    with app.app_context():
        item_id = db.session.scalars(select(FeedbackItem.id)).one()
    create_user(app, Role.STAFF)
    page = new_page(chromium, live_server.url)
    sign_in(page, "staff@example.org", PASSWORD)

    page.goto(f"/admin/items/{item_id}")
    screenshot(page, "item-member-requests")
    page.click("[data-forget-member]")
    expect(page.locator("h1")).to_contain_text("number and messages?")
    expect(page.locator("[data-what-changes]")).to_contain_text("This cannot be undone.")
    expect(page.locator("[data-last-message]")).to_have_attribute("lang", "pl")
    screenshot(page, "confirm-forget-member")
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("[data-forget-member]")).to_be_visible()

    page.click("[data-forget-member]")
    page.click("[data-confirm-send]")
    expect(page.locator(".flash")).to_contain_text("erased: their number, and what they sent")
    expect(page.locator("[data-member-requests]")).to_have_count(0)
    expect(page.locator(".timeline")).to_contain_text("Erased at the member's request.")
    drain(app)
    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        assert item.contact.forgotten
    assert [m["body"] for m in fake_twilio.messages_to(POLISH)][-1].startswith("Usunęliśmy")


@pytest.mark.browser
def test_cancelling_an_update_keeps_what_was_typed(app, client, live_server, chromium, fake_twilio):
    """Cancel on "Save and text members already told?" goes back to the form with the
    edits in it, its box still ticked; nothing is saved or sent."""
    send_sms(client, UK, "The lift in our block has been broken for weeks.")
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        decision = Decision(title="Lift repairs", summary=SUMMARY, published_at=clock.now())
        db.session.add(decision)
        db.session.commit()
        decision_id = decision.id
        loop.link(decision, [item])
    drain(app)
    create_user(app, Role.STAFF)
    told = len(fake_twilio.messages)
    page = new_page(chromium, live_server.url)
    sign_in(page, "staff@example.org", PASSWORD)

    news = "We will replace the lift instead, by 1 May."
    page.goto(f"/admin/decisions/{decision_id}/edit")
    page.fill('textarea[name="reason"]', REASON)
    page.fill('textarea[name="summary"]', news)
    page.check('input[name="notify_told"]')
    page.click('button:has-text("Save")')
    expect(page.locator("h1")).to_have_text("Save and text 1 member already told?")
    page.click("text=Cancel")

    expect(page.locator("h1")).to_have_text("Edit “Lift repairs”")
    expect(page.locator('textarea[name="summary"]')).to_have_value(news)
    expect(page.locator('textarea[name="reason"]')).to_have_value(REASON)
    expect(page.locator('input[name="notify_told"]')).to_be_checked()
    with app.app_context():
        decision = db.session.get(Decision, decision_id)
        assert (decision.summary, decision.reason, decision.revision) == (SUMMARY, "", 0)
        db.session.remove()
    drain(app)
    assert len(fake_twilio.messages) == told

    # Saved from there, it asks again, and texts when confirmed.
    page.click('button:has-text("Save")')
    page.click("[data-confirm-send]")
    expect(page.locator(".flash")).to_contain_text("members already told will get an update")
    drain(app)
    assert any(news in m["body"] for m in fake_twilio.messages_to(UK))
    page.context.close()
