"""End-to-end fixtures: a real chromium (tests/browser.py) and a phone-sized page in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import MOBILE, ChromiumMissing, chromium


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
    """A page in a fresh phone-sized context that speaks English."""
    context = browser.new_context(locale="en-US", **MOBILE)
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()
