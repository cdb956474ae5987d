"""The routing page in a real chromium (Playwright, phone-sized) against `trackerhub up`'s processes and
the Jira look-alike: open the issue's signed link, choose the hardware route, see the autofill preview,
fill the one field autofill cannot ("Spare parts"), press Route, and see the result page give the new
HW key, which the look-alike holds with the value filled in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from config.settings import Settings
from mappers.route_links import route_link_token
from tests.conftest import free_port
from tests.e2e.test_up import JIRA_AUTH, start_up, stop_up, wait_started

pytestmark = pytest.mark.e2e

SECRET = "e2e-route-secret"
SPARE_PARTS = "Fuser kit RM1-1082"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var_dir = tmp_path_factory.mktemp("var")
    process = start_up(
        var_dir, free_port(), HUB_SECRET_KEY=SECRET, HUB_LOG_LEVEL="WARNING", HUB_SANDBOX="jira"
    )
    yield wait_started(process, var_dir)
    stop_up(process)


def create_source(hub: dict[str, Any]) -> str:
    """A SUP issue about a LaserJet (the look-alike's "Equipment model" option 10200), priority High."""
    created = requests.post(
        f"{hub['jira_url']}/rest/api/2/issue",
        json={
            "fields": {
                "project": {"key": "SUP"},
                "issuetype": {"name": "Task"},
                "summary": "Printer in room 4 is smoking",
                "description": "It smells of toner.",
                "priority": {"name": "High"},
                "customfield_10050": {"id": "10200"},
            }
        },
        headers=JIRA_AUTH,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def test_a_coordinator_routes_an_issue_from_a_phone(hub: dict[str, Any], phone: Page, tmp_path: Path) -> None:
    key = create_source(hub)
    link = f"{hub['hub_url']}/route/{route_link_token(Settings(HUB_SECRET_KEY=SECRET), 'jira', key)}"

    phone.goto(link)
    expect(phone.get_by_role("heading")).to_contain_text(f"Where should {key} go?")
    phone.get_by_role("link", name=re.compile("Hardware team")).click()

    expect(phone.get_by_role("heading")).to_have_text(f"{key} → Hardware team")
    rows = phone.locator("tbody tr")
    expect(rows.filter(has_text="Priority")).to_contain_text("copied from priority")
    expect(rows.filter(has_text="Component/s")).to_contain_text("LaserJet 4250→Printers")
    expect(phone.locator("form input:not([type=hidden]), form select")).to_have_count(1)
    phone.get_by_label(re.compile("Spare parts")).fill(SPARE_PARTS)
    phone.screenshot(path=str(tmp_path / "preview.png"), full_page=True)
    phone.get_by_role("button", name="Route").click()

    expect(phone).to_have_url(re.compile(r"/requests/[^/]+$"))
    target = phone.locator("#target")
    expect(target).to_have_text(re.compile(r"^HW-\d+$"), timeout=90_000)
    phone.screenshot(path=str(tmp_path / "result.png"), full_page=True)
    new_key = target.inner_text()

    issue = requests.get(f"{hub['jira_url']}/rest/api/2/issue/{new_key}", headers=JIRA_AUTH, timeout=10)
    assert issue.status_code == 200
    fields = issue.json()["fields"]
    assert fields["customfield_10040"] == SPARE_PARTS
    assert fields["summary"] == "Printer in room 4 is smoking"
    assert fields["project"]["key"] == "HW"
