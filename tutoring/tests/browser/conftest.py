"""Browser tests: Debian's Chromium driven by Playwright (headless) against the run's one ASGI server
(`threaded_server`: HTTP and socket.io on one origin, the test database, the built bundles).

One browser for the whole package; each test opens its own contexts (separate cookies: a student and a
tutor side by side). Every page is watched for script errors and Content Security Policy violations,
and screenshots go to test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tutoring.tests.asgi_server import settle
from tutoring.tests.browser.chromium import ARGS, CHROMIUM, browser_missing

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"

# The checks of docs/pages.md "Accessibility": every visible form field has a visible label, every
# visible button has visible text.
A11Y = """() => {
  const shown = (el) => el.checkVisibility({ visibilityProperty: true, opacityProperty: true });
  const problems = [];
  for (const field of document.querySelectorAll("input, select, textarea")) {
    if (field.type === "hidden" || !shown(field)) continue;
    const labels = [...(field.labels || [])].filter((l) => shown(l) && l.innerText.trim());
    if (!labels.length) problems.push("no visible label: " + field.outerHTML.slice(0, 120));
  }
  for (const button of document.querySelectorAll("button, input[type=submit], input[type=button]")) {
    if (!shown(button)) continue;
    if (!(button.innerText || button.value || "").trim()) problems.push("no text: " + button.outerHTML.slice(0, 120));
  }
  return problems;
}"""


@dataclass
class Watch:
    """What went wrong in a browser context: script errors, policy violations, dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="package")
def chromium():
    missing = browser_missing()
    if missing:
        pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop marked as running in this thread while it lives, which
    # Django takes for async code and refuses the ORM to; the test's own queries are ordinary sync code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def site(threaded_server, transactional_db):
    """The server's base URL; the test's data is committed, so its threads see it."""
    return threaded_server.url


@pytest.fixture
def browse(chromium, site):
    """browse(locale=..., viewport=...) → (context, page, watch): a new browser context on the site."""
    contexts = []

    def open_context(*, locale: str = "en-US", viewport: dict | None = None, time_zone: str = "Asia/Shanghai"):
        context = chromium.new_context(
            base_url=site,
            locale=locale,
            timezone_id=time_zone,
            viewport=viewport or {"width": 1280, "height": 860},
        )
        contexts.append(context)
        watch = Watch()
        page = context.new_page()

        def on_console(message):
            if message.type == "error" and re.search(r"Content Security Policy|Refused to", message.text):
                watch.errors.append(f"CSP: {message.text}")

        def on_dialog(dialog):
            watch.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.accept()

        page.on("console", on_console)
        page.on("pageerror", lambda error: watch.errors.append(f"script error: {error}"))
        page.on("dialog", on_dialog)
        return context, page, watch

    yield open_context
    for context in contexts:
        context.close()
    # The server writes when a socket closes; let it finish before the database is flushed.
    settle()


def check_page(page, watch: Watch) -> None:
    """The accessibility basics hold on this page and nothing was refused or failed."""
    assert page.evaluate(A11Y) == [], page.url
    assert watch.errors == [], watch.errors


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # From the top: a full-page capture of a scrolled page draws the sticky header mid-page.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
