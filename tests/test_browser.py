"""The browser the page tests drive is Debian's chromium, found on PATH, and its absence is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.browser import ChromiumMissing, chromium_executable


def test_a_machine_without_chromium_is_told_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ChromiumMissing, match="make setup"):
        chromium_executable(search_path=str(tmp_path))


def test_make_setup_installed_chromium_and_playwright_drives_it(browser: Browser) -> None:
    page = browser.new_page()
    page.set_content("<p id=x>привет</p>")
    assert page.inner_text("#x") == "привет"
    assert browser.version.split(".")[0].isdigit()
    page.close()
