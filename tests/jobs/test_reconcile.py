"""Polling reconciliation on the Jira look-alike: an engineer's answer whose webhook never came reaches
the customer; a webhook that comes after its comment was reconciled (or before) acts once."""

from __future__ import annotations

import datetime as dt

from jobs.context import Context
from jobs.deliver import deliver_with
from jobs.reconcile import reconcile_tracker
from sandbox.server import RunningSandbox
from store import journal
from tests.jobs.test_events import (
    comment_webhook,
    ectx,
    engineer_comment,
    open_issue,
    post_hook,
    sent_messages,
)
from tests.mappers.factories import telegram_message

__all__ = ["ectx"]  # the fixture, shared with the webhook tests


def pending_events(ctx: Context) -> list[str]:
    """Run the event jobs reconciliation queued; what each ended in."""
    due = journal.due(ctx.engine, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    return [deliver_with(ctx, mid) for mid in due]


def test_an_answer_whose_webhook_never_came_reaches_the_customer(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("printer on fire", chat_id=4242))
    start = dt.datetime.now(dt.UTC)
    assert reconcile_tracker(ectx, "jira", start) == 0  # the first pass records where it starts
    engineer_comment(jira_sandbox, key, "/reply Switch it off and on again.")
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=2)) == 1
    assert pending_events(ectx) == ["delivered"]
    assert [m["text"] for m in sent_messages(telegram_sandbox) if m["chat_id"] == 4242] == [
        "Switch it off and on again."
    ]
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=4)) == 0  # known by its id now


def test_a_late_webhook_for_a_reconciled_comment_does_nothing_twice(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("scanner jams", chat_id=4343))
    start = dt.datetime.now(dt.UTC)
    reconcile_tracker(ectx, "jira", start)
    comment = engineer_comment(jira_sandbox, key, "/reply We are on it.")
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=2)) == 1
    assert pending_events(ectx) == ["delivered"]
    late = post_hook(ectx, comment_webhook(key, comment))
    assert late.status_code == 202
    assert deliver_with(ectx, late.get_json()["id"]) == "ignored"
    assert [m["text"] for m in sent_messages(telegram_sandbox) if m["chat_id"] == 4343] == ["We are on it."]


def test_a_comment_its_webhook_brought_is_not_journaled_again(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("mouse broken", chat_id=4444))
    start = dt.datetime.now(dt.UTC)
    reconcile_tracker(ectx, "jira", start)
    comment = engineer_comment(jira_sandbox, key, "/reply A new mouse is on its way.")
    hook = post_hook(ectx, comment_webhook(key, comment))
    assert deliver_with(ectx, hook.get_json()["id"]) == "delivered"
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=2)) == 0
    assert [m["text"] for m in sent_messages(telegram_sandbox) if m["chat_id"] == 4444] == [
        "A new mouse is on its way."
    ]
