"""A team chat on the look-alikes for the team bot's job tests: a context with a team chat, Ann and Bob
linked to Jira users, and new issues with their cards."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import requests
from rq import Queue

from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.queues import REPLY_QUEUE
from jobs.team_cards import post_cards_with
from mappers.models import InboundMessage
from mappers.team_cards import Press, parse_press
from store import journal, staff
from tests.jobs.conftest import journal_message
from tests.mappers.factories import telegram_message
from tests.sandboxes import CONTROL

TEAM_CHAT = -100200300
NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
ANN = {"id": 501, "first_name": "Ann"}
BOB = {"id": 502, "first_name": "Bob"}
EVE = {"id": 777, "first_name": "Eve"}  # a customer
CUSTOMERS = itertools.count(9001)  # each new issue comes from a chat of its own


def team_context(ctx: Context) -> Context:
    """The worker context with a team chat, Ann linked as jsmith and Bob as iivanov (Jira users)."""
    update = {"TELEGRAM_TEAM_CHAT_ID": str(TEAM_CHAT), "HUB_SECRET_KEY": "cards-secret-key-" + "x" * 16}
    wired = build_context(ctx.settings.model_copy(update=update))
    for person, account in ((ANN, "jsmith"), (BOB, "iivanov")):
        code = staff.create_invite(wired.engine, "jira", account, dt.timedelta(days=1), NOW)
        staff.redeem(wired.engine, code, person["id"], person["first_name"], None, NOW)
    return wired


def new_issue(team: Context, text: str, message: InboundMessage | None = None) -> tuple[str, dict[str, Any]]:
    """A new customer's message delivered (a Telegram one unless ``message``); its issue key and the
    card the team chat shows for it."""
    message_id = journal_message(team, message or telegram_message(text, chat_id=next(CUSTOMERS)))
    assert deliver_with(team, message_id) == "delivered"
    assert f"post_cards-{message_id}" in Queue(REPLY_QUEUE, connection=team.redis).job_ids
    assert post_cards_with(team, message_id) == 1
    assert post_cards_with(team, message_id) == 0  # a retried job posts no second card
    key = journal.get(team.engine, message_id).issue_key  # type: ignore[union-attr]
    return str(key), chat(team)[-1]


def chat(team: Context, chat_id: int = TEAM_CHAT) -> list[dict[str, Any]]:
    url = f"{team.settings.TELEGRAM_API_URL}/_sandbox/chats/{chat_id}.json"
    return requests.get(url, headers=CONTROL, timeout=5).json()  # type: ignore[no-any-return]


def press(team: Context, card: dict[str, Any], person: dict[str, Any], data: str | None = None) -> Press:
    """``person`` presses Take on ``card`` in the look-alike; the press as the hub's webhook gets it."""
    body = {
        "chat_id": TEAM_CHAT,
        "message_id": card["message_id"],
        "data": data or card["buttons"][0]["callback_data"],
        "from": person,
    }
    found = parse_press(user_acts(team, "press", body))
    assert found is not None
    return found


def user_acts(team: Context, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """A person writes or presses (``/_sandbox/users/<action>``) on the look-alike: the update the hub's
    webhook gets."""
    response = requests.post(
        f"{team.settings.TELEGRAM_API_URL}/_sandbox/users/{action}", json=body, headers=CONTROL, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()["update"]  # type: ignore[no-any-return]


def answers(team: Context) -> dict[int, dict[str, Any]]:
    presses = requests.get(
        f"{team.settings.TELEGRAM_API_URL}/_sandbox/presses", headers=CONTROL, timeout=5
    ).json()
    return {p["from"]["id"]: p["answer"] for p in presses}
