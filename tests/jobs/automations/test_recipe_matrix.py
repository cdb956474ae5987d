"""The shipped recipes (config/hub.yaml ``automations:``) × {Jira, Kaiten}, each through the real engine with
the shipped rule file, the sandboxes, real Redis and the real database; the clock passed in.

Which test covers which cell (README, "Automations", has the same table):

| recipe | Jira | Kaiten |
|---|---|---|
| quiet-customer | test_recipes.py::test_quiet_customer_is_nudged_after_two_business_days_then_closed_after_three_more | here: test_quiet_customer_on_kaiten_is_nudged_then_closed |
| customer-replied | test_recipes.py::test_a_customer_reply_moves_the_issue_out_of_waiting_and_tells_the_assignee | here: test_a_customer_reply_on_kaiten_moves_the_card_out_of_waiting_and_tells_the_team |
| contract-end | test_recipes.py::test_contract_end_opens_a_task_thirty_days_before_the_date_once | here: test_contract_end_on_kaiten_opens_a_card_thirty_days_before_the_date_once |
| stuck | test_recipes.py::test_a_stuck_issue_goes_back_to_the_queue_with_a_task_once | here: test_a_stuck_card_goes_back_to_the_queue_with_a_task_once |
| next-task | here: test_next_task_on_jira_opens_the_follow_up_with_labels_links_and_assignee | here: test_next_task_on_kaiten_opens_the_follow_up_card_in_the_queue |
| unassigned-digest | here: test_unassigned_digest_on_jira_lists_the_day_old_unassigned_critical_first | here: test_unassigned_digest_on_kaiten_lists_the_cards_without_a_responsible |
| duty-alert | here: test_duty_alert_on_jira_fires_once_from_the_creation_webhook_and_the_poll | here: test_duty_alert_on_kaiten_fires_once_from_the_poll_and_the_card_add_webhook |
| stage-checklist | (au/jira: sub-tasks) | here: test_the_shipped_stage_checklist_appears_once_when_a_card_enters_in_progress |
| checklist-children | (au/events: Kaiten only) | (au/events) |
| linked-fixed | (au/events) | (au/events) |
| sla | (au/sla) | (au/sla) |
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from connector.base import Tracker
from connector.types import IssueDraft, Target
from jobs.automations.events import fire_for_event
from jobs.automations.rules import rules_of
from jobs.automations.run import run_firing_with
from jobs.automations.scan import scan_rule
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from mappers.calendar import add_duration, business_calendar
from mappers.tracker_events import TrackerEvent
from routes import create_app
from sandbox.server import RunningSandbox
from sandbox.store import millis_stamp
from store import automations as firings
from store import journal
from tests.jobs.automations.test_recipes import TEAM_CHAT, fire, nudged_then_closed, sent
from tests.jobs.conftest import sandbox_issues
from tests.jobs.test_events import SECRET, comment_webhook, engineer_comment, post_hook, run_event
from tests.jobs.test_kaiten_delivery import delivered, kaiten_comment_webhook
from tests.mappers.factories import telegram_message

KAITEN_SECRET = "k-secret"  # noqa: S105 - a test secret
MINUTE = dt.timedelta(minutes=1)


def jira_ctx(ctx: Context) -> Context:
    """The worker context on Jira with the team's chat and the webhook secret set."""
    return build_context(
        ctx.settings.model_copy(update={"TELEGRAM_TEAM_CHAT_ID": TEAM_CHAT, "JIRA_WEBHOOK_SECRET": SECRET})
    )


def kaiten_ctx(kctx: Context) -> Context:
    """The env-only Kaiten context (the shipped rule file) with the team's chat and the webhook secret."""
    return build_context(
        kctx.settings.model_copy(
            update={"TELEGRAM_TEAM_CHAT_ID": TEAM_CHAT, "KAITEN_WEBHOOK_SECRET": KAITEN_SECRET}
        )
    )


def tonight() -> dt.datetime:
    """23:00 in Moscow, the default calendar's zone, later today or tomorrow: out of hours on any day. The
    tests stamp their issues as created a minute before it."""
    zone = ZoneInfo("Europe/Moscow")
    local = dt.datetime.now(zone).replace(hour=23, minute=0, second=0, microsecond=0)
    if local <= dt.datetime.now(zone):
        local += dt.timedelta(days=1)
    return local.astimezone(dt.UTC)


def created_at(store: Path, table: str, row_id: str, stamp: str) -> None:
    """Write a look-alike's issue (or card) as created at ``stamp``: the duty alert judges the hours at
    creation, and the test cannot choose the clock the look-alike stamped it with."""
    with sqlite3.connect(store) as conn:
        assert (
            conn.execute(f"UPDATE {table} SET created = ? WHERE id = ?", (stamp, int(row_id))).rowcount == 1
        )


def team_messages(telegram: str) -> list[str]:
    return [m["text"] for m in team_sent(telegram)]


def team_sent(telegram: str) -> list[dict[str, Any]]:
    return [m for m in sent(telegram) if str(m["chat_id"]) == TEAM_CHAT]


def journaled_event(ctx: Context, response: Any) -> tuple[str, TrackerEvent]:
    """The journal row a hook's answer names, and the event it holds."""
    assert response.status_code == 202, response.get_data(as_text=True)
    entry = journal.get(ctx.engine, response.get_json()["id"])
    assert entry is not None
    return entry.id, TrackerEvent.model_validate_json(entry.body)


def run_all(ctx: Context, rule: str, now: dt.datetime) -> list[str]:
    """Run every pending firing of ``rule`` at ``now``; the issues they were for."""
    ran = []
    for firing in firings.of_rule(ctx.engine, rule):
        if firing.status == firings.PENDING:
            assert run_firing_with(ctx, firing.id, now) == "done", firings.get(ctx.engine, firing.id)
            ran.append(firing.issue_key)
    return ran


# -- Jira --------------------------------------------------------------------------------------------------


def jira_issue(sandbox: RunningSandbox, key: str) -> dict[str, Any]:
    """The issue as the look-alike's REST API answers it."""
    return dict(
        requests.get(
            f"{sandbox.url}/rest/api/2/issue/{key}", headers={"Authorization": "Bearer t"}, timeout=10
        ).json()
    )


def jira_created_webhook(sandbox: RunningSandbox, key: str) -> dict[str, Any]:
    """``jira:issue_created`` as Jira sends it (tests/fixtures/jira/…issue-created-many-fields.json's
    envelope) around the issue as the look-alike holds it."""
    issue = jira_issue(sandbox, key)
    return {
        "webhookEvent": "jira:issue_created",
        "issue_event_type_name": "issue_created",
        "user": {"name": "engineer", "displayName": "Engineer"},
        "issue": {k: issue[k] for k in ("id", "self", "key", "fields")},
    }


def test_duty_alert_on_jira_fires_once_from_the_creation_webhook_and_the_poll(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str, tmp_path: Path
) -> None:
    jctx = jira_ctx(ctx)
    tracker = jctx.tracker("jira")
    night = tonight()
    urgent, calm = (
        tracker.create_issue(
            IssueDraft(Target("jira", "SUP", "Task"), title, "b", f"duty-{n}", priority=priority)
        ).key
        for n, (title, priority) in enumerate((("Server down", "Highest"), ("Typo", "Low")))
    )
    for key in (urgent, calm):
        issue_id = jira_issue(jira_sandbox, key)["id"]
        created_at(
            tmp_path / "sandbox-jira.sqlite3", "issue", issue_id, millis_stamp(night - MINUTE, "+0000")
        )
        message_id, event = journaled_event(jctx, post_hook(jctx, jira_created_webhook(jira_sandbox, key)))
        assert event.kind == "issue_created"
        fire_for_event(jctx, tracker, event, own=False, now=night)
        deliver_with(jctx, message_id)  # the event job itself, on the real clock: never a second firing
    rule = rules_of(jctx)["duty-alert"]
    assert scan_rule(jctx, rule, night + MINUTE, force=True).new == []  # the poll finds it fired
    assert run_all(jctx, "duty-alert", night) == [urgent]
    assert scan_rule(jctx, rule, night + 2 * MINUTE, force=True).new == []
    [alert] = team_sent(telegram_sandbox)
    assert f"Duty: urgent {urgent} out of hours: Server down" in alert["text"]
    assert alert["reply_markup"]["inline_keyboard"][0][0]["text"] == "Take"  # a card: take it at once


# -- Kaiten ------------------------------------------------------------------------------------------------


def kaiten_hook(ctx: Context, payload: dict[str, Any]) -> Any:
    return (
        create_app(ctx.settings, ctx.config)
        .test_client()
        .post(f"/hooks/kaiten?token={KAITEN_SECRET}", json=payload)
    )


def kaiten_card_add_webhook(sandbox: RunningSandbox, card_id: str) -> dict[str, Any]:
    """``card:add`` as Kaiten sends it (tests/fixtures/kaiten/card-add.docs-shape.json): the card and
    the author."""
    card = requests.get(
        f"{sandbox.url}/api/latest/cards/{card_id}", headers={"Authorization": "Bearer t"}, timeout=10
    ).json()
    author = {"id": 2, "full_name": "Alice Example", "username": "alice", "email": "alice@example.com"}
    return {"event": "card:add", "data": {**card, "author": author}}


def test_duty_alert_on_kaiten_fires_once_from_the_poll_and_the_card_add_webhook(
    kctx: Context, kaiten_sandbox: RunningSandbox, telegram_sandbox: str, tmp_path: Path
) -> None:
    k = kaiten_ctx(kctx)
    tracker = k.tracker("kaiten")
    night = tonight()
    urgent = tracker.create_issue(
        IssueDraft(Target("kaiten", "10"), "Server down", "b", "d1", priority="ASAP")
    ).key
    calm = tracker.create_issue(IssueDraft(Target("kaiten", "10"), "Typo", "b", "d2")).key
    for key in (urgent, calm):
        created_at(tmp_path / "sandbox-kaiten.sqlite3", "card", key, millis_stamp(night - MINUTE, "Z"))
    rule = rules_of(k)["duty-alert"]
    assert len(scan_rule(k, rule, night, force=True).new) == 1  # the poll first, this time: the urgent one
    for key in (urgent, calm):
        message_id, event = journaled_event(k, kaiten_hook(k, kaiten_card_add_webhook(kaiten_sandbox, key)))
        assert event.kind == "issue_created"
        assert fire_for_event(k, tracker, event, own=False, now=night + MINUTE) == []
        deliver_with(k, message_id)
    assert run_all(k, "duty-alert", night) == [urgent]
    [alert] = team_sent(telegram_sandbox)
    assert f"Duty: urgent {urgent} out of hours: Server down" in alert["text"]
    assert alert["reply_markup"]["inline_keyboard"][0][0]["text"] == "Take"  # a card: take it at once


def test_quiet_customer_on_kaiten_is_nudged_then_closed(
    kctx: Context, kaiten_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    k = kaiten_ctx(kctx)
    key, tracker = waiting_card(k, "the printer jams")
    nudged_then_closed(k, tracker, key, telegram_sandbox)


def waiting_card(ctx: Context, text: str) -> tuple[str, Tracker]:
    """A card opened by a customer's Telegram message (chat 42), moved to "Waiting for customer"."""
    key = delivered(ctx, telegram_message(text)).issue_key or ""
    tracker = ctx.tracker("kaiten")
    tracker.transition(key, "Waiting for customer")
    return key, tracker


def kaiten_comment_event(ctx: Context, sandbox: RunningSandbox, card_id: str, text: str) -> str:
    """The card's comment holding ``text`` as Kaiten's ``comment:add`` webhook, through the hub's route
    and the event job (which fires the event rules); the journaled event's id."""
    comments = requests.get(
        f"{sandbox.url}/api/latest/cards/{card_id}/comments",
        headers={"Authorization": "Bearer t"},
        timeout=10,
    ).json()
    [comment] = [c for c in comments if text in c["text"]]
    response = kaiten_hook(ctx, kaiten_comment_webhook(card_id, comment))
    if response.status_code == 200 and response.get_json().get("duplicate"):
        return str(response.get_json()["id"])  # a redelivery: the journal has it already
    message_id, _event = journaled_event(ctx, response)
    deliver_with(ctx, message_id)
    return message_id


def test_a_customer_reply_on_kaiten_moves_the_card_out_of_waiting_and_tells_the_team(
    kctx: Context, kaiten_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    k = kaiten_ctx(kctx)
    key, tracker = waiting_card(k, "still broken")
    tracker.assign(key, "2")
    delivered(k, telegram_message("it is still broken after the update"))  # a comment on the card
    for _ in range(2):  # the webhook twice: one firing
        kaiten_comment_event(k, kaiten_sandbox, key, "still broken after the update")
    assert run_all(k, "customer-replied", dt.datetime.now(dt.UTC)) == [key]
    assert tracker.get_state(key).status == "In progress"
    told = [c.body for c in tracker.comments(key) if f"The customer replied on {key}" in c.body]
    assert len(told) == 1 and "@" in told[0]
    assert len([t for t in team_messages(telegram_sandbox) if f"The customer replied on {key}" in t]) == 1


def test_a_comment_on_a_card_not_waiting_for_the_customer_moves_nothing(
    kctx: Context, kaiten_sandbox: RunningSandbox
) -> None:
    k = kaiten_ctx(kctx)
    key = delivered(k, telegram_message("still broken")).issue_key or ""
    delivered(k, telegram_message("one more detail"))
    kaiten_comment_event(k, kaiten_sandbox, key, "one more detail")
    assert firings.of_rule(k.engine, "customer-replied") == []
    assert k.tracker("kaiten").get_state(key).status == "To do"


def kaiten_cards(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    cards: list[dict[str, Any]] = requests.get(
        f"{sandbox.url}/api/latest/cards",
        params={"limit": 100},
        headers={"Authorization": "Bearer t"},
        timeout=10,
    ).json()
    return cards


def test_contract_end_on_kaiten_opens_a_card_thirty_days_before_the_date_once(
    kctx: Context, kaiten_sandbox: RunningSandbox
) -> None:
    k = kaiten_ctx(kctx)
    tracker = k.tracker("kaiten")
    contract = {"505": "2027-03-21"}  # the look-alike's "Contract end" date property, found by its name
    soon = tracker.create_issue(
        IssueDraft(Target("kaiten", "10"), "ACME contract", "b", "c1", custom_fields=contract)
    ).key
    later = {"505": "2027-06-01"}
    tracker.create_issue(IssueDraft(Target("kaiten", "10"), "Later contract", "b", "c2", custom_fields=later))
    now = dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)
    assert fire(k, "contract-end", now) == [soon]
    assert fire(k, "contract-end", now + dt.timedelta(days=1)) == []
    [task] = [c for c in kaiten_cards(kaiten_sandbox) if c["title"].startswith("Contract ends")]
    assert task["title"] == "Contract ends 2027-03-21: ACME contract"
    assert int(soon) in (task.get("parents_ids") or [])  # linked: the contract's card is its parent


def test_a_stuck_card_goes_back_to_the_queue_with_a_task_once(
    kctx: Context, kaiten_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    k = kaiten_ctx(kctx)
    tracker = k.tracker("kaiten")
    key = tracker.create_issue(IssueDraft(Target("kaiten", "10"), "Stuck one", "b", "s1")).key
    tracker.transition(key, "In progress")
    [card] = [c for c in kaiten_cards(kaiten_sandbox) if str(c["id"]) == key]
    moved = dt.datetime.fromisoformat(card["last_moved_at"].replace("Z", "+00:00"))
    calendar = business_calendar(k.config.calendar("default"))
    due = add_duration(calendar, moved, k.config.automation("stuck").trigger.in_status_longer)  # type: ignore[arg-type]
    assert fire(k, "stuck", due - dt.timedelta(hours=1)) == []
    assert fire(k, "stuck", due + MINUTE) == [key]
    assert fire(k, "stuck", due + dt.timedelta(days=3)) == []
    assert tracker.get_state(key).status == "To do"
    titles = [c["title"] for c in kaiten_cards(kaiten_sandbox)]
    assert titles.count(f"Prepare {key}: stuck for 20 days") == 1
    assert [t for t in team_messages(telegram_sandbox) if f"{key} was stuck in In progress" in t] != []


def unassigned_digest(ctx: Context, created: dt.datetime) -> list[str]:
    """Scan the shipped unassigned-digest an hour after the issues created at ``created`` are a business
    day old (at its latest due 10:00, even on first sight) and run it; the issues it fired for."""
    calendar = business_calendar(ctx.config.calendar("default"))
    age = ctx.config.automation("unassigned-digest").when.older_than
    assert age is not None
    now = add_duration(calendar, created, age) + dt.timedelta(hours=1)
    scan_rule(ctx, rules_of(ctx)["unassigned-digest"], now, force=True)
    return run_all(ctx, "unassigned-digest", now)


def digest_lines(telegram: str) -> list[str]:
    """The digest in the team chat: its count on top, then the first line of each of its cards, each of
    which has Take (the team bot is configured, so the digest comes as cards)."""
    found = team_sent(telegram)
    start = next(i for i, m in enumerate(found) if "issue(s)" in m["text"].splitlines()[0])
    cards = found[start + 1 :]
    assert all(m["reply_markup"]["inline_keyboard"][0][0]["text"] == "Take" for m in cards)
    return [found[start]["text"]] + [m["text"].splitlines()[0] for m in cards]


def test_unassigned_digest_on_jira_lists_the_day_old_unassigned_critical_first(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    jctx = jira_ctx(ctx)
    tracker = jctx.tracker("jira")
    made = [
        tracker.create_issue(
            IssueDraft(Target("jira", "SUP", "Task"), f"issue {p}", "b", f"u-{p}", priority=p)
        ).key
        for p in ("Highest", "Low", "Medium")
    ]
    tracker.assign(made[2], "jsmith")  # assigned: not in the digest
    created = tracker.get_state(made[2]).created
    assert created is not None
    assert unassigned_digest(jctx, created) == ["*"]  # one digest
    lines = digest_lines(telegram_sandbox)
    assert lines[0].endswith(": 2 issue(s), 1 critical")
    assert lines[1].startswith(f"🔴 {made[0]}: ") and lines[2].startswith(f"{made[1]}: ")
    assert len(lines) == 3


def test_unassigned_digest_on_kaiten_lists_the_cards_without_a_responsible(
    kctx: Context, kaiten_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    k = kaiten_ctx(kctx)
    tracker = k.tracker("kaiten")
    made = [
        tracker.create_issue(IssueDraft(Target("kaiten", "10"), f"card {n}", "b", f"u-{n}", priority=p)).key
        for n, p in enumerate(("ASAP", None, None))
    ]
    tracker.assign(made[2], "2")  # someone is responsible: not in the digest
    created = tracker.get_state(made[2]).created
    assert created is not None
    assert unassigned_digest(k, created) == ["*"]
    lines = digest_lines(telegram_sandbox)
    assert lines[0].endswith(": 2 issue(s), 1 critical")
    assert lines[1].startswith(f"🔴 {made[0]}: ") and lines[2].startswith(f"{made[1]}: ")
    assert len(lines) == 3


def test_next_task_on_jira_opens_the_follow_up_with_labels_links_and_assignee(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    jctx = jira_ctx(ctx)
    tracker = jctx.tracker("jira")
    key = tracker.create_issue(
        IssueDraft(Target("jira", "SUP", "Task"), "Deal", "b", "n1", labels=("vip",))
    ).key
    tracker.assign(key, "jsmith")
    comment = engineer_comment(jira_sandbox, key, "Созвонились, следующая задача — обновить сделку")
    for _ in range(2):
        response = post_hook(jctx, comment_webhook(key, comment))
        if response.status_code == 202:
            run_event(jctx, response)
    assert run_all(jctx, "next-task", dt.datetime.now(dt.UTC)) == [key]
    [follow] = [i for i in sandbox_issues(jira_sandbox) if i["fields"]["summary"] == "Актуализировать сделку"]
    state = tracker.get_state(follow["key"])
    assert "vip" in state.labels and state.assignee == "jsmith"
    links = tracker.get_state(follow["key"], fields=("issuelinks",)).fields["issuelinks"]
    assert [link.get("outwardIssue", link.get("inwardIssue", {})).get("key") for link in links] == [key]


def test_next_task_on_kaiten_opens_the_follow_up_card_in_the_queue(
    kctx: Context, kaiten_sandbox: RunningSandbox
) -> None:
    k = kaiten_ctx(kctx)
    tracker = k.tracker("kaiten")
    key = tracker.create_issue(IssueDraft(Target("kaiten", "10"), "Deal", "b", "n1", labels=("vip",))).key
    tracker.assign(key, "2")
    engineer = {"Authorization": "Bearer t", "X-Sandbox-User": "2"}
    requests.post(
        f"{kaiten_sandbox.url}/api/latest/cards/{key}/comments",
        json={"text": "Созвонились, следующая задача — обновить сделку"},
        headers=engineer,
        timeout=10,
    ).raise_for_status()
    for _ in range(2):
        kaiten_comment_event(k, kaiten_sandbox, key, "следующая задача")
    assert run_all(k, "next-task", dt.datetime.now(dt.UTC)) == [key]
    [follow] = [c for c in kaiten_cards(kaiten_sandbox) if c["title"] == "Актуализировать сделку"]
    assert (follow["board_id"], follow["column_id"]) == (10, 101)  # the queue
    state = tracker.get_state(str(follow["id"]))
    assert "vip" in state.labels and state.assignee == tracker.get_state(key).assignee
    assert int(key) in (follow.get("parents_ids") or [])


def test_the_shipped_stage_checklist_appears_once_when_a_card_enters_in_progress(
    kctx: Context, kaiten_sandbox: RunningSandbox
) -> None:
    k = kaiten_ctx(kctx)
    tracker = k.tracker("kaiten")
    key = tracker.create_issue(IssueDraft(Target("kaiten", "10"), "A deal", "b", "st1")).key
    [before] = [c for c in kaiten_cards(kaiten_sandbox) if str(c["id"]) == key]
    tracker.transition(key, "In progress")
    [after] = [c for c in kaiten_cards(kaiten_sandbox) if str(c["id"]) == key]
    author = {"id": 2, "full_name": "Alice Example", "username": "alice", "email": "alice@example.com"}
    moved = {
        "event": "card:update",
        "data": {
            "old": before,
            "changes": {"column_id": after["column_id"], "updated": after["updated"]},
            "author": author,
        },
    }
    for _ in range(2):
        response = kaiten_hook(k, moved)
        if response.status_code == 202:
            deliver_with(k, response.get_json()["id"])
    assert run_all(k, "stage-checklist", dt.datetime.now(dt.UTC)) == [key]
    [checklist] = tracker.checklists(key)
    assert checklist.name == "Stage: in progress"
    assert [i.text for i in checklist.items] == [
        "Reproduce the problem",
        "Agree on a fix date with the customer",
        "Write the fix plan",
    ]
