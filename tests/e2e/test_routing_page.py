"""The routing page in a real chromium (Playwright, phone-sized) against `trackerhub up`'s processes and
the Jira look-alike: a form submission becomes an issue with a "Route" link; open that link, choose the hardware route, see the autofill preview,
fill the one field autofill cannot ("Spare parts"), press Route, and see the result page give the new
HW key, which the look-alike holds with the value filled in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser import save_screenshot
from tests.conftest import free_port
from tests.e2e.test_up import JIRA_AUTH, start_up, stop_up, wait_delivered, wait_started

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


def issue_from_the_form(hub: dict[str, Any]) -> str:
    """A customer's form submission becomes a SUP issue; an engineer then sets its priority and the
    equipment (the look-alike's "Equipment model" option 10200, a LaserJet 4250)."""
    sent = requests.post(
        f"{hub['hub_url']}/hooks/forms/support",
        json={
            "name": "Dana",
            "email": "dana@customer.example",
            "subject": "Printer in room 4 is smoking",
            "message": "It smells of toner.",
        },
        timeout=10,
    )
    assert sent.status_code == 202, sent.text
    key = str(wait_delivered(hub, sent.json()["id"])["issue_key"])
    edited = requests.put(
        f"{hub['jira_url']}/rest/api/2/issue/{key}",
        json={"fields": {"priority": {"name": "High"}, "customfield_10050": {"id": "10200"}}},
        headers=JIRA_AUTH,
        timeout=10,
    )
    assert edited.status_code == 204, edited.text
    return key


def route_link_on(hub: dict[str, Any], key: str) -> str:
    """The URL of the "Route" remote link the hub put on the issue it created."""
    links = requests.get(
        f"{hub['jira_url']}/rest/api/2/issue/{key}/remotelink", headers=JIRA_AUTH, timeout=10
    )
    assert links.status_code == 200, links.text
    [url] = [link["object"]["url"] for link in links.json() if link["object"]["title"].startswith("Route")]
    return str(url)


def test_a_coordinator_routes_an_issue_from_a_phone(hub: dict[str, Any], phone: Page) -> None:
    key = issue_from_the_form(hub)
    link = route_link_on(hub, key)
    assert link.startswith(f"{hub['hub_url']}/route/")

    phone.goto(link)
    expect(phone.get_by_role("heading")).to_contain_text(f"Where should {key} go?")
    phone.get_by_role("link", name=re.compile("Hardware team")).click()

    expect(phone.get_by_role("heading")).to_have_text(f"{key} → Hardware team")
    rows = phone.locator("tbody tr")
    expect(rows.filter(has_text="Priority")).to_contain_text("copied from priority")
    expect(rows.filter(has_text="Component/s")).to_contain_text("LaserJet 4250→Printers")
    expect(phone.locator("form input:not([type=hidden]), form select")).to_have_count(1)
    phone.get_by_label(re.compile("Spare parts")).fill(SPARE_PARTS)
    save_screenshot(phone, "routing-page-preview")
    phone.get_by_role("button", name="Route").click()

    expect(phone).to_have_url(re.compile(r"/requests/[^/]+$"))
    target = phone.locator("#target")
    expect(target).to_have_text(re.compile(r"^HW-\d+$"), timeout=90_000)
    save_screenshot(phone, "routing-page-result")
    new_key = target.inner_text()

    issue = requests.get(f"{hub['jira_url']}/rest/api/2/issue/{new_key}", headers=JIRA_AUTH, timeout=10)
    assert issue.status_code == 200
    fields = issue.json()["fields"]
    assert fields["customfield_10040"] == SPARE_PARTS
    assert "Printer in room 4 is smoking" in fields["summary"]
    assert fields["project"]["key"] == "HW"
