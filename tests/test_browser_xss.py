"""What strangers write is shown as text, never run, in real Chromium.

Members send markup; an interpreter's translation and a staff topic name carry it too. Staff
open the inbox, a search for it and each item page: the markup is on the page literally and
nothing ran. The pages are checked twice: as served (with the Content-Security-Policy), and
in a context that ignores the CSP, so escaping alone is what keeps them safe there.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.interpreting.saving import save_message_translation
from feedback_bot.models import InboundMessage, Role

from .browser import (  # noqa: F401
    DEFAULT_TIMEOUT_MS,
    new_page,
    screenshot,
    sign_in,
)
from .conftest import drain, send_sms
from .test_auth import PASSWORD, create_user

# One member per payload, so each is the first message of its own item (the inbox shows
# the first message of each item).
PAYLOADS = {
    "+447911123456": '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">',
    "+447911123457": '"><svg onload="window.__pwned=3"></svg><b onmouseover=window.__pwned=4>b</b>',
    "+447911123458": '</p></li></ol><iframe srcdoc="<script>parent.__pwned=5</script>"></iframe>',
}
TRANSLATION = '<img src=x onerror="window.__pwned=6"> The member <script>window.__pwned=7</script>'
TRANSCRIPT = "<script>window.__pwned=8</script> transcript"
TOPIC = '"><img src=x onerror=window.__pwned=9>'  # also lands in attributes (aria-label)
SEARCH = '"><script>window.__pwned=10</script>'

# Elements the payloads would create if they were parsed as markup.
INJECTED = "main script, [onerror], [onload], [onmouseover], iframe, img[src='x']"


@pytest.fixture
def app(make_app) -> Flask:
    return make_app(WTF_CSRF_ENABLED=True, QUIET_HOURS_START=0, QUIET_HOURS_END=0)


def watch_console(page: Page) -> list[str]:
    """Console errors; a CSP refusal (an escaping mistake the policy caught) shows here."""
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def assert_safe(page: Page, path: str, literal: list[str], errors: list[str]) -> None:
    """Open ``path``; every string in ``literal`` is visible as text; nothing ran."""
    errors.clear()
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    page.wait_for_load_state("load")
    # An onerror fires once the broken image fails; give any such handler time to run.
    page.wait_for_timeout(300)
    visible = page.locator("main").inner_text()
    for text in literal:
        assert text in visible, f"{path}: {text!r} is not shown as text"
    assert page.evaluate("() => typeof window.__pwned") == "undefined", path
    assert page.locator(INJECTED).count() == 0, f"{path}: markup from a member became elements"
    csp_errors = [e for e in errors if "Content Security Policy" in e]
    assert csp_errors == [], f"{path}: {csp_errors}"


def staff_page(browser: Browser, base_url: str, *, bypass_csp: bool = False) -> Page:
    context = browser.new_context(base_url=base_url, bypass_csp=bypass_csp)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, "staff@example.org", PASSWORD)
    return page


@pytest.mark.browser
def test_markup_from_members_is_shown_never_run(app, client, live_server, chromium):
    for number, body in PAYLOADS.items():
        assert send_sms(client, number, body).status_code == 200
    drain(app)
    with app.app_context():
        messages = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [m.body for m in messages] == list(PAYLOADS.values())
        items = {m.body: (m.item_id, m.item.ref) for m in messages}
        first = messages[0]
        save_message_translation(None, first, "en", TRANSLATION, TRANSCRIPT)
        db.session.remove()
    first_id, _ = items[PAYLOADS["+447911123456"]]
    create_user(app, Role.STAFF)

    # ---- staff, as served: tag an item with a topic name that is markup too
    page = staff_page(chromium, live_server.url)
    errors = watch_console(page)
    page.goto(f"/admin/items/{first_id}")
    page.fill('form[data-tag-form] input[name="new_topic"]', TOPIC)
    page.click('form[data-tag-form] button:has-text("Tag")')
    expect(page.locator("ul.tags")).to_contain_text(TOPIC)
    expect(page.locator(".flash-success")).to_contain_text(TOPIC)
    remove = page.locator("ul.tags button.link-button")
    expect(remove).to_have_attribute("aria-label", f"Remove {TOPIC}")
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert [e for e in errors if "Content Security Policy" in e] == []
    csp = page.request.get(f"/admin/items/{first_id}").headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and "'unsafe-inline'" not in script_src.group(1), csp
    screenshot(page, "xss-1-item")

    pages: list[tuple[str, list[str]]] = [
        ("/admin/items", [*PAYLOADS.values(), TOPIC]),
        (f"/admin/items?q={quote(SEARCH)}", []),
    ]
    for body, (item_id, ref) in items.items():
        shown = [body, ref]
        if item_id == first_id:
            shown += [TRANSLATION, TRANSCRIPT, TOPIC, f"Tagged “{TOPIC}”"]
        pages.append((f"/admin/items/{item_id}", shown))

    for path, literal in pages:
        assert_safe(page, path, literal, errors)
    # The search term comes back in the search box, as its value.
    page.goto(f"/admin/items?q={quote(SEARCH)}")
    expect(page.locator('input[name="q"]')).to_have_value(SEARCH)
    screenshot(page, "xss-2-inbox")

    # ---- the same pages with the CSP ignored: only escaping stands between
    bare = staff_page(chromium, live_server.url, bypass_csp=True)
    bare_errors = watch_console(bare)
    for path, literal in pages:
        assert_safe(bare, path, literal, bare_errors)
    bare.context.close()
    page.context.close()
