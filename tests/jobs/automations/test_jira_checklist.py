"""The ``checklist`` action on Jira, as sub-tasks: the shipped ``stage-checklist`` recipe end to end (a
status webhook → the journal → a firing → one sub-task per item), replays and re-runs creating nothing
twice, and a firing cut off after its first sub-task creating only the missing ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import requests

from jobs.automations.actions import ActionRun, perform
from jobs.automations.events import fire_for_event
from jobs.automations.rules import compiled, rules_of
from jobs.automations.run import LEASE, run_firing_with
from jobs.clock import utcnow
from jobs.context import Context, build_context
from mappers.tracker_events import TrackerEvent
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.conftest import with_automations
from tests.jobs.conftest import add_fault, pause_elapsed
from tests.jobs.routing.conftest import issue_json
from tests.jobs.test_events import SECRET, move, open_issue, post_hook, run_event, transition_webhook
from tests.mappers.factories import telegram_message
from tests.sandboxes import CONTROL

STAGE_ITEMS = ["Reproduce the problem", "Agree on a fix date with the customer", "Write the fix plan"]


def subtasks(sandbox: RunningSandbox, key: str) -> list[tuple[str, str]]:
    """The issue's sub-tasks as Jira lists them: (key, summary)."""
    return [
        (s["key"], s["fields"]["summary"]) for s in issue_json(sandbox, key, "subtasks")["fields"]["subtasks"]
    ]


def parent_of(sandbox: RunningSandbox, key: str) -> str:
    fields = issue_json(sandbox, key, "parent,issuetype")["fields"]
    assert fields["issuetype"]["subtask"] is True
    return str(fields["parent"]["key"])


def hooked(ctx: Context) -> Context:
    return build_context(ctx.settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))


def test_the_shipped_stage_checklist_adds_one_sub_task_per_item_when_the_issue_enters_in_progress(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    hctx = hooked(ctx)
    assert "stage-checklist" not in compiled(hctx).left_out  # the shipped rule runs on Jira
    key = open_issue(hctx, telegram_message("the printer jams"))
    move(jira_sandbox, key, "In Progress")
    webhook = transition_webhook(key, "In Progress")
    first = post_hook(hctx, webhook)
    assert post_hook(hctx, webhook).get_json()["duplicate"] is True  # the journal's dedupe
    run_event(hctx, first)
    [firing] = firings.history(hctx.engine, key)
    assert firing.rule == "stage-checklist"
    now = utcnow()
    claimed = firings.claim(hctx.engine, firing.id, now, LEASE)
    assert claimed is not None
    rule = rules_of(hctx)["stage-checklist"]
    # the worker added the sub-tasks, then died before saving that it had
    [action] = rule.actions
    perform(ActionRun(hctx, hctx.tracker("jira"), claimed, 0, lambda _d: None), action)
    made = subtasks(jira_sandbox, key)
    assert [summary for _, summary in made] == STAGE_ITEMS
    assert {parent_of(jira_sandbox, sub) for sub, _ in made} == {key}
    # its lease runs out and the firing runs again: nothing new
    assert run_firing_with(hctx, firing.id, now + LEASE + dt.timedelta(seconds=1)) == "done"
    assert subtasks(jira_sandbox, key) == made


def test_re_entering_the_status_adds_no_second_set_and_another_status_adds_none(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    hctx = hooked(ctx)
    key = open_issue(hctx, telegram_message("the scanner is slow"))
    move(jira_sandbox, key, "In Progress")
    run_event(hctx, post_hook(hctx, transition_webhook(key, "In Progress")))
    move(jira_sandbox, key, "To Do")
    run_event(hctx, post_hook(hctx, transition_webhook(key, "To Do")))  # no stage for To Do: no firing
    move(jira_sandbox, key, "In Progress")
    again = transition_webhook(key, "In Progress")
    again["changelog"]["id"] = f"{key}-In Progress-again"
    run_event(hctx, post_hook(hctx, again))
    stored = firings.history(hctx.engine, key)
    assert len(stored) == 2  # one firing per entry into In Progress
    assert [run_firing_with(hctx, f.id) for f in stored] == ["done", "done"]
    assert [summary for _, summary in subtasks(jira_sandbox, key)] == STAGE_ITEMS


CHECKLIST = """
  - name: onboarding
    trigger: {event: commented, text_contains: "onboard"}
    actions:
      - {checklist: {name: Onboarding, items: ["Create the account", "Send the welcome pack"]}}
"""


def test_a_firing_cut_off_after_its_first_sub_task_creates_only_the_missing_ones(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    actx = with_automations(hooked(ctx), tmp_path / "rules", CHECKLIST)
    key = open_issue(actx, telegram_message("new customer"))
    event = TrackerEvent(
        tracker="jira",
        kind="comment_created",
        event_id="c-1",
        issue_key=key,
        comment_body="please onboard them",
        comment_public=True,
    )
    fire_for_event(actx, actx.tracker("jira"), event, own=False)
    [firing] = firings.history(actx.engine, key)
    # the first sub-task is created, then the answer is lost: the firing waits for the tracker
    add_fault(
        jira_sandbox, status=503, count=1, methods=["POST"], paths=["/rest/api/2/issue"], after_commit=True
    )
    assert run_firing_with(actx, firing.id) == "pending"
    assert [summary for _, summary in subtasks(jira_sandbox, key)] == ["Create the account"]
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    pause_elapsed(actx)
    waiting = firings.get(actx.engine, firing.id)
    assert waiting is not None and waiting.next_attempt_at is not None
    assert run_firing_with(actx, firing.id, waiting.next_attempt_at) == "done"
    assert [summary for _, summary in subtasks(jira_sandbox, key)] == [
        "Create the account",
        "Send the welcome pack",
    ]
