"""The panel on a phone (390 by 844, an iPhone 14's screen): nothing runs off the side.

The page never scrolls sideways, every link of the navigation is on the screen, and the
controls people came for (the inbox's messages and bulk actions, the users' Save buttons,
a translation's Save) are reachable without it. On a desktop the tables stay tables.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from feedback_bot import loop
from feedback_bot.extensions import db
from feedback_bot.models import Decision, FeedbackItem, InboundMessage, Role, Topic

from .browser import LiveServer, new_page, screenshot, sign_in
from .conftest import drain, send_sms
from .test_auth import PASSWORD, create_user

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
LONG = (
    "The lift in Block C has been broken for three weeks and my mother, who uses a "
    "wheelchair, has not been able to leave the flat since. Please send someone."
)
LONG_TITLE = "Repair the lift in Block C and check every lift on the estate weekly"
LONG_TOPIC = "Street lighting and pavement repairs near the primary school"
ARABIC = "المصعد في عمارتنا معطل منذ ثلاثة أسابيع ولا أحد يصلحه."

PAGES = {
    Role.ADMIN: [
        "/admin/items",
        "/admin/items/{item}",
        "/admin/decisions",
        "/admin/decisions/{decision}",
        "/admin/decisions/new",
        "/admin/dashboard/",
        "/admin/translate/",
        "/admin/users",
        "/admin/audit",
        "/admin/languages",
        "/admin/whatsapp-templates/",
        "/you-said-we-did",
        "/admin/no-such-page",
    ],
    Role.STAFF: ["/admin/items", "/admin/items/{item}", "/admin/decisions/{decision}"],
    Role.INTERPRETER: [
        "/admin/translate/",
        "/admin/translate/feedback/{message}",
        "/admin/translate/templates/ar",
        "/admin/items",
    ],
}
HOMES = {Role.ADMIN: "/admin/items", Role.STAFF: "/admin/items"}


@pytest.fixture
def ids(app: Flask, client) -> dict[str, int]:
    """An English and an Arabic item, the English one linked to a published decision; an
    account of each role."""
    send_sms(client, "+447911123456", LONG)
    send_sms(client, "+201001234567", ARABIC)
    drain(app)
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem).order_by(FeedbackItem.id)).first()
        assert item is not None
        # Names as long as staff write them: a select of them, or a topic's tag, is as wide
        # as the longest, and must still fit the screen.
        decision = Decision(title=LONG_TITLE, summary="We will repair it.")
        db.session.add(decision)
        item.topics.append(Topic(name=LONG_TOPIC))
        db.session.commit()
        loop.link(decision, [item])
        loop.publish(decision)
        arabic = db.session.scalars(
            select(InboundMessage.id).where(InboundMessage.body == ARABIC)
        ).one()
        found = {"item": item.id, "decision": decision.id, "message": arabic}
    drain(app)
    create_user(app, Role.ADMIN)
    create_user(app, Role.STAFF)
    create_user(app, Role.INTERPRETER, languages="ar,pl")
    return found


@pytest.fixture
def on_a_phone(
    chromium: Browser, live_server: LiveServer, ids: dict[str, int]
) -> Iterator[dict[str, Page]]:
    """A phone signed in as each role (whose accounts ``ids`` makes)."""
    pages = {}
    for role in PAGES:
        page = new_page(chromium, live_server.url, viewport=PHONE)
        sign_in(page, f"{role}@example.org", PASSWORD, HOMES.get(role, "/admin/translate/"))
        pages[role] = page
    yield pages
    for page in pages.values():
        page.context.close()


def sideways_scroll(page: Page) -> int:
    """How far the page itself can scroll sideways, in CSS pixels."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def on_screen(locator: Locator) -> bool:
    """Whether the element lies within the screen's width, where the page has it."""
    box = locator.bounding_box()
    assert box is not None, locator
    return box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


@pytest.mark.browser
def test_no_page_runs_off_the_side_of_a_phone(on_a_phone, ids):
    for role, paths in PAGES.items():
        page = on_a_phone[role]
        for path in paths:
            page.goto(path.format(**ids))
            assert sideways_scroll(page) == 0, (role, path)
            nav_links = page.locator(".topbar a, .topbar button")
            assert nav_links.count() >= 2, (role, path)
            for link in nav_links.all():
                assert on_screen(link), (role, path, link.inner_text())
            screenshot(page, f"phone-{role}{path.format(**ids).replace('/', '-')}")


@pytest.mark.browser
def test_the_controls_people_came_for_are_on_a_phones_screen(on_a_phone, ids):
    staff = on_a_phone[Role.STAFF]
    staff.goto("/admin/items")
    row = staff.locator(f'tr[data-item="{ids["item"]}"]')
    message = row.locator("td.excerpt")
    expect(message).to_contain_text(LONG[:40])
    assert on_screen(message)
    assert on_screen(row.locator('input[name="item_ids"]'))
    assert on_screen(staff.locator("input[data-select-all]"))
    assert on_screen(staff.locator('.bulk-actions button[type="submit"]'))

    admin = on_a_phone[Role.ADMIN]
    admin.goto("/admin/users")
    saves = admin.locator("table.users button", has_text="Save")
    assert saves.count() == 3
    for save in saves.all():
        assert on_screen(save)
    for control in admin.locator("table.users select, table.users input:not([type=hidden])").all():
        assert on_screen(control)
    assert on_screen(admin.locator("section.card button", has_text="Create"))

    interpreter = on_a_phone[Role.INTERPRETER]
    interpreter.goto(f"/admin/translate/feedback/{ids['message']}")
    assert on_screen(interpreter.locator("textarea").first)
    assert on_screen(interpreter.locator("main button[type=submit]").first)


@pytest.mark.browser
def test_a_phone_can_still_scroll_a_wide_table_inside_its_box(on_a_phone, ids):
    admin = on_a_phone[Role.ADMIN]
    admin.goto("/admin/audit")
    table = admin.locator("table.audit")
    widths = table.evaluate("t => [t.scrollWidth, t.clientWidth]")
    assert widths[0] > widths[1]  # wider than the screen, so it scrolls...
    assert sideways_scroll(admin) == 0  # ...by itself


@pytest.mark.browser
def test_on_a_desktop_the_tables_stay_tables(chromium, live_server, ids):
    page = new_page(chromium, live_server.url, viewport=DESKTOP)
    sign_in(page, "admin@example.org", PASSWORD)
    for path, table in (("/admin/items", "table.items"), ("/admin/users", "table.users")):
        page.goto(path)
        assert page.locator(table).evaluate("t => getComputedStyle(t).display") == "table"
        assert page.locator(f"{table} thead").is_visible()
        box = page.locator(table).bounding_box()
        main = page.locator("main").bounding_box()
        assert box is not None and main is not None
        assert box["width"] > main["width"] - 60  # as wide as the page, as before
    page.context.close()
