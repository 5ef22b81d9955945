"""Browser fixtures: Debian's Chromium driven by Playwright, a live server, users who log in."""

import io
import os
from pathlib import Path

import numpy as np
import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still synchronous, so Django's async guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.engine.conftest import (  # noqa: E402,F401  (fixtures shared with the engine's tests)
    annotator, annotator2, artist, box_mask, engineer, image, make_user, obj, project, ready_set,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("UI_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "var" / "screenshots"))


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not at {CHROMIUM}; install the Debian package `chromium` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Page:
    """A 1280x720 tab that records JavaScript errors, with the helpers every browser test needs."""

    def __init__(self, browser, live_server):
        self.base = live_server.url
        self.context = browser.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
        self.context.set_default_timeout(20_000)
        self.tab = self.context.new_page()
        self.errors = []
        self.tab.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.log = []
        self.tab.on("console", self._console)
        # Closed network: every script, mesh and image comes from our own server (three.js included, never a CDN).
        self.tab.on("request", self._request)

    def _request(self, request):
        if not request.url.startswith((self.base, "data:", "blob:")):
            self.errors.append(f"off-site request: {request.url}")

    def _console(self, msg):
        self.log.append(f"{msg.type}: {msg.text}")
        if msg.type == "error":
            url = (msg.location or {}).get("url", "")
            # A refusal the page handles (409 lease expired, 400 upload rejected) is logged by the
            # browser as a failed resource; anything else (a missing script, an exception) is an error.
            if "Failed to load resource" in msg.text and "/api/" in url:
                return
            self.errors.append(f"console: {msg.text} ({url})")

    def goto(self, path):
        self.tab.goto(self.base + path)

    def login(self, username, password=None):
        """Log in through the form, typing like a person."""
        self.goto("/login/")
        self.tab.fill("#id_username", username)
        self.tab.fill("#id_password", password or username)
        self.tab.click("button[type=submit]")
        self.tab.wait_for_url(lambda url: "/login/" not in url)

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.tab.screenshot(path=str(path))
        return path

    def canvas_variance(self, selector):
        """Return the pixel variance of an element's rendering (0 for a blank canvas)."""
        from PIL import Image

        png = self.tab.locator(selector).screenshot()
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
        return float(pixels.var())

    def assert_no_js_errors(self):
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


@pytest.fixture
def page(browser, live_server):
    p = Page(browser, live_server)
    yield p
    if p.errors or os.environ.get("UI_DEBUG"):
        print("\nBrowser console:", *p.log, *p.errors, sep="\n  ")
        p.screenshot("last-teardown")
    p.context.close()
