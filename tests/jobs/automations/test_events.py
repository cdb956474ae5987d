"""Event rules from the tracker webhooks the hub journals: a keyword comment opens the follow-up issue
once however often the webhook comes, the hub's own comments fire nothing, conditions are checked."""

from __future__ import annotations

from pathlib import Path

import requests

from jobs.automations.events import fire_for_event
from jobs.automations.run import run_firing_with
from jobs.context import Context
from mappers.tracker_events import parse_jira_webhook
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.conftest import with_automations
from tests.jobs.conftest import sandbox_issues, tracker_calls
from tests.jobs.test_events import SECRET, comment_webhook, engineer_comment, open_issue, post_hook, run_event
from tests.mappers.factories import telegram_message

NEXT_TASK = """
  - name: next-task
    trigger: {event: commented, text_contains: "следующая задача"}
    actions:
      - {create: {title: "Актуализировать сделку", carry: [tags, responsible], link: true}}
  - name: waiting-only
    trigger: {event: commented}
    when: {statuses: ["Waiting for customer"]}
    actions:
      - {set: {labels: [commented-while-waiting]}}
"""


def test_the_same_comment_webhook_three_times_opens_one_follow_up(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    actx = with_automations(ctx, tmp_path / "rules", NEXT_TASK, JIRA_WEBHOOK_SECRET=SECRET)
    key = open_issue(actx, telegram_message("deal"))
    comment = engineer_comment(jira_sandbox, key, "Готово, следующая задача — звонок клиенту")
    payload = comment_webhook(key, comment)
    first, *repeats = [post_hook(actx, payload) for _ in range(3)]
    assert [r.get_json()["duplicate"] for r in repeats] == [True, True]  # the journal's dedupe
    run_event(actx, first)
    event = parse_jira_webhook(payload)
    tracker = actx.tracker("jira")
    for _ in range(3):  # and the event job itself run three times
        fire_for_event(actx, tracker, event, own=False)
    [firing] = firings.history(actx.engine, key)
    assert (firing.rule, firing.occurrence) == ("next-task", f"event:{event.event_id}")
    assert run_firing_with(actx, firing.id) == "done"
    follow_ups = [
        i for i in sandbox_issues(jira_sandbox) if i["fields"]["summary"] == "Актуализировать сделку"
    ]
    assert len(follow_ups) == 1
    issue = requests.get(
        f"{jira_sandbox.url}/rest/api/2/issue/{follow_ups[0]['key']}",
        params={"fields": "issuelinks"},
        headers={"Authorization": "Bearer t"},
        timeout=10,
    ).json()
    links = issue["fields"]["issuelinks"]
    assert [link.get("outwardIssue", link.get("inwardIssue", {})).get("key") for link in links] == [key]


def test_comments_without_the_phrase_and_the_hubs_notes_fire_nothing(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    actx = with_automations(ctx, tmp_path / "rules", NEXT_TASK)
    key = open_issue(actx, telegram_message("deal"))
    tracker = actx.tracker("jira")
    plain = parse_jira_webhook(comment_webhook(key, engineer_comment(jira_sandbox, key, "позвонил клиенту")))
    assert fire_for_event(actx, tracker, plain, own=False) == []  # waiting-only: the issue is not waiting
    phrase = comment_webhook(key, engineer_comment(jira_sandbox, key, "следующая задача"))
    note = parse_jira_webhook(phrase).model_copy(update={"comment_public": False})
    assert fire_for_event(actx, tracker, note, own=True) == []  # the hub's internal note
    marked = parse_jira_webhook(phrase).model_copy(
        update={"comment_body": "следующая задача {{hub-auto-0123456789abcdef-0}}"}
    )
    assert fire_for_event(actx, tracker, marked, own=True) == []  # an automation's own comment
    assert firings.history(actx.engine, key) == []


def test_a_comment_no_rule_is_about_reads_nothing_from_the_tracker(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    only_next_task = NEXT_TASK.split("  - name: waiting-only")[0]
    actx = with_automations(ctx, tmp_path / "rules", only_next_task)
    key = open_issue(actx, telegram_message("deal"))
    tracker = actx.tracker("jira")
    event = parse_jira_webhook(comment_webhook(key, engineer_comment(jira_sandbox, key, "позвонил клиенту")))
    before = tracker_calls(jira_sandbox)
    assert fire_for_event(actx, tracker, event, own=False) == []
    assert tracker_calls(jira_sandbox) == before
