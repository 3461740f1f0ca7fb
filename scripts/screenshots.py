#!/usr/bin/env python3
"""Save PNG screenshots of the loop-health dashboard and the public page into docs/.

    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:5000 \\
        --email staff@example.org --password '...'

The app must already be running (with some data in it: seed it first). The password can
come from ``FEEDBACK_SCREENSHOT_PASSWORD`` instead of the command line, which would show
it to anyone listing processes.

Playwright drives Debian's Chromium (``/usr/bin/chromium``), never a browser downloaded by
``playwright install``. If it is missing: ``apt-get update && apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
TIMEOUT_MS = 30_000
PASSWORD_ENV = "FEEDBACK_SCREENSHOT_PASSWORD"  # noqa: S105 - a variable name, not a secret


class ScreenshotError(RuntimeError):
    """Something the person running the script has to fix; the message says what."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--url", required=True, help="where the app runs, e.g. http://127.0.0.1:5000"
    )
    parser.add_argument("--email", required=True, help="a staff or admin account's email")
    parser.add_argument(
        "--password", default=os.environ.get(PASSWORD_ENV), help=f"or set {PASSWORD_ENV}"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default: docs/)"
    )
    parser.add_argument(
        "--public-languages",
        default="en,ar",
        help="comma-separated languages to shoot the public page in (default: en,ar)",
    )
    args = parser.parse_args(argv)
    if not args.password:
        parser.error(f"give --password or set {PASSWORD_ENV}")
    if urlsplit(args.url).scheme not in ("http", "https"):
        parser.error("--url must start with http:// or https://")
    return args


def page_url(base: str, path: str) -> str:
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise ScreenshotError(
            f"{CHROMIUM} is missing: run `apt-get update && apt-get install -y chromium` "
            "(never `playwright install`)."
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(page_url(base, "/login"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")
    if urlsplit(page.url).path.rstrip("/").endswith("/login"):
        raise ScreenshotError(f"could not sign in as {email}: check the email and password")


def shoot(page: Page, url: str, target: Path) -> Path:
    response = page.goto(url, wait_until="networkidle")
    if response is None or not response.ok:
        status = response.status if response is not None else "no response"
        raise ScreenshotError(f"{url} answered {status}")
    page.screenshot(path=str(target), full_page=True)
    print(f"saved {target}")
    return target


def take_screenshots(args: argparse.Namespace) -> list[Path]:
    args.out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            staff = browser.new_context(viewport=VIEWPORT)
            staff.set_default_timeout(TIMEOUT_MS)
            page = staff.new_page()
            sign_in(page, args.url, args.email, args.password)
            saved.append(
                shoot(page, page_url(args.url, "/admin/dashboard/"), args.out / "dashboard.png")
            )
            staff.close()

            # The public page as the public sees it: a fresh, signed-out browser.
            for code in [c.strip() for c in args.public_languages.split(",") if c.strip()]:
                public = browser.new_context(viewport=VIEWPORT, locale=code)
                public.set_default_timeout(TIMEOUT_MS)
                name = "you-said-we-did.png" if code == "en" else f"you-said-we-did-{code}.png"
                saved.append(
                    shoot(
                        public.new_page(),
                        page_url(args.url, f"/you-said-we-did?lang={code}"),
                        args.out / name,
                    )
                )
                public.close()
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        take_screenshots(args)
    except ScreenshotError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
