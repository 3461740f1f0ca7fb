"""Playwright helpers: the app on a real port, and Debian's Chromium driving it.

``conftest.py`` makes the fixtures ``chromium`` (one browser for the whole run: Playwright's
sync API allows one instance per thread) and ``live_server`` available to every module; mark
browser tests ``@pytest.mark.browser``. ``live_server`` serves the requesting module's
``app`` fixture, so a module can override ``app`` to change the configuration.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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


class InFlight:
    """WSGI middleware that counts the requests being handled, so that stopping the server
    can wait for them. Werkzeug's request threads are daemons that nothing joins: a request
    still running when its test ends (a browser's late fetch, a status callback) would put
    its database connection back into a pool the test has already disposed of, and the
    connection, closed by nobody, would be reported against whichever later test the
    garbage collector happens to run in."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.active = 0
        self.closed = False
        self.changed = threading.Condition()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self.changed:
            if self.closed:  # over a kept-alive connection after stop(): never reaches the app
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return []
            self.active += 1
        try:
            # Flask has ended the request (and given its database connection back) by the
            # time it returns; none of the pages under test streams. Werkzeug's server does
            # not always close a response (not when the client resets the connection).
            return self.app(environ, start_response)
        finally:
            self._done()

    def _done(self) -> None:
        with self.changed:
            self.active -= 1
            self.changed.notify_all()

    def close(self, timeout: float) -> None:
        """Refuse new requests and wait for those running to end."""
        with self.changed:
            self.closed = True
            if not self.changed.wait_for(lambda: self.active == 0, timeout):
                raise RuntimeError(
                    f"{self.active} request(s) still running after {timeout} s:\n"
                    + "\n".join(_request_stacks())
                )


def _request_stacks() -> list[str]:
    """Where each of werkzeug's request threads is, for a request that will not end."""
    frames = sys._current_frames()
    return [
        "".join(traceback.format_stack(frames[thread.ident]))
        for thread in threading.enumerate()
        if thread.ident in frames and thread.name.startswith("Thread-")
    ]


@dataclass
class LiveServer:
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread
    in_flight: InFlight

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        try:
            self.in_flight.close(timeout=15)
        finally:
            self.server.server_close()
            self.thread.join(timeout=5)


def serve(app: Flask, poll_interval: float = 0.5) -> LiveServer:
    """Serve ``app`` on 127.0.0.1 on a free port, in a thread (one thread per request)."""
    in_flight = InFlight(app)
    server = make_server("127.0.0.1", 0, in_flight, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": poll_interval},
        name="live-server",
        daemon=True,
    )
    thread.start()
    return LiveServer(app=app, server=server, thread=thread, in_flight=in_flight)


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


def new_page(browser: Browser, base_url: str, viewport: ViewportSize | None = None) -> Page:
    """A page in a fresh context (its own cookies), with the suite's default timeout; its
    window 1280 by 720 unless ``viewport`` says otherwise (a phone's, say)."""
    context = browser.new_context(base_url=base_url, viewport=viewport)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context.new_page()


def sign_in(page: Page, email: str, password: str, lands_on: str = "/admin/items") -> None:
    """Sign in and wait for the page the account's role lands on (interpreters:
    "/admin/translate/")."""
    page.goto("/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('button:has-text("Sign in")')
    page.wait_for_url(f"**{lands_on}")


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot when ``BROWSER_SCREENSHOTS`` names a folder (for CI
    artifacts, or to look at the panel); otherwise do nothing."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)
