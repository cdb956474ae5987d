"""A route's button on a card, on the Jira and Telegram look-alikes: a member routes the issue from the
chat (once, however often it is pressed) and the card says where it went; a route that asks for a field
answers with the routing page's link for that route; a customer's press is refused."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jobs.context import Context
from jobs.routing.job import run_route_with
from jobs.team_cards import NOT_STAFF, handle_press_with
from mappers.route_links import read_route_link
from sandbox.server import RunningSandbox
from store.db import route_requests
from tests.jobs.conftest import add_fault
from tests.jobs.routing.conftest import issue_json
from tests.jobs.team import ANN, EVE, NOW, answers, chat, new_issue, press


def route_button(card: dict[str, Any], label: str) -> str:
    return str(next(b["callback_data"] for b in card["buttons"] if b["text"] == f"→ {label}"))


def message(team: Context, message_id: int) -> dict[str, Any]:
    return next(m for m in chat(team) if m["message_id"] == message_id)


def requests_for(team: Context, key: str) -> list[Any]:
    query = sa.select(route_requests).where(route_requests.c.source_key == key)
    with team.engine.connect() as conn:
        return list(conn.execute(query))


def test_a_route_pressed_twice_routes_once_as_the_presser(
    team: Context, jira_sandbox: RunningSandbox
) -> None:
    key, card = new_issue(team, "The reporting database is slow")
    data = route_button(card, "Database team")
    assert handle_press_with(team, press(team, card, ANN, data), NOW) == "routing"
    assert answers(team)[ANN["id"]]["text"] == f"Routing {key} to Database team…"
    assert handle_press_with(team, press(team, card, ANN, data), NOW) == "routing"  # a double press
    (request,) = requests_for(team, key)
    assert request.via == "bot" and request.requested_by == "Ann (jira jsmith, Telegram 501)"  # the audit

    ended = run_route_with(team, request.id)
    assert ended is not None and ended.status == "done" and ended.target_key
    assert issue_json(jira_sandbox, ended.target_key)["fields"]["project"]["key"] == "DB"
    edited = message(team, card["message_id"])
    assert edited["edited"]
    assert edited["text"].endswith(
        f"Routed to Database team by Ann (jira jsmith, Telegram 501): {ended.target_key} {ended.target_url}"
    )
    assert edited["reply_markup"]["inline_keyboard"] == [
        [{"text": f"Open {ended.target_key}", "url": ended.target_url}]
    ]


def test_a_route_that_asks_a_field_answers_with_its_routing_page(team: Context) -> None:
    key, card = new_issue(team, "The fuser is broken")
    assert (
        handle_press_with(team, press(team, card, ANN, route_button(card, "Hardware team")), NOW) == "asked"
    )
    assert requests_for(team, key) == []
    asked = chat(team)[-1]
    assert asked["reply_to_message_id"] == card["message_id"]
    assert asked["text"] == "Hardware team needs Spare parts: fill in on the routing page."
    (button,) = asked["reply_markup"]["inline_keyboard"][0]
    token, _, query = button["url"].rpartition("/route/")[2].partition("?")
    assert query == "route=hardware"
    assert read_route_link(team.settings, token) == ("jira", key)  # signed as the page's links are


def test_a_customer_pressing_a_route_is_refused(team: Context) -> None:
    key, card = new_issue(team, "Route me somewhere")
    data = route_button(card, "Database team")
    assert handle_press_with(team, press(team, card, EVE, data), NOW) == "refused"
    assert answers(team)[EVE["id"]] == {"text": NOT_STAFF, "show_alert": True, "url": None}
    assert requests_for(team, key) == []
    assert chat(team)[-1]["edited"] is False


def test_a_route_the_tracker_refuses_is_told_under_the_card(
    team: Context, jira_sandbox: RunningSandbox
) -> None:
    key, card = new_issue(team, "Move me, if Jira lets you")
    assert (
        handle_press_with(team, press(team, card, ANN, route_button(card, "Database team")), NOW) == "routing"
    )
    add_fault(jira_sandbox, status=400, count=1, methods=["POST"], paths=["/rest/api/2/issue"])
    (request,) = requests_for(team, key)
    ended = run_route_with(team, request.id)
    assert ended is not None and ended.status == "failed"
    told = chat(team)[-1]
    assert told["reply_to_message_id"] == card["message_id"]
    assert told["text"].startswith(f"Routing {key} to Database team failed: ")
    assert message(team, card["message_id"])["edited"] is False  # the buttons stay: try again, or elsewhere
