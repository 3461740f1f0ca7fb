"""Playwright helpers: the app on a real port, and Debian's Chromium driving it.

``conftest.py`` makes the fixtures ``chromium`` (one browser for the whole run: Playwright's
sync API allows one instance per thread) and ``live_server`` available to every module; mark
browser tests ``@pytest.mark.browser``. ``live_server`` serves the requesting module's
``app`` fixture, so a module can override ``app`` to change the configuration.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 15_000


@dataclass
class LiveServer:
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: Flask) -> LiveServer:
    """Serve ``app`` on 127.0.0.1 on a free port, in a thread (one thread per request)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    return LiveServer(app=app, server=server, thread=thread)


@pytest.fixture(name="live_server")
def live_server_fixture(app: Flask) -> Iterator[LiveServer]:
    running = serve(app)
    yield running
    running.stop()


@pytest.fixture(name="chromium", scope="session")
def chromium_fixture() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def new_page(browser: Browser, base_url: str) -> Page:
    """A page in a fresh context (its own cookies), with the suite's default timeout."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context.new_page()


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('button:has-text("Sign in")')
    page.wait_for_url("**/admin/items")


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot when ``BROWSER_SCREENSHOTS`` names a folder (for CI
    artifacts, or to look at the panel); otherwise do nothing."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)
