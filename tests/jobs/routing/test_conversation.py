"""The customer's conversation follows a moved issue: a Telegram or e-mail follow-up lands on the new
issue, an engineer's reply from the new issue reaches the customer, the routed-away source's close tells
the customer nothing; and the receiving team hears of the issue in its chat and by e-mail, once."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.routing.job import run_route_with
from mappers.models import Sender
from sandbox.server import RunningSandbox
from store import journal, links
from tests.jobs.conftest import journal_message
from tests.jobs.routing.conftest import issue_json, route_now
from tests.jobs.test_events import (
    SECRET,
    comment_webhook,
    engineer_comment,
    open_issue,
    post_hook,
    run_event,
    sent_messages,
    transition_webhook,
)
from tests.mappers.factories import email_message, telegram_message

TEAM_CHAT = "-1009876543210"
TEAM_EMAIL = "hardware-team@example.com"


@pytest.fixture
def ectx(ctx: Context) -> Context:
    """The worker context with tracker webhooks verified, and a receiving team to notify."""
    update = {"JIRA_WEBHOOK_SECRET": SECRET, "TELEGRAM_TEAM_CHAT_ID": TEAM_CHAT, "HUB_TEAM_EMAIL": TEAM_EMAIL}
    return build_context(ctx.settings.model_copy(update=update))


def comments_of(sandbox: RunningSandbox, key: str) -> list[str]:
    return [c["body"] for c in issue_json(sandbox, key, "comment")["fields"]["comment"]["comments"]]


def test_a_telegram_conversation_follows_its_issue_to_the_hardware_team(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    customer = Sender(name="Ann", telegram_user_id=42, language="en")
    source = open_issue(ectx, telegram_message("printer on fire", sender=customer))

    done = route_now(ectx, "database", source)
    target = str(done.target_key)
    assert (done.status, target) == ("done", "DB-1")

    # the customer is told once (the route's `routed` notice); the source's close tells them nothing
    run_event(ectx, post_hook(ectx, transition_webhook(source, "Done", "done")))
    [notice] = [m for m in sent_messages(telegram_sandbox) if m["chat_id"] == 42]
    assert "handed to the team" in notice["text"] and target in notice["text"]

    follow_up = journal_message(ectx, telegram_message("it is still smoking", sender=customer))
    assert deliver_with(ectx, follow_up) == "delivered"
    entry = journal.get(ectx.engine, follow_up)
    assert entry is not None and (entry.issue_key, entry.outcome) == (target, "comment")
    assert any("it is still smoking" in body for body in comments_of(jira_sandbox, target))
    assert not any("it is still smoking" in body for body in comments_of(jira_sandbox, source))

    reply = engineer_comment(jira_sandbox, target, "/reply We are sending a technician.")
    assert run_event(ectx, post_hook(ectx, comment_webhook(target, reply))) == "delivered"
    [_, answer] = [m for m in sent_messages(telegram_sandbox) if m["chat_id"] == 42]
    assert answer["text"] == "We are sending a technician."

    [team] = [m for m in sent_messages(telegram_sandbox) if str(m["chat_id"]) == TEAM_CHAT]
    assert target in team["text"] and "Printer on fire" in team["text"]


def test_an_email_conversation_follows_and_the_team_is_mailed_once(
    ectx: Context, jira_sandbox: RunningSandbox, mail_sink: tuple[str, Path]
) -> None:
    first = email_message("Printer on fire", message_id="<first@customer.example>")
    source = open_issue(ectx, first)

    done = route_now(ectx, "database", source)
    run_route_with(ectx, done.id)  # a repeat notifies nobody again
    target = str(done.target_key)

    follow_up = email_message(
        "Re: Printer on fire",
        message_id="<second@customer.example>",
        email_meta={"in_reply_to": ["<first@customer.example>"], "references": ["<first@customer.example>"]},
    )
    follow_id = journal_message(ectx, follow_up)
    assert deliver_with(ectx, follow_id) == "delivered"
    assert journal.get(ectx.engine, follow_id).issue_key == target  # type: ignore[union-attr]
    link = links.link_for_issue(ectx.engine, target)
    assert link is not None and link.requester_email is not None
    assert links.link_for_issue(ectx.engine, source) is None

    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in mail_sink[1].glob("*.eml")
    ]
    team = [m for m in mails if m["To"] == TEAM_EMAIL]
    assert len(team) == 1 and target in str(team[0]["Subject"])
    [notice] = [m for m in mails if m["To"] == "bob@customer.example"]  # the routed notice, once
    assert str(notice["Subject"]) == f"[{target}] Your request is now {target}"
