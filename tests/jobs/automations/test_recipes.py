"""The shipped recipes (config/hub.yaml's automations:) end to end on the Jira sandbox, with the clock passed
in: the quiet-customer nudge and its auto-resolve, a contract-end task 30 days before the date, a stuck
issue moved back, a customer's reply moving the issue on and telling the assignee."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from connector.base import Tracker
from connector.types import IssueDraft, Target
from jobs.automations.events import fire_for_event
from jobs.automations.model import latest_due, next_due
from jobs.automations.rules import rules_of
from jobs.automations.run import run_firing_with
from jobs.automations.scan import scan_rule
from jobs.context import Context, build_context
from mappers.calendar import add_duration, business_calendar
from mappers.tracker_events import parse_jira_webhook
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.test_engine import marked_comments
from tests.jobs.conftest import sandbox_issues
from tests.jobs.test_events import comment_webhook, open_issue
from tests.mappers.factories import telegram_message
from tests.sandboxes import CONTROL

TEAM_CHAT = "-100999"


def team_ctx(ctx: Context) -> Context:
    """The worker context with the team's chat set, as the shipped recipes expect."""
    return build_context(ctx.settings.model_copy(update={"TELEGRAM_TEAM_CHAT_ID": TEAM_CHAT}))


def sent(telegram: str) -> list[dict[str, Any]]:
    return requests.get(f"{telegram}/_sandbox/sent", headers=CONTROL, timeout=5).json()  # type: ignore[no-any-return]


def fire(ctx: Context, name: str, now: dt.datetime) -> list[str]:
    """Scan the shipped rule ``name`` at ``now`` and run what it stored; the issues it fired for."""
    rules = rules_of(ctx)
    result = scan_rule(ctx, rules[name], now)
    stored = [f for f in firings.of_rule(ctx.engine, name) if f.id in result.new]
    for firing in stored:
        assert run_firing_with(ctx, firing.id, now, rules) == "done", firings.get(ctx.engine, firing.id)
    return [f.issue_key for f in stored]


def scans_around(
    ctx: Context, name: str, moment: dt.datetime
) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """The scheduler's scans of rule ``name`` just before ``moment`` and the two after it: two calls of
    ``fire`` within one schedule tick would make the second a "not due" no-op that proves nothing."""
    schedule = rules_of(ctx)[name].schedule
    assert schedule is not None
    before = latest_due(schedule, moment - dt.timedelta(seconds=1))
    first = next_due(schedule, moment)
    assert before is not None and first is not None
    second = next_due(schedule, first)
    assert second is not None
    return before, first, second


def test_quiet_customer_is_nudged_after_two_business_days_then_closed_after_three_more(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ctx, telegram_message("the printer jams"))
    ctx.tracker("jira").transition(key, "Waiting for customer")
    nudged_then_closed(ctx, ctx.tracker("jira"), key, telegram_sandbox)


def nudged_then_closed(ctx: Context, tracker: Tracker, key: str, telegram_sandbox: str) -> None:
    """The shipped quiet-customer on ``key``, waiting for the customer (chat 42) since their message: not
    before 2 business days, then the nudge once, then 3 business days later the closing notice and the
    issue resolved, once."""
    last = firings.last_customer_messages(ctx.engine, [key])[key]
    calendar = business_calendar(ctx.config.calendar("default"))
    nudge_at = add_duration(calendar, last, ctx.config.automation("quiet-customer").trigger.no_customer_reply)
    close_at = add_duration(calendar, nudge_at, ctx.config.automation("quiet-customer").followup.after)  # type: ignore[union-attr]
    before, first, second = scans_around(ctx, "quiet-customer", nudge_at)

    assert fire(ctx, "quiet-customer", before) == []
    assert fire(ctx, "quiet-customer", first) == [key]
    assert fire(ctx, "quiet-customer", second) == []  # once per silence
    assert fire(ctx, "quiet-customer.followup", first) == []
    [nudge] = sent(telegram_sandbox)
    assert nudge["chat_id"] == 42 and "help" in nudge["text"].lower()

    _, first, second = scans_around(ctx, "quiet-customer.followup", close_at)
    assert fire(ctx, "quiet-customer.followup", first) == [key]
    assert fire(ctx, "quiet-customer.followup", second) == []
    [_, closing] = sent(telegram_sandbox)
    assert closing["chat_id"] == 42 and closing["text"] != nudge["text"]
    assert tracker.get_state(key).done


def test_contract_end_opens_a_task_thirty_days_before_the_date_once(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    tracker = ctx.tracker("jira")
    today = dt.date(2027, 3, 1)
    soon = tracker.create_issue(
        IssueDraft(
            Target("jira", "SUP", "Task"),
            "ACME contract",
            "b",
            "c1",
            custom_fields={"customfield_10030": "2027-03-21"},
        )
    ).key
    tracker.create_issue(
        IssueDraft(
            Target("jira", "SUP", "Task"),
            "Later contract",
            "b",
            "c2",
            custom_fields={"customfield_10030": "2027-06-01"},
        )
    )
    now = dt.datetime.combine(today, dt.time(9), dt.UTC)
    assert fire(ctx, "contract-end", now) == [soon]
    assert fire(ctx, "contract-end", now + dt.timedelta(days=1)) == []
    [task] = [i for i in sandbox_issues(jira_sandbox) if i["fields"]["summary"].startswith("Contract ends")]
    assert task["fields"]["summary"] == "Contract ends 2027-03-21: ACME contract"


def test_a_customer_reply_moves_the_issue_out_of_waiting_and_tells_the_assignee(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    tctx = team_ctx(ctx)
    key = open_issue(tctx, telegram_message("still broken"))
    tracker = tctx.tracker("jira")
    tracker.assign(key, "jsmith")
    tracker.transition(key, "Waiting for customer")
    # the customer's answer, written on the issue by the hub itself: an own, public comment
    comment_id = tracker.add_comment(key, "Ann Lee wrote: it is still broken", "hub-reply-1")
    comment = tracker.get_comment(key, comment_id)
    event = parse_jira_webhook(
        comment_webhook(
            key, {"id": comment.id, "body": comment.body, "updated": "2027-03-01T10:00:00.000+0000"}
        )
    )
    for _ in range(3):
        fire_for_event(tctx, tracker, event, own=True)
    [firing] = firings.of_rule(tctx.engine, "customer-replied")
    assert run_firing_with(tctx, firing.id) == "done"
    state = tracker.get_state(key)
    assert state.status == "In Progress"
    mentions = [c.body for c in tracker.comments(key) if "[~jsmith]" in c.body]
    assert len(mentions) == 1 and f"The customer replied on {key}" in mentions[0]
    assert [m["chat_id"] for m in sent(telegram_sandbox)].count(int(TEAM_CHAT)) == 1


def test_a_stuck_issue_goes_back_to_the_queue_with_a_task_once(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    tracker = ctx.tracker("jira")
    key = tracker.create_issue(IssueDraft(Target("jira", "SUP", "Task"), "Stuck one", "b", "s1")).key
    tracker.transition(key, "In Progress")
    created = tracker.get_state(key).created
    assert created is not None
    calendar = business_calendar(ctx.config.calendar("default"))
    due = add_duration(calendar, created, ctx.config.automation("stuck").trigger.in_status_longer)  # type: ignore[arg-type]
    assert fire(ctx, "stuck", due - dt.timedelta(hours=1)) == []
    assert fire(ctx, "stuck", due + dt.timedelta(minutes=1)) == [key]
    assert fire(ctx, "stuck", due + dt.timedelta(days=3)) == []
    assert tracker.get_state(key).status == "To Do"
    assert [i["fields"]["summary"] for i in sandbox_issues(jira_sandbox)].count(
        f"Prepare {key}: stuck for 20 days"
    ) == 1
    assert marked_comments(ctx, key) == []  # the notify went to no one: no team chat is set
