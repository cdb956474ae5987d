"""New-issue cards in the team chat and Take, on the Jira and Telegram look-alikes: a linked member takes
an issue from the phone; of two pressing at once one wins; a customer's press is refused."""

from __future__ import annotations

import re
import threading

import requests

from config.team_bot import TeamBot
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.team_cards import NOT_STAFF, STALE, handle_press_with, post_cards_with
from mappers.team_cards import Press
from sandbox.server import RunningSandbox
from store import journal
from tests.jobs.conftest import journal_message
from tests.jobs.team import ANN, BOB, CUSTOMERS, EVE, NOW, TEAM_CHAT, answers, chat, new_issue, press
from tests.mappers.factories import telegram_message


def assignee(jira: RunningSandbox, key: str) -> str | None:
    issue = requests.get(
        f"{jira.url}/rest/api/2/issue/{key}", headers={"Authorization": "Bearer t"}, timeout=5
    )
    found = issue.json()["fields"]["assignee"]
    return found["name"] if found else None


def test_a_card_shows_the_request_and_its_buttons(team: Context) -> None:
    key, card = new_issue(team, "The label printer prints blank pages")
    assert card["side"] == "bot"
    assert card["text"].startswith(f"New request {key}: The label printer prints blank pages")
    # the issue's priority and its first response's working time left (the shipped SLA), read once
    assert re.search(r"\nPriority: Medium · first response: [\w ]+ of working time left$", card["text"])
    keyboard = card["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in keyboard] == [
        ["Take"],
        ["→ Hardware team", "→ Database team"],  # the routes offered for SUP, two a row
        ["→ Order spare parts"],
        ["Route →", "Open"],
    ]
    assert (
        keyboard[1][0]["callback_data"]
        == keyboard[0][0]["callback_data"].replace("take:", "route:") + ":hardware"
    )
    assert keyboard[3][1]["url"].endswith(f"/browse/{key}")
    assert "/route/" in keyboard[3][0]["url"]


def test_take_assigns_edits_the_card_and_answers(team: Context, jira_sandbox: RunningSandbox) -> None:
    key, card = new_issue(team, "Scanner jams")
    assert handle_press_with(team, press(team, card, ANN), NOW) == "taken"
    assert assignee(jira_sandbox, key) == "jsmith"
    edited = chat(team)[-1]
    assert edited["edited"] and edited["text"].endswith("Taken by Ann")
    assert "Take" not in [b["text"] for b in edited["buttons"]]  # the routes, Route → and Open stay
    assert [b["text"] for b in edited["buttons"]][:1] == ["→ Hardware team"]
    assert answers(team)[ANN["id"]]["text"] == f"{key} is assigned to you."


def test_two_people_pressing_take_at_once_one_wins(team: Context, jira_sandbox: RunningSandbox) -> None:
    key, card = new_issue(team, "Two engineers want this one")
    presses = [press(team, card, ANN), press(team, card, BOB)]
    outcomes: dict[int, str] = {}
    barrier = threading.Barrier(2)

    def take(one: Press) -> None:
        barrier.wait()
        outcomes[one.user_id] = handle_press_with(team, one, NOW)

    threads = [threading.Thread(target=take, args=(p,)) for p in presses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["lost", "taken"]
    winner = next(user for user, outcome in outcomes.items() if outcome == "taken")
    loser = next(user for user in outcomes if user != winner)
    assert assignee(jira_sandbox, key) == {ANN["id"]: "jsmith", BOB["id"]: "iivanov"}[winner]
    winner_name = {ANN["id"]: "Ann", BOB["id"]: "Bob"}[winner]
    assert answers(team)[loser]["text"] == f"{key} was taken by {winner_name} first."


def test_a_customer_pressing_take_is_refused(team: Context, jira_sandbox: RunningSandbox) -> None:
    key, card = new_issue(team, "Nobody should take this by accident")
    assert handle_press_with(team, press(team, card, EVE), NOW) == "refused"
    assert assignee(jira_sandbox, key) is None
    assert answers(team)[EVE["id"]] == {"text": NOT_STAFF, "show_alert": True, "url": None}
    assert chat(team)[-1]["edited"] is False


def test_a_press_naming_another_cards_data_is_stale(team: Context, jira_sandbox: RunningSandbox) -> None:
    first_key, first = new_issue(team, "First")
    _, second = new_issue(team, "Second")
    real = press(team, second, ANN)
    forged = Press(
        real.update_id,
        real.query_id,
        real.user_id,
        real.name,
        real.chat_id,
        real.message_id,
        first["buttons"][0]["callback_data"],
    )
    assert handle_press_with(team, forged, NOW) == "stale"
    assert assignee(jira_sandbox, first_key) is None
    assert answers(team)[ANN["id"]]["text"] == STALE


def test_a_chat_that_serves_other_projects_gets_no_card_of_this_one(team: Context) -> None:
    database_team, support_team = -100300300, -100400400
    team_bot = TeamBot.model_validate(
        {
            "chats": [
                TEAM_CHAT,
                {"chat": database_team, "serves": ["DB"]},
                {"chat": support_team, "serves": ["SUP"]},
            ]
        }
    )
    served = build_context(team.settings, team.config.model_copy(update={"team_bot": team_bot}))
    message_id = journal_message(served, telegram_message("The label printer jams", chat_id=next(CUSTOMERS)))
    assert deliver_with(served, message_id) == "delivered"
    assert post_cards_with(served, message_id) == 2  # the team chat (every project) and SUP's, not DB's
    key = journal.get(served.engine, message_id).issue_key  # type: ignore[union-attr]
    assert [key in m["text"] for m in chat(served, support_team)] == [True]
    assert chat(served, database_team) == []
