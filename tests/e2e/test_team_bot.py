"""End to end, the team's side of Telegram through `trackerhub up` (its own node, with a team chat): a
customer writes on the Telegram look-alike's page; the issue's card appears in the team chat; a member
linked through `trackerhub staff invite` presses Take and the Jira issue is assigned to them, the card
says so; her reply to the card reaches the customer's chat; the engineer resolves the issue, the customer
is asked for a rating (no quiet period here), presses 1 and the supervisors' chat is alerted. Another
customer's card is routed with its route button and says where it went; a customer pressing Take on
another card is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import free_port, wait_for
from tests.e2e.test_up import JIRA_AUTH, TOKEN, run_cli, start_up, stop_up, wait_started
from tests.sandboxes import CONTROL

pytestmark = pytest.mark.e2e

TEAM_CHAT = -100500600
SUPERVISORS = -100500700


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var_dir = tmp_path_factory.mktemp("var")
    process = start_up(
        var_dir,
        free_port(),
        HUB_INBOUND_TOKEN=TOKEN,
        HUB_EMAIL_FROM="support@hub.example.com",
        HUB_LOG_LEVEL="WARNING",
        HUB_SANDBOX="jira",
        TELEGRAM_TEAM_CHAT_ID=str(TEAM_CHAT),
        TELEGRAM_SUPERVISORS_CHAT_ID=str(SUPERVISORS),
        HUB_CSAT_QUIET_MINUTES="0",
    )
    yield wait_started(process, var_dir)
    stop_up(process)


@pytest.fixture(scope="module")
def ann(hub: dict[str, Any]) -> dict[str, Any]:
    """Ann, linked to the Jira account jsmith through `trackerhub staff invite` opened in Telegram."""
    link = run_cli(hub, "staff", "invite", "jsmith").strip()
    code = link.rsplit("=", 1)[1]
    person = {"id": 8201, "first_name": "Ann"}
    control(hub, "users/start", {"from": person, "payload": code})
    wait_for(lambda: [m for m in chat(hub, 8201) if m["side"] == "bot" and "linked" in m["text"]], 60)
    return person


def control(hub: dict[str, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        f"{hub['telegram_api_url']}/_sandbox/{path}", json=body, headers=CONTROL, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def chat(hub: dict[str, Any], chat_id: int) -> list[dict[str, Any]]:
    url = f"{hub['telegram_api_url']}/_sandbox/chats/{chat_id}.json"
    return requests.get(url, headers=CONTROL, timeout=5).json()  # type: ignore[no-any-return]


def card_for(hub: dict[str, Any], customer_chat: int, text: str) -> tuple[str, dict[str, Any]]:
    """The customer writes ``text``; the issue key and its card in the team chat."""
    control(
        hub,
        "users/write",
        {"chat_id": customer_chat, "text": text, "from": {"id": customer_chat, "first_name": "Eve"}},
    )
    card = wait_for(lambda: next((m for m in chat(hub, TEAM_CHAT) if text in m["text"]), None), 60)
    found = re.match(r"New request (\S+): ", card["text"])
    assert found, card["text"]
    return found.group(1), card


def assignee(hub: dict[str, Any], key: str) -> str | None:
    issue = requests.get(f"{hub['jira_url']}/rest/api/2/issue/{key}", headers=JIRA_AUTH, timeout=5).json()
    found = issue["fields"]["assignee"]
    return found["name"] if found else None


def test_a_customers_message_becomes_a_card_a_linked_member_takes(
    hub: dict[str, Any], ann: dict[str, Any]
) -> None:
    key, card = card_for(hub, 7201, "The kiosk shows a blue screen")
    assert [b["text"] for b in card["buttons"]] == [
        "Take",
        "→ Hardware team",
        "→ Database team",
        "→ Order spare parts",
    ]
    assert any(b["text"] == "Open" for row in card["reply_markup"]["inline_keyboard"] for b in row)

    pressed = control(
        hub,
        "users/press",
        {
            "chat_id": TEAM_CHAT,
            "message_id": card["message_id"],
            "data": card["buttons"][0]["callback_data"],
            "from": ann,
        },
    )
    assert pressed["delivered"] is True
    wait_for(lambda: assignee(hub, key) == "jsmith", 60)
    edited = wait_for(
        lambda: next(
            (m for m in chat(hub, TEAM_CHAT) if m["message_id"] == card["message_id"] and m["edited"]), None
        ),
        60,
    )
    assert edited["text"].endswith("Taken by Ann") and edited["buttons"][0]["text"] == "→ Hardware team"
    presses = requests.get(f"{hub['telegram_api_url']}/_sandbox/presses", headers=CONTROL, timeout=5).json()
    assert [p["answer"]["text"] for p in presses if p["from"]["id"] == 8201] == [f"{key} is assigned to you."]

    # Ann answers from her phone: a reply to the card reaches the customer's chat, and the issue records it
    control(
        hub,
        "users/write",
        {
            "chat_id": TEAM_CHAT,
            "text": "A technician comes at 3 pm.",
            "reply_to_message_id": card["message_id"],
            "from": ann,
        },
    )
    wait_for(
        lambda: [
            m for m in chat(hub, 7201) if m["side"] == "bot" and m["text"] == "A technician comes at 3 pm."
        ],
        60,
    )
    issue = requests.get(f"{hub['jira_url']}/rest/api/2/issue/{key}", headers=JIRA_AUTH, timeout=5).json()
    assert any(
        "A technician comes at 3 pm." in c["body"] and "Ann, from Telegram" in c["body"]
        for c in issue["fields"]["comment"]["comments"]
    )

    # the engineer resolves it: the customer is asked, rates 1, and the supervisors hear of it at once
    resolve(hub, key)
    survey = wait_for(
        lambda: next((m for m in chat(hub, 7201) if m["side"] == "bot" and len(m["buttons"]) == 6), None), 60
    )
    one = next(b["callback_data"] for b in survey["buttons"] if b["text"] == "1")
    customer = {"id": 7201, "first_name": "Eve"}
    control(
        hub,
        "users/press",
        {"chat_id": 7201, "message_id": survey["message_id"], "data": one, "from": customer},
    )
    alert = wait_for(lambda: next((m for m in chat(hub, SUPERVISORS) if key in m["text"]), None), 60)
    assert alert["text"].startswith(f"CSAT 1/5 for {key} (assignee: jsmith)")


def resolve(hub: dict[str, Any], key: str) -> None:
    """An engineer moves ``key`` to a done status in the Jira look-alike (which sends its webhook)."""
    url = f"{hub['jira_url']}/rest/api/2/issue/{key}/transitions"
    transitions = requests.get(url, headers=JIRA_AUTH, timeout=5).json()["transitions"]
    done = next(t for t in transitions if t["to"]["statusCategory"]["key"] == "done")
    requests.post(
        url, json={"transition": {"id": done["id"]}}, auth=("engineer", "pw"), timeout=5
    ).raise_for_status()


def test_a_linked_member_routes_a_card_with_its_button_and_the_card_says_where_it_went(
    hub: dict[str, Any], ann: dict[str, Any]
) -> None:
    _, card = card_for(hub, 7203, "The reports database is slow")
    database = next(b for b in card["buttons"] if b["text"] == "→ Database team")
    control(
        hub,
        "users/press",
        {
            "chat_id": TEAM_CHAT,
            "message_id": card["message_id"],
            "data": database["callback_data"],
            "from": ann,
        },
    )
    routed = wait_for(
        lambda: next(
            (
                m
                for m in chat(hub, TEAM_CHAT)
                if m["message_id"] == card["message_id"] and "Routed to Database team by Ann" in m["text"]
            ),
            None,
        ),
        90,
    )
    assert re.search(r": DB-\d+ http", routed["text"]), routed["text"]


def test_a_customer_pressing_take_is_refused_and_nothing_is_assigned(hub: dict[str, Any]) -> None:
    key, card = card_for(hub, 7202, "Please call me back")
    eve = {"id": 7202, "first_name": "Eve"}
    control(
        hub,
        "users/press",
        {
            "chat_id": TEAM_CHAT,
            "message_id": card["message_id"],
            "data": card["buttons"][0]["callback_data"],
            "from": eve,
        },
    )

    def answered() -> dict[str, Any] | None:
        presses = requests.get(
            f"{hub['telegram_api_url']}/_sandbox/presses", headers=CONTROL, timeout=5
        ).json()
        return next((p["answer"] for p in presses if p["from"]["id"] == 7202 and p["answer"]), None)

    answer = wait_for(answered, 60)
    assert answer["show_alert"] is True and "Only the support team" in answer["text"]
    assert assignee(hub, key) is None
