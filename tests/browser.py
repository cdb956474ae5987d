"""A real browser for the page tests: Debian's ``chromium`` package driven by Playwright.

Playwright's own browser download cannot be used here, so the browser is the one `make setup` installs
(the Makefile's system-deps step), launched by its path. A missing browser fails the test that wanted
it, never skips it: the routing page's browser test is part of `make test`. The fixtures ``browser``
(one per test session) and ``phone`` are a plugin of tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

NAMES = ("chromium", "chromium-browser")  # Debian's package installs /usr/bin/chromium
MOBILE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


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
    context = browser.new_context(locale="en-US", **MOBILE)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"
