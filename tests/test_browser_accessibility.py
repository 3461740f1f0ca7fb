"""The panel for people who use a screen reader, a keyboard alone, zoom or high contrast.

axe-core (through axe-playwright-python) checks every page each role uses, signed in as
staff, as an admin and as an interpreter, over one data set with feedback in Polish,
Arabic and Urdu (two right-to-left scripts), a photo and a voice note, a told item, a
reopened one and decisions in each state. Then the item page's and the decision page's
actions are done with the keyboard alone, each control showing where the focus is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from feedback_bot import clock, create_app, loop
from feedback_bot.extensions import db
from feedback_bot.interpreting.saving import save_message_translation
from feedback_bot.models import (
    Decision,
    DecisionTranslation,
    FeedbackItem,
    InboundMessage,
    ItemStatus,
    ReviewState,
    Role,
    Topic,
)

from .browser import LiveServer, new_page, screenshot, serve
from .conftest import (
    base_config,
    drain,
    flush_redis,
    release_connections,
    reset_database,
    send_sms,
)
from .test_auth import PASSWORD, create_user
from .test_browser_interpreters import each_control_has_one_label
from .test_interpreter_pages import PHOTO
from .test_media import VOICE

# The rules axe files under WCAG 2.0, 2.1 and 2.2, levels A and AA (2.2 adds the size of
# what one clicks or taps), and its best practices (landmarks, heading order, a page's one
# h1...), which a screen reader's user relies on as much. None is turned off.
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}

# A Monday, midday UTC.
MIDDAY = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

POLISH_TOLD = "+48512345678"
POLISH_REOPENED = "+48512345679"
ARABIC = "+201001234567"
URDU = "+923001234567"
ENGLISH = "+447956000111"
KEYBOARD_MEMBER = "+447956000222"

LIGHTS_PL = "Dzień dobry, na naszej ulicy od dwóch tygodni nie działa oświetlenie uliczne."
LIGHTS_PL_AGAIN = "Latarnie przy szkole też są wyłączone, dzieci wracają po ciemku."
LIFT_AR = "المصعد في عمارتنا معطل منذ ثلاثة أسابيع ولا أحد يصلحه."
LIFT_EN = "The lift in our building has been broken for three weeks and nobody fixes it."
BINS_UR = "ہماری گلی میں کئی دنوں سے کچرا نہیں اٹھایا گیا، بہت بدبو آ رہی ہے۔"
BINS_TRANSCRIPT_UR = "کچرا نہیں اٹھایا گیا"
BINS_EN = "Nobody has collected the rubbish in our street for days; it smells very bad."
BUS_EN = "The number 12 bus has not stopped at Mill Road since the roadworks began."
PARK_EN = "The park gates are locked before six, so we cannot walk the dog after work."

LIGHTS = "Street lights on Mill Road"
LIGHTS_SUMMARY = "We will repair the street lights on Mill Road by the end of May."
LIGHTS_SUMMARY_PL = "Naprawimy oświetlenie uliczne na Mill Road do końca maja."
LIGHTS_SUMMARY_AR = "سنصلح أضواء الشوارع في طريق ميل بحلول نهاية مايو."
LIBRARY = "Library opening hours"
LIBRARY_SUMMARY = "From June the library opens until 8 pm on Saturdays."
PARK = "Park gates"
PARK_SUMMARY = "The park gates will stay open until 9 pm from next month."


@dataclass
class Panel:
    """The shared data set, on a live server."""

    server: LiveServer
    told: int  # a Polish member's item, told the decision
    reopened: int  # a Polish member said no to "Did we listen?"
    arabic: int  # new, with a photo and an interpreter's English
    arabic_message: int
    urdu: int  # new, a voice note, linked to a draft decision
    urdu_message: int
    english: int  # triaged, in the staff language
    keyboard: int  # for the keyboard test alone
    published: int  # "Street lights", told in Polish
    draft: int  # "Library", an Urdu item linked
    keyboard_decision: int  # a draft for the keyboard test alone
    staff_id: int

    @property
    def url(self) -> str:
        return self.server.url


def message_of(item_id: int) -> int:
    return db.session.scalars(
        select(InboundMessage.id).where(InboundMessage.item_id == item_id)
    ).one()


def item_of(body: str) -> int:
    return db.session.scalars(
        select(FeedbackItem.id).join(InboundMessage).where(InboundMessage.body == body)
    ).one()


@pytest.fixture(scope="module")
def panel(
    database_url: str, redis_url: str, fake_twilio: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Panel]:
    """One data set for every test of the module, built once: the tests only read it, or
    act on rows of their own (the keyboard tests' item and decision)."""
    fake_twilio.reset()
    tmp = tmp_path_factory.mktemp("accessibility")
    config = base_config(database_url, redis_url, fake_twilio, Path(tmp))
    # Real CSRF tokens, as in production; quiet hours off whatever the clock says.
    config.update(WTF_CSRF_ENABLED=True, QUIET_HOURS_START=0, QUIET_HOURS_END=0)
    app = create_app(config)
    reset_database(app)
    flush_redis(redis_url)
    client = app.test_client()
    clock.freeze(MIDDAY)
    try:
        photo = fake_twilio.add_media(PHOTO, "image/jpeg")
        voice = fake_twilio.add_media(VOICE, "audio/ogg")
        send_sms(client, POLISH_TOLD, LIGHTS_PL, process=False)
        send_sms(client, POLISH_REOPENED, LIGHTS_PL_AGAIN, process=False)
        send_sms(client, ARABIC, LIFT_AR, media=[(photo, "image/jpeg")], process=False)
        send_sms(client, URDU, BINS_UR, media=[(voice, "audio/ogg")], process=False)
        send_sms(client, ENGLISH, BUS_EN, process=False)
        send_sms(client, KEYBOARD_MEMBER, PARK_EN, process=False)
        drain(app)
        staff_id = create_user(app, Role.STAFF)
        create_user(app, Role.ADMIN)
        create_user(app, Role.INTERPRETER, languages="ar,pl,ur")
        with app.app_context():
            told, reopened = item_of(LIGHTS_PL), item_of(LIGHTS_PL_AGAIN)
            arabic, urdu = item_of(LIFT_AR), item_of(BINS_UR)
            english, keyboard = item_of(BUS_EN), item_of(PARK_EN)
            lighting = Topic(name="Street lighting")
            housing = Topic(name="Housing")
            db.session.add_all([lighting, housing])
            items = {i: db.session.get(FeedbackItem, i) for i in (told, reopened, arabic)}
            items[told].topics.append(lighting)
            items[reopened].topics.append(lighting)
            items[arabic].topics.append(housing)
            lights = Decision(
                title=LIGHTS,
                summary=LIGHTS_SUMMARY,
                outcome="adopted",
                responsible="Highways team",
                reason="Residents in three streets reported it.",
            )
            lights.translations += [
                DecisionTranslation(
                    locale="pl", summary=LIGHTS_SUMMARY_PL, state=ReviewState.REVIEWED
                ),
                DecisionTranslation(
                    locale="ar", summary=LIGHTS_SUMMARY_AR, state=ReviewState.NEEDS_REVIEW
                ),
            ]
            library = Decision(title=LIBRARY, summary=LIBRARY_SUMMARY)
            park = Decision(title=PARK, summary=PARK_SUMMARY)
            db.session.add_all([lights, library, park])
            db.session.commit()
            loop.link(lights, [items[told], items[reopened]])
            loop.publish(lights)
            loop.link(library, [db.session.get(FeedbackItem, urdu)])
            published, draft, keyboard_decision = lights.id, library.id, park.id
            english_item = db.session.get(FeedbackItem, english)
            english_item.status = ItemStatus.TRIAGED
            db.session.commit()
            arabic_message, urdu_message = message_of(arabic), message_of(urdu)
            save_message_translation(
                None, db.session.get(InboundMessage, arabic_message), "en", LIFT_EN
            )
            # Begun by an interpreter: what the voice note says, in Urdu, kept as a draft.
            save_message_translation(
                None,
                db.session.get(InboundMessage, urdu_message),
                "en",
                BINS_EN,
                transcript=BINS_TRANSCRIPT_UR,
                state=ReviewState.DRAFT,
            )
            db.session.remove()
        drain(app)
        # An hour on, one Polish member answers "Did we listen?" yes, the other no.
        clock.freeze(MIDDAY + timedelta(hours=1))
        send_sms(client, POLISH_TOLD, "1", process=False)
        send_sms(client, POLISH_REOPENED, "3", process=False)
        drain(app)
        with app.app_context():
            statuses = {i: db.session.get(FeedbackItem, i).status for i in (told, reopened)}
            db.session.remove()
        assert statuses == {told: ItemStatus.TOLD, reopened: ItemStatus.REOPENED}
        server = serve(app)
        try:
            yield Panel(
                server=server,
                told=told,
                reopened=reopened,
                arabic=arabic,
                arabic_message=arabic_message,
                urdu=urdu,
                urdu_message=urdu_message,
                english=english,
                keyboard=keyboard,
                published=published,
                draft=draft,
                keyboard_decision=keyboard_decision,
                staff_id=staff_id,
            )
        finally:
            server.stop()
    finally:
        clock.freeze(None)
        release_connections(app)


@pytest.fixture(scope="module")
def pages(panel: Panel, chromium: Browser) -> Iterator[dict[str, Page]]:
    """A page for each role, in a browser context of its own, signed in once for every test
    of the module."""
    signed_in: dict[str, Page] = {}
    for role in (Role.STAFF, Role.ADMIN, Role.INTERPRETER):
        page = new_page(chromium, panel.url)
        # The sign-in form, posted by the context itself (its cookies are the page's): the
        # page is tested on its own, and each test opens the pages it needs.
        form = page.request.get("/login").text()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
        assert token is not None, form
        signed = page.request.post(
            "/login",
            form={"csrf_token": token[1], "email": f"{role}@example.org", "password": PASSWORD},
            max_redirects=0,
        )
        assert signed.status == 302, signed.status
        signed_in[role] = page
    yield signed_in
    for page in signed_in.values():
        page.context.close()


# The language and direction each piece of ``text`` on the page is in: the nearest lang
# attribute above it, and the direction Chromium lays it out in.
WRITTEN_IN = """text => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.data.includes(text)) continue;
    const element = node.parentElement;
    found.push([element.closest('[lang]').getAttribute('lang'),
                getComputedStyle(element).direction]);
  }
  return found;
}"""


def written_in(page: Page, text: str, lang: str, direction: str) -> None:
    """Every piece of ``text`` on the page is marked as written in ``lang``, so that a
    screen reader reads it in that language's voice, and laid out in ``direction``."""
    found = page.evaluate(WRITTEN_IN, text)
    assert found and all(tuple(each) == (lang, direction) for each in found), (text, found)


def named_apart(page: Page, *roles: str) -> None:
    """Each control of each of ``roles`` ("textbox", "button"...) has a name of its own, as
    Chromium gives them to a screen reader: its list of the page's controls tells them
    apart."""
    snapshot = page.locator("main").aria_snapshot()
    for role in roles:
        # Playwright's YAML: the name in double quotes (with \" inside), the whole line in
        # single quotes when it has a colon.
        names = re.findall(rf'- \'?{role} "((?:[^"\\]|\\.)*)"', snapshot)
        assert len(names) > 1 and len(set(names)) == len(names), (role, names)


class Audit:
    """axe on each page a role opens; every page's violations are reported at once."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.axe = Axe()
        self.found: list[str] = []

    def check(self, name: str) -> None:
        # A page reached by a click is seen as soon as its elements are: its stylesheet
        # may still be on its way, and axe would judge the page unstyled.
        self.page.wait_for_load_state("load")
        results = self.axe.run(self.page, options=AXE_OPTIONS)
        for violation in results.response["violations"]:
            for node in violation["nodes"]:
                self.found.append(
                    f"{name} ({self.page.url}): {violation['id']} [{violation['impact']}] "
                    f"{' '.join(map(str, node['target']))}\n    {node['failureSummary']}\n"
                    f"    {node['html'][:200]}"
                )

    def go(self, name: str, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        self.check(name)

    def assert_clean(self) -> None:
        assert not self.found, "\n".join(self.found)


@pytest.mark.browser
def test_the_sign_in_page_is_accessible(panel: Panel, chromium: Browser) -> None:
    """Signed out, in a context of its own."""
    page = new_page(chromium, panel.url)
    audit = Audit(page)
    # As it is after a refusal: the form, and what went wrong above it.
    page.goto("/login")
    page.fill('input[name="email"]', "staff@example.org")
    page.fill('input[name="password"]', "not the password")
    page.click('button:has-text("Sign in")')
    expect(page.locator(".flash-error")).to_be_visible()
    audit.check("sign-in refused")
    page.context.close()
    audit.assert_clean()


@pytest.mark.browser
def test_staff_pages_are_accessible(panel: Panel, pages: dict[str, Page]) -> None:
    """axe finds nothing on any page staff use; and what axe cannot check: members' words
    are marked with their language and direction, and a field says its hint and its error
    to a screen reader."""
    page = pages[Role.STAFF]
    audit = Audit(page)
    audit.go("item reopened", f"/admin/items/{panel.reopened}")
    written_in(page, LIGHTS_PL_AGAIN, "pl", "ltr")
    audit.go("item linked to a draft, voice note", f"/admin/items/{panel.urdu}")
    written_in(page, BINS_UR, "ur", "rtl")
    written_in(page, BINS_TRANSCRIPT_UR, "ur", "rtl")  # the transcript too, not only the text
    written_in(page, BINS_EN, "en", "ltr")
    audit.go("item new, photo and translation", f"/admin/items/{panel.arabic}")
    written_in(page, LIFT_AR, "ar", "rtl")
    expect(page.get_by_label("Decision", exact=True)).to_have_accessible_description(
        re.compile("^Linking to a published decision texts the member")
    )

    # The confirmation pages, reached through the item page's own forms.
    page.select_option('form[data-link-form] select[name="decision_id"]', str(panel.published))
    page.click('button:has-text("Link to decision")')
    expect(page.locator("[data-confirm-step]")).to_be_visible()
    audit.check("confirm link")
    page.goto(f"/admin/items/{panel.arabic}")
    page.click("summary:has-text('Close as no action')")
    page.fill('textarea[name="reason"]', "Housing association's lift, not ours: passed on.")
    page.click('button.danger:has-text("Close as no action")')
    expect(page.locator("[data-confirm-step]")).to_be_visible()
    audit.check("confirm close")
    page.goto(f"/admin/items/{panel.arabic}")
    page.click("[data-forget-member]")
    expect(page.locator("[data-confirm-step]")).to_be_visible()
    audit.check("confirm erase member")
    # The inbox, its bulk actions' whole form shown.
    page.goto("/admin/items")
    page.wait_for_load_state("load")  # panel.js, deferred, shows the action's own fields
    page.check(f'input[name="item_ids"][value="{panel.arabic}"]')
    page.check(f'input[name="item_ids"][value="{panel.english}"]')
    page.select_option("select[data-bulk-action]", "close")
    page.fill('.bulk-actions textarea[name="reason"]', "Not for the council.")
    audit.check("inbox, items selected")
    written_in(page, LIFT_AR[:40], "ar", "rtl")
    written_in(page, BINS_UR[:40], "ur", "rtl")
    written_in(page, LIGHTS_PL[:40], "pl", "ltr")

    audit.go("decisions", "/admin/decisions")
    audit.go("decision published", f"/admin/decisions/{panel.published}")
    written_in(page, LIGHTS_SUMMARY_AR, "ar", "rtl")
    audit.go("decision draft", f"/admin/decisions/{panel.draft}")
    audit.go("confirm publish", f"/admin/decisions/{panel.draft}/publish")
    page.goto("/admin/decisions/new")
    page.click('button:has-text("Save")')  # no title: the form again, saying so
    title = page.get_by_label("Title")
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(title).to_have_accessible_description("This field is required.")
    audit.check("new decision refused")
    audit.go("edit decision", f"/admin/decisions/{panel.published}/edit")
    page.fill('textarea[name="summary"]', LIGHTS_SUMMARY.replace("May", "April"))
    page.check('input[name="notify_told"]')
    page.click('button:has-text("Save")')
    expect(page.locator("[data-confirm-step]")).to_be_visible()
    audit.check("confirm update")
    audit.go("dashboard", "/admin/dashboard/")
    # The table's language rows name each language in its own script, marked as written
    # in it (the charts' bars are drawn, and described in the figure's text).
    for code, name, direction in (("pl", "Polski", "ltr"), ("ar", "العربية", "rtl")):
        row_name = page.locator(f'[data-group="{code}"] th [lang="{code}"]')
        expect(row_name).to_have_text(name)
        expect(row_name).to_have_attribute("dir", direction)
    audit.go("own password", "/account/password")
    missing = page.goto("/admin/items/999999")
    assert missing is not None and missing.status == 404
    audit.check("not found")
    # A form sent with a token that is no longer good.
    page.goto(f"/admin/items/{panel.english}")
    page.evaluate("document.querySelector('[data-tag-form] [name=csrf_token]').value = 'old'")
    page.fill('form[data-tag-form] input[name="new_topic"]', "Buses")
    page.click('form[data-tag-form] button:has-text("Tag")')
    expect(page.locator("h1")).to_have_text("This form has expired")
    audit.check("form expired")
    audit.assert_clean()


@pytest.mark.browser
def test_admin_pages_are_accessible(panel: Panel, pages: dict[str, Page]) -> None:
    """axe finds nothing on the admins' own pages; each row's controls say whose they are,
    and the WhatsApp form's boxes have one label each."""
    page = pages[Role.ADMIN]
    audit = Audit(page)
    audit.go("users", "/admin/users")
    # A row's controls say whose they are, not "Active", "Active", "Active".
    named_apart(page, "checkbox", "button")
    audit.go("user password", f"/admin/users/{panel.staff_id}/password")
    audit.go("audit log", "/admin/audit")
    audit.go("languages", "/admin/languages")
    page.locator("#languages tr", has_text="Polski").get_by_role("button").click()
    expect(page.locator("[data-confirm-step]")).to_be_visible()
    audit.check("confirm stop offering a language")
    page.goto("/admin/whatsapp-templates/")
    page.fill('input[name="content_sid"]', "HX123")  # not a SID: the form again, saying so
    page.click('button:has-text("Save")')
    expect(page.get_by_label("Content SID")).to_have_accessible_description(
        re.compile("^A content SID is HX")
    )
    # Left empty, it says so as every panel form does, tied to the box, not in a bubble
    # of the browser's own.
    page.fill('input[name="content_sid"]', "")
    page.click('button:has-text("Save")')
    expect(page.get_by_label("Content SID")).to_have_accessible_description(
        "This field is required."
    )
    each_control_has_one_label(page)
    audit.check("whatsapp templates refused")
    page.goto(f"/admin/items/{panel.told}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-reveal]")
    expect(page.locator("[data-revealed-number]")).to_be_visible()
    audit.check("item with the number revealed")
    audit.assert_clean()


@pytest.mark.browser
def test_interpreter_pages_are_accessible(panel: Panel, pages: dict[str, Page]) -> None:
    """axe finds nothing on the pages interpreters use; languages named in their own script
    are marked so, and the template editor's many boxes are named apart."""
    page = pages[Role.INTERPRETER]
    audit = Audit(page)
    audit.go("workspace", "/admin/translate/")
    written_in(page, "العربية", "ar", "rtl")
    written_in(page, "اردو", "ur", "rtl")
    audit.go("translate Arabic feedback", f"/admin/translate/feedback/{panel.arabic_message}")
    audit.go("translate Urdu voice note", f"/admin/translate/feedback/{panel.urdu_message}")
    audit.go("translate summary ur", f"/admin/translate/decision/{panel.draft}/ur")
    # The template editor, as it is when a translation that drops its placeholder is
    # refused: the box marked, and why.
    page.goto("/admin/translate/templates/ar")
    box = page.locator("#template-start")
    box.locator("textarea").fill("مرحبا")
    box.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-error")).to_be_visible()
    audit.check("templates ar refused")
    # Dozens of boxes, states and Save buttons: each named for its message.
    named_apart(page, "textbox", "combobox", "button")
    audit.go("item as interpreter", f"/admin/items/{panel.arabic}")
    audit.go("decision as interpreter", f"/admin/decisions/{panel.published}")
    audit.assert_clean()


# ----------------------------------------------------------------------------- keyboard

# What a keyboard user can reach on the page as it is shown: controls in a closed
# <details> or a hidden part are not on screen, so not expected.
MARK_CONTROLS = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + 'audio[controls], [tabindex]:not([tabindex="-1"])';
  return [...document.querySelectorAll(selector)]
    .filter(e => !e.disabled && e.checkVisibility({visibilityProperty: true}))
    .map((e, i) => { e.dataset.stop = String(i); return i; });
}"""

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e);
  const box = e.getBoundingClientRect();
  return {
    stop: e.dataset.stop ?? null,
    name: (e.getAttribute('aria-label') || e.textContent || e.name || e.tagName).trim(),
    outline: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
    x: box.x, y: box.y, w: box.width, h: box.height,
    bar: !!e.closest('.topbar'),
    inMain: !!e.closest('main'),
    target: e.dataset.tabTarget === 'yes',
  };
}"""


def focus_shows(stop: dict[str, Any]) -> None:
    """The focused control is on screen and ringed (panel.css ``:focus-visible``)."""
    assert stop["outline"] != "none" and stop["width"] >= 2, stop
    assert stop["w"] > 1 and stop["h"] > 1 and stop["x"] >= 0, stop


def tab_through(page: Page) -> list[dict[str, Any]]:
    """Press Tab from the top of the page to its end; every stop, in order. Each control
    on screen must be one of them, each with its focus shown, and the top bar's in the
    order the eye reads them."""
    controls = page.evaluate(MARK_CONTROLS)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    stops: list[dict[str, Any]] = []
    for _ in range(2 * len(controls) + 10):  # a player takes several presses
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop is None or (stops and stop["stop"] == stops[0]["stop"]):
            break  # past the last control
        focus_shows(stop)
        stops.append(stop)
    reached = {int(stop["stop"]) for stop in stops if stop["stop"] is not None}
    missed = sorted(set(controls) - reached)
    names = page.evaluate(
        "stops => stops.map(i => document.querySelector(`[data-stop='${i}']`).outerHTML"
        ".slice(0, 120))",
        missed,
    )
    assert not missed, f"not reached by Tab: {names}"
    bar = [stop for stop in stops if stop["bar"]]
    for before, after in pairwise(bar):
        if abs(before["y"] - after["y"]) < 5:  # on one line of the bar
            assert after["x"] > before["x"], ("the focus goes back along the bar", before, after)
    return stops


def tab_to(page: Page, target: Any, limit: int = 80) -> None:
    """Press Tab until ``target`` (a locator) has the focus, and see it shown; past the
    top bar by its skip link, as someone who moves by keyboard does."""
    # Found on the page the last key may have opened; then that page's stylesheet (its
    # focus ring) and scripts are waited for, as a person waits to see the page.
    target.evaluate("e => { e.dataset.tabTarget = 'yes'; }")
    page.wait_for_load_state("load")
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop is None:
            continue
        if stop["target"]:
            focus_shows(stop)
            return
        if stop["name"] == "Skip to main content":
            page.keyboard.press("Enter")
    raise AssertionError(f"Tab never reached {target}")


def skip_link_leads_to_main(page: Page) -> None:
    """The first Tab shows "Skip to main content"; Enter on it, and the next Tab is in the
    page's own content, past the top bar."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    first = page.evaluate(FOCUSED)
    assert first is not None and first["name"] == "Skip to main content", first
    focus_shows(first)
    assert first["w"] > 50, first  # shown, not the 1 px it is until it has the focus
    screenshot(page, "a11y-skip-link")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    after = page.evaluate(FOCUSED)
    assert after is not None and after["inMain"], after


@pytest.mark.browser
def test_every_action_of_the_item_page_is_done_by_keyboard(
    panel: Panel, pages: dict[str, Page]
) -> None:
    page = pages[Role.STAFF]
    item = f"/admin/items/{panel.keyboard}"
    page.goto(item)
    skip_link_leads_to_main(page)
    page.goto(item)
    tab_through(page)

    # Tag it with a new topic, and take the topic off again.
    page.goto(item)
    tab_to(page, page.locator('form[data-tag-form] input[name="new_topic"]'))
    page.keyboard.type("Parks")
    page.keyboard.press("Enter")
    expect(page.locator("ul.tags")).to_contain_text("Parks")
    tab_to(page, page.get_by_role("button", name="Remove Parks"))
    page.keyboard.press("Enter")
    expect(page.locator("ul.tags")).not_to_contain_text("Parks")

    # Mark it triaged.
    tab_to(page, page.get_by_role("button", name="Mark triaged"))
    page.keyboard.press("Space")
    expect(page.locator("h1 .badge")).to_have_text("Triaged")

    # Link it to the published decision: chosen by typing its name, then confirmed.
    decision = page.locator('form[data-link-form] select[name="decision_id"]')
    tab_to(page, decision)
    page.keyboard.type("Street")
    expect(decision).to_have_value(str(panel.published))
    tab_to(page, page.get_by_role("button", name="Link to decision"))
    screenshot(page, "a11y-item-focus")
    page.keyboard.press("Enter")
    confirm = page.locator("[data-confirm-send]")
    tab_to(page, confirm)
    page.keyboard.press("Enter")
    expect(page.locator("[data-linked-decision]")).to_have_text(LIGHTS)

    # Close it as no action: open the folded form, give the reason, confirm.
    tab_to(page, page.locator("summary", has_text="Close as no action"))
    page.keyboard.press("Enter")
    tab_to(page, page.locator('textarea[name="reason"]'))
    page.keyboard.type("The park belongs to the county.")
    tab_to(page, page.locator("details button.danger"))
    page.keyboard.press("Enter")
    tab_to(page, confirm)
    page.keyboard.press("Enter")
    expect(page.locator("h1 .badge")).to_have_text("Closed")

    # Asked to erase the member, and cancelled; asked to stop messages, and done.
    tab_to(page, page.locator("[data-forget-member]"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("link", name="Cancel"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{item}")
    tab_to(page, page.locator("[data-stop-messages]"))
    page.keyboard.press("Enter")
    tab_to(page, confirm)
    page.keyboard.press("Enter")
    expect(page.locator("[data-opted-out]")).to_be_visible()


@pytest.mark.browser
def test_every_action_of_the_decision_page_is_done_by_keyboard(
    panel: Panel, pages: dict[str, Page]
) -> None:
    page = pages[Role.STAFF]
    decision = f"/admin/decisions/{panel.keyboard_decision}"
    page.goto(decision)
    tab_through(page)

    # Edit it: the form is gone through by Tab too.
    tab_to(page, page.get_by_role("link", name="Edit", exact=True))
    page.keyboard.press("Enter")
    page.wait_for_url("**/edit")
    tab_through(page)
    page.goto(f"{decision}/edit")
    tab_to(page, page.get_by_label("Responsible"))
    page.keyboard.type("Parks team")
    tab_to(page, page.get_by_role("button", name="Save"))
    page.keyboard.press("Enter")
    expect(page.locator(".facts")).to_contain_text("Parks team")

    # Publish it, confirmed.
    tab_to(page, page.locator("[data-publish]"))
    screenshot(page, "a11y-decision-focus")
    page.keyboard.press("Enter")
    tab_to(page, page.locator("[data-confirm-publish]"))
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("Published")
    expect(page.locator("h1 .badge")).to_have_text("published")


@pytest.mark.browser
def test_an_interpreter_reaches_every_control_by_keyboard(
    panel: Panel, pages: dict[str, Page]
) -> None:
    """The translation pages by Tab alone: the Urdu voice note's page (a player, two boxes
    right to left and left to right) and the summary's."""
    page = pages[Role.INTERPRETER]
    page.goto(f"/admin/translate/feedback/{panel.urdu_message}")
    tab_through(page)
    page.goto(f"/admin/translate/decision/{panel.draft}/ur")
    tab_through(page)


@pytest.mark.browser
def test_the_live_progress_can_be_paused_and_resumed(panel: Panel, pages: dict[str, Page]) -> None:
    """WCAG 2.2.2: the decision page's counts update by themselves every few seconds, so
    whoever is reading them can hold them still. The page's clock is Playwright's, run
    forward by hand: no waiting for real intervals."""
    page = pages[Role.STAFF].context.new_page()  # signed in; its own clock
    try:
        page.clock.install()
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/progress") else None)
        page.goto(f"/admin/decisions/{panel.published}")
        page.clock.run_for(7_000)
        assert len(polls) == 2  # every 3 s

        pause = page.get_by_role("button", name="Pause updates")
        pause.focus()
        page.keyboard.press("Enter")
        expect(pause).to_have_attribute("aria-pressed", "true")
        page.clock.run_for(30_000)
        assert len(polls) == 2

        page.keyboard.press("Enter")
        expect(pause).to_have_attribute("aria-pressed", "false")
        page.clock.run_for(3_000)
        assert len(polls) == 3
    finally:
        page.close()


@pytest.mark.browser
def test_live_progress_says_when_it_stopped_updating(panel: Panel, pages: dict[str, Page]) -> None:
    """A poll that fails (the server gone, the session ended) left the counts as they were,
    still under "These counts update every few seconds": now the page says they stopped, once,
    and the next poll that works takes it back."""
    page = pages[Role.STAFF].context.new_page()
    try:
        page.clock.install()
        page.goto(f"/admin/decisions/{panel.published}")
        status = page.locator("[data-refresh-status]")
        expect(status).to_have_attribute("role", "status")
        expect(status).to_have_text("")

        page.route("**/progress", lambda route: route.fulfill(status=502, body="Bad gateway"))
        page.clock.run_for(3_500)
        expect(status).to_contain_text("These counts stopped updating at")
        expect(status).to_contain_text("Reload the page")
        screenshot(page, "a11y-progress-stopped")

        page.unroute("**/progress")
        page.clock.run_for(3_000)
        expect(status).to_have_text("")
    finally:
        page.close()
