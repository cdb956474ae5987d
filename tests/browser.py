"""A real browser for the page tests: Debian's ``chromium`` package driven by Playwright.

Playwright's own browser download cannot be used here, so the browser is the one `make setup` installs
(the Makefile's system-deps step), launched by its path. A missing browser fails the test that wanted
it, never skips it: the routing page's browser test is part of `make test`. The fixtures ``browser``
(one per test session), ``phone`` and ``laptop`` are a plugin of tests/conftest.py;
:func:`save_screenshot` keeps a page's picture in docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

NAMES = ("chromium", "chromium-browser")  # Debian's package installs /usr/bin/chromium
MOBILE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LAPTOP = {"viewport": {"width": 1280, "height": 800}}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"  # shown in the README


class ChromiumMissing(RuntimeError):
    """No chromium on PATH."""


def chromium_executable(search_path: str | None = None) -> str:
    """The chromium binary on ``search_path`` (default: PATH); :class:`ChromiumMissing` saying how to get it."""
    for name in NAMES:
        found = shutil.which(name, path=search_path)
        if found:
            return found
    raise ChromiumMissing(
        "Debian's chromium is not installed, and the browser tests need it: run `make setup` "
        "(its system-deps step apt-installs it) or `apt-get install chromium`"
    )


def launch_arguments() -> list[str]:
    """Chromium's flags here: no sandbox as root (it refuses to start otherwise), /tmp not /dev/shm."""
    arguments = ["--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"]
    if os.geteuid() == 0:
        arguments.append("--no-sandbox")
    return arguments


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless chromium for the duration of the block."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=launch_arguments()
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium under Playwright; a missing browser FAILS the test (never a skip)."""
    try:
        with chromium() as running:
            yield running
    except ChromiumMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A page in a fresh phone-sized context that speaks English; the page's console errors fail it."""
    with watched_page(browser, MOBILE) as page:
        yield page


@pytest.fixture
def laptop(browser: Browser) -> Iterator[Page]:
    """The same on a laptop-sized screen (1280 × 800)."""
    with watched_page(browser, LAPTOP) as page:
        yield page


@contextmanager
def watched_page(browser: Browser, screen: dict[str, Any]) -> Iterator[Page]:
    """A page in a fresh English context of that screen; an error in the page's console fails the test."""
    context = browser.new_context(locale="en-US", **screen)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


def save_screenshot(page: Page, name: str) -> Path:
    """The whole page as it is now, saved as ``docs/screenshots/<name>.png`` (the README shows them);
    every browser test that keeps a screenshot saves it through here."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
