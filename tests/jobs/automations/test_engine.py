"""The automations engine on real Redis, the real database and the Jira sandbox: firings are stored once per
(rule, issue, occurrence) however often a scan runs, after downtime the latest due occurrence fires once,
actions are not repeated when a worker dies between an action and saving it, and outages are retried."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import requests
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from config.automation_actions import AssignAction as ConfigAssign
from connector.types import IssueDraft, IssueRef, IssueState, SearchQuery, Target
from jobs.automations.actions import ActionRun, perform
from jobs.automations.model import (
    AssignAction,
    AutomationRule,
    CommentAction,
    CreateAction,
    DigestAction,
    SetAction,
    TransitionAction,
)
from jobs.automations.periodic import SCAN_FUNC, SCAN_LOCK, enqueue_scan, scan_with
from jobs.automations.queue import firing_job_id
from jobs.automations.rules import rules_of
from jobs.automations.run import LEASE, run_firing_with, sweep_firings
from jobs.automations.scan import dry_run, scan_rule
from jobs.context import Context
from jobs.queues import PERIODIC_QUEUE
from jobs.registry import Cron, Every
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.jobs.automations.conftest import with_automations
from tests.jobs.conftest import add_fault, pause_elapsed, sandbox_issues, tracker_calls
from tests.sandboxes import CONTROL

MONDAY_1005 = dt.datetime(2027, 3, 1, 7, 5, tzinfo=dt.UTC)  # 10:05 in Moscow
OPEN_SUP = SearchQuery(containers=("SUP",), not_done=True)


def open_issues(ctx: Context, count: int, priority: str | None = None) -> list[str]:
    tracker = ctx.tracker("jira")
    return [
        tracker.create_issue(
            IssueDraft(
                Target("jira", "SUP", "Task"), f"issue {n}", "body", f"seed-{n}-{priority}", priority=priority
            )
        ).key
        for n in range(count)
    ]


def nudge_rule(**changes: Any) -> AutomationRule:
    rule = AutomationRule(
        name="nudge",
        tracker="jira",
        query=OPEN_SUP,
        schedule=Cron("0 10 * * 1-5", "Europe/Moscow"),
        actions=(CommentAction(text="Do you still need help?"), SetAction(add_labels=("nudged",))),
    )
    return AutomationRule(**{**rule.__dict__, **changes})


def run_all(ctx: Context, rule: AutomationRule, now: dt.datetime) -> list[str]:
    return [
        run_firing_with(ctx, f.id, now, {rule.name: rule}) for f in firings.of_rule(ctx.engine, rule.name)
    ]


def marked_comments(ctx: Context, key: str) -> list[str]:
    return [c.body for c in ctx.tracker("jira").comments(key) if "hub-auto-" in c.body]


def worker_took_the_jobs(ctx: Context) -> None:
    """The jobs the scan enqueued were run (and, ``result_ttl=0``, deleted), as a worker does."""
    queue = Queue(PERIODIC_QUEUE, connection=ctx.redis)
    for job_id in queue.get_job_ids():
        ctx.redis.delete(f"rq:job:{job_id}")
    queue.empty()


def queued_jobs(ctx: Context) -> list[str]:
    return Queue(PERIODIC_QUEUE, connection=ctx.redis).get_job_ids()


def test_two_scans_store_one_firing_per_issue_and_its_actions_run_once(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    keys = open_issues(ctx, 3)
    rule = nudge_rule()
    first = scan_rule(ctx, rule, MONDAY_1005, force=True)
    second = scan_rule(ctx, rule, MONDAY_1005, force=True)
    assert (first.found, len(first.new)) == (3, 3)
    assert second.skipped == "not due"  # the due time was fired for: not even a search
    stored = firings.of_rule(ctx.engine, "nudge")
    assert sorted(f.issue_key for f in stored) == sorted(keys)
    assert {f.occurrence for f in stored} == {"2027-03-01T07:00Z"}
    assert sorted(queued_jobs(ctx)) == sorted(firing_job_id(f.id) for f in stored)

    assert run_all(ctx, rule, MONDAY_1005) == ["done"] * 3
    assert run_all(ctx, rule, MONDAY_1005) == ["busy"] * 3  # done: a repeated job does nothing
    for key in keys:
        assert len(marked_comments(ctx, key)) == 1
        assert "Do you still need help?" in marked_comments(ctx, key)[0]
    assert all("nudged" in issue["fields"]["labels"] for issue in sandbox_issues(jira_sandbox))


def test_a_scan_is_one_paged_search_and_nothing_per_issue(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    open_issues(ctx, 7)
    before = tracker_calls(jira_sandbox)
    result = scan_rule(ctx, nudge_rule(), MONDAY_1005, force=True)
    after = tracker_calls(jira_sandbox)
    made = {
        route: after[route] - before.get(route, 0) for route in after if after[route] != before.get(route)
    }
    assert result.found == 7
    assert list(made) == ["GET /rest/api/2/search"] or list(made) == ["POST /rest/api/2/search"]
    assert sum(made.values()) == 1


def test_a_new_scheduled_rule_starts_at_its_next_due_time(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    open_issues(ctx, 2)
    rule = nudge_rule()
    assert scan_rule(ctx, rule, MONDAY_1005).skipped == "not due"  # recorded where it starts
    assert firings.of_rule(ctx.engine, "nudge") == []
    tuesday = MONDAY_1005 + dt.timedelta(days=1)
    assert len(scan_rule(ctx, rule, tuesday).new) == 2


def test_a_restart_after_three_hours_down_fires_the_latest_due_occurrence_once(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    keys = open_issues(ctx, 2)
    rule = nudge_rule(schedule=Every(3600))
    start = dt.datetime(2027, 3, 1, 9, 10, tzinfo=dt.UTC)
    assert len(scan_rule(ctx, rule, start, force=True).new) == 2  # the 09:00 occurrence
    back = start + dt.timedelta(hours=3, minutes=20)  # down from 09:10 to 12:30: 10, 11 and 12 missed
    assert len(scan_rule(ctx, rule, back).new) == 2
    assert scan_rule(ctx, rule, back + dt.timedelta(minutes=10)).skipped == "not due"
    occurrences = sorted({f.occurrence for f in firings.of_rule(ctx.engine, "nudge")})
    assert occurrences == ["2027-03-01T09:00Z", "2027-03-01T12:00Z"]
    assert len(firings.of_rule(ctx.engine, "nudge")) == 2 * len(keys)


def test_a_conditional_rule_fires_once_per_occurrence_whatever_the_scans(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    [key] = open_issues(ctx, 1)
    rule = nudge_rule(schedule=Every(300), occurrence=lambda state, _now, _facts: f"status:{state.status}")
    for minutes in range(0, 60, 5):  # an hour of scans
        scan_rule(ctx, rule, MONDAY_1005 + dt.timedelta(minutes=minutes))
    assert [(f.issue_key, f.occurrence) for f in firings.of_rule(ctx.engine, "nudge")] == [
        (key, "status:To Do")
    ]


def test_dry_run_lists_what_would_fire_and_writes_nothing(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    keys = open_issues(ctx, 2)
    rule = nudge_rule()
    calls = tracker_calls(jira_sandbox)
    would = dry_run(ctx, rule, MONDAY_1005)
    assert sorted(f.issue_key for f in would) == sorted(keys)
    assert firings.of_rule(ctx.engine, "nudge") == []
    assert firings.last_due(ctx.engine, "nudge") is None
    assert queued_jobs(ctx) == []
    after = tracker_calls(jira_sandbox)
    changed = {route for route in after if after[route] != calls.get(route)}
    assert changed <= {"POST /rest/api/2/search", "GET /rest/api/2/search"}  # reads only


def test_a_worker_killed_between_an_action_and_its_progress_does_not_repeat_it(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    [key] = open_issues(ctx, 1)
    rule = nudge_rule(
        actions=(
            CommentAction(text="Do you still need help?"),
            CreateAction(Target("jira", "SUP", "Task"), "Follow up", carry=("labels",)),
            AssignAction(how="round_robin", among=("jsmith", "iivanov")),
        )
    )
    scan_rule(ctx, rule, MONDAY_1005, force=True)
    [firing] = firings.of_rule(ctx.engine, "nudge")
    claimed = firings.claim(ctx.engine, firing.id, MONDAY_1005, LEASE)
    assert claimed is not None
    tracker = ctx.tracker("jira")
    # the worker did every action, then died before saving any of them
    for index, action in enumerate(rule.actions):
        perform(ActionRun(ctx, tracker, claimed, index, lambda _d: None), action)
    later = MONDAY_1005 + LEASE + dt.timedelta(seconds=1)
    worker_took_the_jobs(ctx)
    assert sweep_firings(ctx, later) == 1  # the lease ran out: the sweep gives it a new job
    assert queued_jobs(ctx) == [firing_job_id(firing.id)]
    assert run_firing_with(ctx, firing.id, later, {"nudge": rule}) == "done"
    assert len(marked_comments(ctx, key)) == 1
    follow_ups = [i for i in sandbox_issues(jira_sandbox) if i["fields"]["summary"] == "Follow up"]
    assert len(follow_ups) == 1
    done = firings.get(ctx.engine, firing.id)
    assert done is not None and done.status == "done"
    assert done.actions_done["1"]["created"] == follow_ups[0]["key"]


def test_a_firing_whose_job_failed_gets_a_new_job_and_no_registry_names_the_old_one(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    open_issues(ctx, 1)
    scan_rule(ctx, nudge_rule(), MONDAY_1005, force=True)
    [firing] = firings.of_rule(ctx.engine, "nudge")
    assert firings.claim(ctx.engine, firing.id, MONDAY_1005, LEASE) is not None
    queue = Queue(PERIODIC_QUEUE, connection=ctx.redis)
    old = Job.fetch(queue.pop_job_id() or "", connection=ctx.redis)  # a worker took it, and it failed
    old.set_status(JobStatus.FAILED)
    failed = FailedJobRegistry(queue=queue)
    failed.add(old, ttl=3600, exc_string="worker lost")

    assert sweep_firings(ctx, MONDAY_1005 + LEASE + dt.timedelta(seconds=1)) == 1
    assert queued_jobs(ctx) == [firing_job_id(firing.id)]
    assert firing_job_id(firing.id) not in failed.get_job_ids()
    assert Job.fetch(firing_job_id(firing.id), connection=ctx.redis).get_status() == JobStatus.QUEUED


def test_round_robin_assigns_in_turn_and_a_refused_action_fails_the_firing_with_its_reason(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    keys = open_issues(ctx, 2)
    rule = nudge_rule(
        actions=(
            AssignAction(how="round_robin", among=("jsmith", "iivanov")),
            TransitionAction("No such status"),
        )
    )
    scan_rule(ctx, rule, MONDAY_1005, force=True)
    assert run_all(ctx, rule, MONDAY_1005) == ["failed", "failed"]  # the transition is refused
    stored = {f.issue_key: f for f in firings.of_rule(ctx.engine, "nudge")}
    assert sorted(stored[k].actions_done["0"]["chosen"] for k in keys) == ["iivanov", "jsmith"]
    assert all("No such status" in (stored[k].error or "") for k in keys)


def test_a_tracker_outage_is_retried_later_and_the_action_happens_once(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    [key] = open_issues(ctx, 1)
    rule = nudge_rule()
    scan_rule(ctx, rule, MONDAY_1005, force=True)
    [firing] = firings.of_rule(ctx.engine, "nudge")
    worker_took_the_jobs(ctx)
    add_fault(jira_sandbox, status=503, paths=["/rest/api/2/issue/"])
    assert run_firing_with(ctx, firing.id, MONDAY_1005, {"nudge": rule}) == "pending"
    waiting = firings.get(ctx.engine, firing.id)
    assert waiting is not None and waiting.next_attempt_at is not None
    assert sweep_firings(ctx, MONDAY_1005 + dt.timedelta(seconds=5)) == 0  # not due yet
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    pause_elapsed(ctx)
    retry = waiting.next_attempt_at + dt.timedelta(seconds=1)
    assert sweep_firings(ctx, retry) == 1
    assert run_firing_with(ctx, firing.id, retry, {"nudge": rule}) == "done"
    assert len(marked_comments(ctx, key)) == 1


def test_a_digest_is_one_message_with_the_critical_issues_first(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    high = open_issues(ctx, 1, priority="Highest")
    low = open_issues(ctx, 2, priority="Low")
    rule = nudge_rule(
        name="digest",
        query=SearchQuery(containers=("SUP",), not_done=True, assignee_empty=True),
        actions=(DigestAction(telegram_chat="-100500", critical=("Highest",), title="Unassigned"),),
    )
    scan_rule(ctx, rule, MONDAY_1005, force=True)
    scan_rule(ctx, rule, MONDAY_1005, force=True)
    [firing] = firings.of_rule(ctx.engine, "digest")
    assert firing.issue_key == "*"
    add_fault_telegram(telegram_sandbox, status=502, count=1)
    assert run_firing_with(ctx, firing.id, MONDAY_1005, {"digest": rule}) == "pending"  # Telegram down
    later = MONDAY_1005 + dt.timedelta(minutes=5)
    assert run_firing_with(ctx, firing.id, later, {"digest": rule}) == "done"
    assert run_firing_with(ctx, firing.id, later, {"digest": rule}) == "busy"
    [sent] = requests.get(f"{telegram_sandbox}/_sandbox/sent", headers=CONTROL, timeout=5).json()
    lines = sent["text"].splitlines()
    assert lines[0] == "Unassigned: 3 issue(s), 1 critical"
    assert lines[1].startswith(f"🔴 {high[0]} ")
    assert sorted(line.split()[0] for line in lines[2:]) == sorted(low)


def add_fault_telegram(url: str, **spec: Any) -> None:
    requests.post(f"{url}/_sandbox/faults", json=spec, headers=CONTROL, timeout=5).raise_for_status()


def test_the_scheduler_enqueues_one_scan_at_a_time_and_one_worker_scans(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    assert enqueue_scan(ctx.redis) is True
    assert enqueue_scan(ctx.redis) is False  # one waiting is enough, however many ticks pass
    [job] = Queue(PERIODIC_QUEUE, connection=ctx.redis).get_jobs()
    assert job.func_name == SCAN_FUNC
    ctx.redis.set(SCAN_LOCK, "another-worker", ex=30)
    assert scan_with(ctx) == 0  # another worker is scanning: this one leaves it
    assert ctx.redis.get(SCAN_LOCK) == b"another-worker"
    assert enqueue_scan(ctx.redis) is True  # the job started: the next tick may enqueue again
    ctx.redis.delete(SCAN_LOCK)
    assert scan_with(ctx) == len([r for r in rules_of(ctx).values() if r.scanned])
    assert ctx.redis.get(SCAN_LOCK) is None


def test_least_open_assigns_the_available_user_with_the_fewest_open_issues(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    tracker = ctx.tracker("jira")
    for n in range(2):  # jsmith already has two open issues, iivanov none
        key = tracker.create_issue(
            IssueDraft(Target("jira", "SUP", "Task"), f"busy {n}", "b", f"busy-{n}")
        ).key
        tracker.assign(key, "jsmith")
    new = tracker.create_issue(IssueDraft(Target("jira", "SUP", "Task"), "new", "b", "new")).key
    spec = ConfigAssign.model_validate({"least_open": ["jsmith", "iivanov"]})
    rule = nudge_rule(
        query=SearchQuery(containers=("SUP",), not_done=True, assignee_empty=True),
        actions=(AssignAction(how="least_open", spec=spec, containers=("SUP",)),),
    )
    scan_rule(ctx, rule, MONDAY_1005, force=True)
    [firing] = firings.of_rule(ctx.engine, "nudge")
    assert firing.issue_key == new
    assert run_firing_with(ctx, firing.id, MONDAY_1005, {"nudge": rule}) == "done"
    assert tracker.get_state(new).assignee == "iivanov"


LEAST_OPEN = """
  - name: assign
    trigger: {every: 1h}
    when: {not_done: true}
    actions:
      - assign: {least_open: [iivanov, jsmith], absences: [{user: iivanov, from: 2027-05-04, to: 2027-05-04}]}
"""


@pytest.mark.parametrize(
    ("now", "assignee"),
    [
        (dt.datetime(2027, 5, 3, 21, 30, tzinfo=dt.UTC), "jsmith"),  # 00:30 on the 4th in Moscow: away
        (dt.datetime(2027, 5, 4, 21, 30, tzinfo=dt.UTC), "iivanov"),  # 00:30 on the 5th in Moscow: back
    ],
)
def test_least_open_skips_who_is_away_on_the_teams_day_when_the_firing_runs(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path, now: dt.datetime, assignee: str
) -> None:
    """Absences are days of the rule's calendar (Moscow), taken at the firing's time: not the UTC date, and
    not the day the worker happens to run the test on."""
    actx = with_automations(ctx, tmp_path / "rules", LEAST_OPEN)
    tracker = actx.tracker("jira")
    new = tracker.create_issue(IssueDraft(Target("jira", "SUP", "Task"), "new", "b", "new")).key
    rule = rules_of(actx)["assign"]
    scan_rule(actx, rule, now, force=True)
    [firing] = firings.of_rule(actx.engine, "assign")
    assert run_firing_with(actx, firing.id, now, {"assign": rule}) == "done"
    assert tracker.get_state(new).assignee == assignee


def test_duty_alert_asks_whether_the_issue_was_created_out_of_hours_not_whether_it_is_now(
    ctx: Context,
) -> None:
    """The shipped duty-alert: an urgent issue created at 17:59 on a Friday, first seen by the poll at
    18:05, is not a night request; one created at 18:05, seen on Monday morning, is."""
    duty = rules_of(ctx)["duty-alert"]
    msk = dt.timezone(dt.timedelta(hours=3))

    def urgent(created: dt.datetime) -> IssueState:
        ref = IssueRef("jira", "SUP-9", "https://jira/browse/SUP-9")
        return IssueState(
            ref=ref, status="To Do", done=False, priority="Highest", container="SUP", created=created
        )

    assert not duty.accepts(
        urgent(dt.datetime(2027, 3, 5, 17, 59, tzinfo=msk)), dt.datetime(2027, 3, 5, 18, 5, tzinfo=msk)
    )
    assert duty.accepts(
        urgent(dt.datetime(2027, 3, 5, 18, 5, tzinfo=msk)), dt.datetime(2027, 3, 8, 9, 30, tzinfo=msk)
    )
