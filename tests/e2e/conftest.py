"""End-to-end fixtures: a real chromium and a phone-sized page in it (tests/browser.py)."""

from tests.browser import browser, phone

__all__ = ["browser", "phone"]
