"""Answers from the phone: a linked member replies to a card, or to a customer's follow-up shown under it,
in the team chat; the customer gets it in
their channel (Telegram or e-mail), the issue records it; `!` is an internal note; nobody else may."""

from __future__ import annotations

import email
import email.policy
import html
from pathlib import Path
from typing import Any

import requests
from rq import Queue

from jobs.context import Context
from jobs.deliver import deliver_with
from jobs.queues import REPLY_QUEUE
from jobs.team_forwards import forward_with
from jobs.team_replies import handle_staff_reply_with
from mappers.team_cards import StaffReply, parse_reply
from sandbox.server import RunningSandbox
from tests.jobs.conftest import journal_message
from tests.jobs.team import ANN, CUSTOMERS, EVE, TEAM_CHAT, chat, new_issue, user_acts
from tests.mappers.factories import email_message, telegram_message
from tests.sandboxes import CONTROL


def reply(team: Context, card: dict[str, Any], person: dict[str, Any], text: str) -> StaffReply:
    """``person`` answers ``card`` in the team chat on the look-alike; the reply as the hook gets it."""
    body = {"chat_id": TEAM_CHAT, "text": text, "reply_to_message_id": card["message_id"], "from": person}
    found = parse_reply(user_acts(team, "write", body))
    assert found is not None
    return found


def comments(jira: RunningSandbox, key: str) -> list[dict[str, Any]]:
    issue = requests.get(
        f"{jira.url}/rest/api/2/issue/{key}", headers={"Authorization": "Bearer t"}, timeout=5
    )
    return issue.json()["fields"]["comment"]["comments"]  # type: ignore[no-any-return]


def customer_chat(team: Context, card: dict[str, Any]) -> list[str]:
    """What the bot sent to customers, as they read it (the HTML the client sent, unescaped)."""
    sent = requests.get(f"{team.settings.TELEGRAM_API_URL}/_sandbox/sent", headers=CONTROL, timeout=5).json()
    return [html.unescape(m["text"]) for m in sent if m["chat_id"] != TEAM_CHAT]


def test_an_answer_reaches_a_telegram_customer_once_and_is_recorded(
    team: Context, jira_sandbox: RunningSandbox
) -> None:
    key, card = new_issue(team, "The scanner jams")
    answer = reply(team, card, ANN, "We are replacing the roller today & will call you <soon>.")
    assert handle_staff_reply_with(team, answer) == "sent"
    assert handle_staff_reply_with(team, answer) == "sent"  # a retried job: nothing twice
    assert customer_chat(team, card).count("We are replacing the roller today & will call you <soon>.") == 1
    recorded = [c["body"] for c in comments(jira_sandbox, key) if "from Telegram" in c["body"]]
    assert len(recorded) == 1
    assert "Ann, from Telegram; sent to the customer" in recorded[0]
    assert "We are replacing the roller today & will call you <soon>." in recorded[0]


def test_an_answer_reaches_an_email_customer(team: Context, mail_sink: tuple[str, Path]) -> None:
    key, card = new_issue(team, "", email_message("Invoice is wrong", "The total is wrong."))
    assert (
        handle_staff_reply_with(team, reply(team, card, ANN, "Fixed: the new invoice is attached.")) == "sent"
    )
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(mail_sink[1].glob("*.eml"))
    ]
    answers = [m for m in mails if "Fixed: the new invoice" in m.get_body(("plain",)).get_content()]  # type: ignore[union-attr]
    assert len(answers) == 1
    assert answers[0]["To"] == "Bob Smith <bob@customer.example>" and key in answers[0]["Subject"]


def test_a_canned_code_is_expanded_for_the_customer(team: Context) -> None:
    key, card = new_issue(team, "The app crashes")
    assert handle_staff_reply_with(team, reply(team, card, ANN, "::logs-request")) == "sent"
    [answer] = [t for t in customer_chat(team, card) if "log" in t.lower() and key in t]
    assert "::" not in answer


def test_an_unknown_code_sends_nothing_and_says_so(team: Context) -> None:
    _, card = new_issue(team, "Printer")
    before = customer_chat(team, card)
    assert handle_staff_reply_with(team, reply(team, card, ANN, "::no-such-answer")) == "canned-failed"
    assert customer_chat(team, card) == before
    assert "nothing was sent" in chat(team)[-1]["text"]


def test_an_exclamation_mark_makes_an_internal_note(team: Context, jira_sandbox: RunningSandbox) -> None:
    key, card = new_issue(team, "Laptop overheats")
    before = customer_chat(team, card)
    assert (
        handle_staff_reply_with(team, reply(team, card, ANN, "! the customer is on the old firmware"))
        == "internal"
    )
    assert customer_chat(team, card) == before
    [note] = [c for c in comments(jira_sandbox, key) if "old firmware" in c["body"]]
    assert note["body"].startswith("the customer is on the old firmware")


def test_somebody_not_linked_cannot_answer(team: Context, jira_sandbox: RunningSandbox) -> None:
    key, card = new_issue(team, "Mouse broken")
    before = customer_chat(team, card)
    assert handle_staff_reply_with(team, reply(team, card, EVE, "I am not staff")) == "refused"
    assert customer_chat(team, card) == before
    assert not [c for c in comments(jira_sandbox, key) if "I am not staff" in c["body"]]
    assert "Only linked members" in chat(team)[-1]["text"]


def test_a_customer_s_follow_up_shows_under_the_card_and_a_reply_to_it_reaches_the_customer(
    team: Context, jira_sandbox: RunningSandbox
) -> None:
    customer = next(CUSTOMERS)
    key, card = new_issue(team, "", telegram_message("The scanner jams", chat_id=customer))
    follow_up = journal_message(team, telegram_message("It jams on every page now", chat_id=customer))
    assert deliver_with(team, follow_up) == "delivered"
    assert f"forward-{follow_up}" in Queue(REPLY_QUEUE, connection=team.redis).job_ids
    assert forward_with(team, follow_up) == 1
    assert forward_with(team, follow_up) == 0  # a retried job shows it once
    shown = chat(team)[-1]
    assert shown["text"] == f"↩ {key} · Ann Lee: It jams on every page now"

    answer = reply(team, shown, ANN, "A technician is on the way.")  # a reply to the follow-up, not the card
    assert handle_staff_reply_with(team, answer) == "sent"
    assert customer_chat(team, card).count("A technician is on the way.") == 1
    assert any("A technician is on the way." in c["body"] for c in comments(jira_sandbox, key))
