"""The phone simulator in real Chromium, read as the member and the developer read it.

FORGET: the phone keeps the conversation and shows our last message, though nothing on our
side leads from the number to the member any more. A reply held for quiet hours: the page
says until when, rather than asking whether the worker runs. The worker here is the test,
draining the queue between steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from feedback_bot import clock

from .browser import DEFAULT_TIMEOUT_MS, LiveServer, screenshot
from .conftest import drain
from .test_simulator import publish_about_the_lift

MEMBER = "+447911123456"  # the simulator's default number
# A day that is not today for the browser, in quiet hours (10 to 14) in London.
NOON = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(make_app, tmp_path) -> Flask:
    return make_app(
        SIMULATOR_ENABLED=True,
        SIMULATOR_MEDIA_DIR=str(tmp_path / "simulator-media"),
        QUIET_HOURS_START=10,
        QUIET_HOURS_END=14,
    )


@pytest.fixture
def phone(chromium: Browser, live_server: LiveServer) -> Iterator[Page]:
    # A British phone, so that times read the same on any machine.
    context = chromium.new_context(
        base_url=live_server.url, timezone_id="Europe/London", locale="en-GB"
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    page.goto("/simulator/")
    expect(page.locator("#number")).to_have_value(MEMBER)
    yield page
    context.close()


def send(page: Page, text: str) -> None:
    with page.expect_response("**/simulator/send") as answer:
        page.fill("#body", text)
        page.click("#send")
    assert answer.value.status == 200, answer.value.text()


@pytest.mark.browser
def test_after_forget_the_member_reads_our_last_message(app: Flask, phone: Page) -> None:
    send(phone, "The lift in Block C has been broken for two weeks.")
    drain(app)
    expect(phone.locator('.message.them[data-kind="ack"]')).to_have_count(1)

    send(phone, "FORGET")
    drain(app)

    confirmation = phone.locator('.message.them[data-kind="forget"]')
    expect(confirmation).to_contain_text("We have erased your phone number")
    expect(phone.locator("#member")).to_have_text(
        "forgotten (FORGET): the next message starts afresh"
    )
    # What they sent is erased on our side, and the phone says so; our replies stay.
    expect(phone.locator(".message.me .text.erased")).to_have_count(2)
    expect(phone.locator('.message.them[data-kind="ack"]')).to_have_count(1)
    expect(phone.locator("#empty")).to_be_hidden()
    screenshot(phone, "simulator-forget")


@pytest.mark.browser
def test_a_reply_held_for_quiet_hours_says_until_when(app: Flask, phone: Page) -> None:
    clock.freeze(NOON)
    send(phone, "The lift in Block C has been broken for two weeks.")
    drain(app)
    ack = phone.locator('.message.them[data-kind="ack"]')
    expect(ack).to_have_count(1)
    # Not today: the day as well as the time, as a phone shows an older message.
    expect(ack.locator(".meta")).to_contain_text(" · 3 Mar 12:00")
    publish_about_the_lift(app)
    drain(app)

    status = phone.locator("#status-line")
    expect(status).to_have_text("A reply waits until 3 Mar 14:00 (quiet hours).")
    expect(status).not_to_have_class("warning")
    screenshot(phone, "simulator-quiet-hours")
