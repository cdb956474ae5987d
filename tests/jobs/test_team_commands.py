"""``/unassigned`` and ``/my`` on the Jira and Telegram look-alikes: the unassigned issues as cards with
Take, critical first and marked; a member's own issues; anyone else refused."""

from __future__ import annotations

from typing import Any

from jobs.context import Context
from jobs.team_cards import handle_press_with
from jobs.team_commands import NOT_MEMBER, WRONG_CHAT, handle_command_with
from mappers.telegram_commands import StaffCommand, staff_command
from tests.jobs.routing.conftest import create_source
from tests.jobs.team import ANN, EVE, NOW, TEAM_CHAT, chat, new_issue, press, user_acts


def write(team: Context, person: dict[str, Any], text: str, chat_id: int) -> StaffCommand:
    """``person`` writes ``text`` in ``chat_id`` of the look-alike; the command the hook would queue."""
    command = staff_command(user_acts(team, "write", {"chat_id": chat_id, "text": text, "from": person}))
    assert command is not None
    return command


def bot_messages(team: Context, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in chat(team, chat_id) if m["side"] == "bot"]


def test_unassigned_lists_cards_critical_first_each_with_take(team: Context) -> None:
    calm, _ = new_issue(team, "The office plant needs water")  # the hub's: its card says who asked
    urgent = create_source(team, "The payment gateway is down", priority="Highest").key
    mine = create_source(team, "Already being handled", priority="Highest").key
    team.tracker("jira").assign(mine, "jsmith")
    before = len(bot_messages(team, TEAM_CHAT))
    command = write(team, ANN, "/unassigned@TrackerHubBot", TEAM_CHAT)
    assert handle_command_with(team, command, NOW) == "listed"
    assert handle_command_with(team, command, NOW) == "listed"  # a retried job sends nothing twice
    header, first, second = bot_messages(team, TEAM_CHAT)[before:]
    assert header["text"] == "Without an assignee: 2 issue(s), 1 critical"
    assert first["text"].startswith(f"🔴 {urgent}: The payment gateway is down\npriority: Highest")
    assert second["text"].startswith(f"{calm}: The office plant needs water")
    assert "\nFrom " in second["text"] and mine not in header["text"] + first["text"] + second["text"]
    assert [b["text"] for b in first["buttons"]][0] == "Take"
    assert handle_press_with(team, press(team, first, ANN), NOW) == "taken"
    assert team.tracker("jira").get_state(urgent).assignee == "jsmith"


def test_my_lists_the_members_open_issues(team: Context) -> None:
    key = create_source(team, "The VPN drops every hour", priority="Medium").key
    create_source(team, "Someone else's problem", priority="Medium")
    team.tracker("jira").assign(key, "jsmith")
    assert handle_command_with(team, write(team, ANN, "/my", ANN["id"]), NOW) == "listed"
    (answer,) = bot_messages(team, ANN["id"])
    lines = answer["text"].splitlines()
    assert lines[0] == "Your open issues (jsmith): 1"
    assert lines[1].startswith(f"{key} [To Do] The VPN drops every hour ") and len(lines) == 2


def test_anyone_else_is_refused_and_no_list_goes_to_a_customers_group(team: Context) -> None:
    create_source(team, "Internal: the database migration plan")
    assert handle_command_with(team, write(team, EVE, "/unassigned", EVE["id"]), NOW) == "refused"
    assert [m["text"] for m in bot_messages(team, EVE["id"])] == [NOT_MEMBER]
    customers_group = -100999
    assert handle_command_with(team, write(team, ANN, "/my", customers_group), NOW) == "wrong-chat"
    assert [m["text"] for m in bot_messages(team, customers_group)] == [WRONG_CHAT]
