"""The fault suite for automations: N issues (``RELIABILITY_N``, default 200) in the Jira look-alike, a real
node (scheduler, workers, Redis, the journal), a rule file of automations, and a fault while they fire.

Each scenario knows which (rule, issue, occurrence) firings must happen and asserts that each happened
exactly once, in the hub's ``automation_firings`` and on the tracker (one comment or one created issue
per firing, found by its ``hub-auto-<firing id>`` marker): *double* counts a firing, comment or issue
more than expected, *missed* one that never came. Time passes through ``HUB_TEST_CLOCK_OFFSET`` (the
processes' automation clock), never by sleeping: "three hours later" is a restart with the offset moved.
Results go to ``var/reliability/automations-*.json``; ``make reliability`` adds them to RELIABILITY.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from redis import Redis

from jobs.automations.periodic import SCAN_FUNC
from jobs.queues import PERIODIC_QUEUE
from jobs.reconcile import WATERMARK_KEY, enqueue_reconcile
from tests.conftest import REPO_ROOT
from tests.jobs.test_events import ENGINEER, comment_webhook
from tests.reliability.harness import PROJECT, HubOptions, HubUnderTest, busy_workers
from tests.reliability.ledger import RESULTS
from tests.sandboxes import CONTROL

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]

N = int(os.environ.get("RELIABILITY_N", "200"))
HOUR = 3600
SETTLE_TIMEOUT = 240.0
WEBHOOK_SECRET = "reliability-jira-secret"  # noqa: S105 - a test secret
TEAM_CHAT = "-100777"
JIRA_AUTH = {"Authorization": "Bearer sandbox"}

NUDGE = """
  - name: nudge
    trigger: {every: 1h}
    when: {not_done: true}
    actions:
      - {comment: {text: "Automation check on {{ issue.key }}"}}
      - {set: {labels: [nudged]}}
"""
DIGEST = f"""
  - name: digest
    trigger: {{every: 1h}}
    when: {{not_done: true}}
    actions:
      - digest: {{telegram_chat: "{TEAM_CHAT}", critical: [Highest], title: Open issues}}
"""
NEXT_TASK = """
  - name: next-task
    trigger: {event: commented, text_contains: "следующая задача"}
    actions:
      - {create: {title: "Актуализировать сделку", carry: [tags], link: true}}
"""


@dataclass
class AutomationTally:
    """One scenario's outcome, as RELIABILITY.md's automations table reports it."""

    scenario: str
    issues: int
    expected: int
    firings: int = 0
    done: int = 0
    double: int = 0
    missed: int = 0
    notes: list[str] = field(default_factory=list)

    def save(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"automations-{self.scenario}.json").write_text(json.dumps(asdict(self), indent=2))


# -- the node ------------------------------------------------------------------------------------------


def node(folder: Path, automations: str, **env: str) -> HubUnderTest:
    """A node whose rule file holds ``automations``, its automation clock half an hour before an hour."""
    rules = folder / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO_ROOT / "config" / "canned", rules / "canned", dirs_exist_ok=True)
    (rules / "hub.yaml").write_text(
        f"rules:\n  - name: rest\n    target: {{tracker: jira, project: {PROJECT}}}\nautomations:\n{automations}",
        encoding="utf-8",
    )
    base = {
        "HUB_CONFIG": str(rules / "hub.yaml"),
        "HUB_TEST_CLOCK_OFFSET": str(offset_to(hour_mark() - HOUR // 2)),
        "JIRA_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    return HubUnderTest(folder, HubOptions(env={**base, **env}))


def hour_mark() -> int:
    """A whole hour of the automations' clock well in the future (offsets are relative to it)."""
    return (math.floor(time.time() / HOUR) + 10) * HOUR


def offset_to(moment: float, lead: float = 0.0) -> float:
    """The clock offset that makes the processes' clock read ``moment`` ``lead`` seconds from now."""
    return moment - (time.time() + lead)


def jump_clock(hub: HubUnderTest, moment: float, *, lead: float = 3.0) -> None:
    """Restart the scheduler (and the workers) with their clock at ``moment`` ``lead`` seconds from now."""
    hub.kill_schedulers()
    hub.start_scheduler(HUB_TEST_CLOCK_OFFSET=str(offset_to(moment, lead)))
    hub.kill_all_workers()  # the supervisor starts them again with the new clock


def first_scan_done(hub: HubUnderTest, rule: str) -> None:
    """Wait until a worker has scanned ``rule`` once: a new scheduled rule's first scan only records
    where it starts, so the due time the scenario moves the clock to is its first to fire."""

    def recorded() -> bool:
        engine = sa.create_engine(hub.database_url)
        try:
            with engine.connect() as conn:
                query = sa.text("SELECT count(*) FROM automation_schedules WHERE rule = :rule")
                return bool(conn.execute(query, {"rule": rule}).scalar())
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    wait_for(recorded, 120, f"the first scan of {rule}")


def kill_scanning_worker(hub: HubUnderTest) -> bool:
    """SIGKILL the worker running the automations' scan job."""
    redis = Redis.from_url(hub.redis_url)
    for pid, job in busy_workers(redis, PERIODIC_QUEUE).items():
        if job.func_name == SCAN_FUNC:
            return hub.kill_worker(pid) is not None
    return False


def seed_issues(hub: HubUnderTest, count: int, prefix: str) -> list[str]:
    """``count`` open issues in the look-alike, created 50 at a time; their keys."""
    keys: list[str] = []
    for start in range(0, count, 50):
        updates = [
            {
                "fields": {
                    "project": {"key": PROJECT},
                    "issuetype": {"name": "Task"},
                    "summary": f"{prefix} {n}",
                    "description": "seeded",
                    "priority": {"name": "Highest" if n % 10 == 0 else "Medium"},
                }
            }
            for n in range(start, min(start + 50, count))
        ]
        response = requests.post(
            f"{hub.jira_url}/rest/api/2/issue/bulk",
            json={"issueUpdates": updates},
            headers=JIRA_AUTH,
            timeout=60,
        )
        response.raise_for_status()
        keys += [issue["key"] for issue in response.json()["issues"]]
    return keys


def tracker_issues(hub: HubUnderTest) -> list[dict[str, Any]]:
    """Every issue of the project with its summary, labels and comments."""
    issues: list[dict[str, Any]] = []
    while True:
        page = requests.get(
            f"{hub.jira_url}/rest/api/2/search",
            params={
                "jql": f"project = {PROJECT} ORDER BY key ASC",
                "startAt": len(issues),
                "maxResults": 100,
                "fields": "summary,labels,comment",
            },
            headers=JIRA_AUTH,
            timeout=60,
        ).json()
        issues += page["issues"]
        if not page["issues"] or len(issues) >= page["total"]:
            return issues


def stored_firings(hub: HubUnderTest) -> list[dict[str, Any]]:
    engine = sa.create_engine(hub.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id, rule, issue_key, occurrence, status FROM automation_firings")
            )
            return [dict(row._mapping) for row in rows]
    except sa.exc.OperationalError:
        return []  # the scheduler has not migrated the database yet
    finally:
        engine.dispose()


def wait_for(check: Callable[[], bool], timeout: float = SETTLE_TIMEOUT, what: str = "") -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.5)
    pytest.fail(f"not reached within {timeout:.0f} s: {what}")


def all_done(hub: HubUnderTest, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = stored_firings(hub)
        return len(rows) >= expected and all(row["status"] in ("done", "failed") for row in rows)

    return check


def count_comment_firings(
    hub: HubUnderTest, keys: list[str], occurrences: int, result: AutomationTally
) -> None:
    """Firings and marked comments against ``occurrences`` expected per issue of ``keys``."""
    rows = [row for row in stored_firings(hub) if row["rule"] == "nudge"]
    result.firings = len(rows)
    result.done = sum(row["status"] == "done" for row in rows)
    per_issue = Counter(row["issue_key"] for row in rows)
    markers: Counter[str] = Counter()
    for issue in tracker_issues(hub):
        for comment in issue["fields"]["comment"]["comments"]:
            for firing in rows:
                if f"hub-auto-{firing['id']}-0" in comment["body"] and firing["issue_key"] == issue["key"]:
                    markers[firing["id"]] += 1
    result.double = sum(max(per_issue[k] - occurrences, 0) for k in keys) + sum(
        max(c - 1, 0) for c in markers.values()
    )
    result.missed = sum(max(occurrences - per_issue[k], 0) for k in keys) + sum(
        1 for row in rows if markers[row["id"]] == 0
    )


def assert_exactly_once(result: AutomationTally) -> None:
    result.save()
    assert (result.double, result.missed) == (0, 0)
    assert result.firings == result.done == result.expected


# -- the scenarios ---------------------------------------------------------------------------------------


def test_scheduler_killed_mid_scan(tmp_path: Path) -> None:
    with node(tmp_path, NUDGE) as hub:
        keys = seed_issues(hub, N, "mid-scan")
        first_scan_done(hub, "nudge")
        mark = hour_mark()
        # each page of the scan's search takes 3 s for 30 s: the scheduler is killed between two pages (a
        # window, not a count of requests: the polling reconciliation's searches would take some of them)
        hub.add_fault(latency_ms=3000, duration_s=30, paths=["/rest/api/2/search"])
        jump_clock(hub, mark - 2)
        wait_for(lambda: 0 < len(stored_firings(hub)) < N, 60, "the first page of firings")
        stored_at_kill = len(stored_firings(hub))
        hub.kill_schedulers()
        assert kill_scanning_worker(hub), "no worker was scanning"  # the scan dies between two pages
        hub.start_scheduler()
        wait_for(all_done(hub, N), what="every firing done")
        result = AutomationTally("scheduler-killed-mid-scan", N, N)
        count_comment_firings(hub, keys, 1, result)
        result.notes.append(
            f"the scheduler and the scanning worker SIGKILLed with {stored_at_kill} of {N} firings "
            "stored; the scheduler restarted, the worker by its supervisor"
        )
        assert_exactly_once(result)


def test_two_schedulers_and_two_manual_runs_at_once(tmp_path: Path) -> None:
    with node(tmp_path, NUDGE) as hub:
        keys = seed_issues(hub, N, "two-schedulers")
        first_scan_done(hub, "nudge")
        mark = hour_mark()
        jump_clock(hub, mark + 1, lead=0)  # the due time has come as they start
        hub.start_scheduler()  # a second scheduler, same clock
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "cli", "automations", "run", "nudge"],
                cwd=REPO_ROOT,
                env=hub.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        for run in runs:
            run.wait(timeout=300)
        wait_for(all_done(hub, N), what="every firing done")
        time.sleep(6)  # one more scan tick of each scheduler: nothing new may appear
        result = AutomationTally("two-schedulers", N, N)
        count_comment_firings(hub, keys, 1, result)
        result.notes.append("2 schedulers running and 2 `automations run nudge` at the same due time")
        assert_exactly_once(result)


def test_restart_after_three_hours_down_fires_the_latest_occurrence_once(tmp_path: Path) -> None:
    with node(tmp_path, NUDGE) as hub:
        keys = seed_issues(hub, N, "three-hours")
        first_scan_done(hub, "nudge")
        mark = hour_mark()
        jump_clock(hub, mark - 2)
        wait_for(all_done(hub, N), what="the first occurrence done")
        hub.kill_schedulers()
        hub.kill_all_workers()
        jump_clock(hub, mark + 3 * HOUR + 20 * 60)  # 3 h 20 min later: three due times were missed
        wait_for(all_done(hub, 2 * N), what="the latest occurrence done")
        time.sleep(6)
        occurrences = Counter(row["occurrence"] for row in stored_firings(hub))
        result = AutomationTally("restart-after-3h", N, 2 * N)
        count_comment_firings(hub, keys, 2, result)
        result.notes.append(
            "occurrences fired: " + ", ".join(f"{o[11:16]} × {c}" for o, c in sorted(occurrences.items()))
        )
        assert [o[11:16] for o in sorted(occurrences)] == [  # chronological: the 3 h may cross midnight
            time.strftime("%H:%M", time.gmtime(mark)),
            time.strftime("%H:%M", time.gmtime(mark + 3 * HOUR)),
        ]
        assert_exactly_once(result)


def test_tracker_outage_during_a_digest(tmp_path: Path) -> None:
    with node(tmp_path, DIGEST) as hub:
        keys = seed_issues(hub, N, "digest")
        first_scan_done(hub, "digest")
        mark = hour_mark()
        hub.add_fault(status=503, duration_s=20, paths=["/rest/api/"])
        jump_clock(hub, mark - 2)
        wait_for(all_done(hub, 1), what="the digest sent")
        sent = requests.get(f"{hub.telegram_url}/_sandbox/sent", headers=CONTROL, timeout=10).json()
        text = "\n".join(m["text"] for m in sent if str(m["chat_id"]) == TEAM_CHAT)
        listed = Counter(
            line.split()[1] if line.startswith("🔴") else line.split()[0] for line in text.splitlines()[1:]
        )
        result = AutomationTally("tracker-outage-digest", N, 1)
        rows = stored_firings(hub)
        result.firings, result.done = len(rows), sum(r["status"] == "done" for r in rows)
        result.double = sum(c - 1 for c in listed.values() if c > 1) + max(text.count("Open issues:") - 1, 0)
        result.missed = sum(1 for key in keys if listed[key] == 0)
        result.notes.append(
            f"the tracker answered 503 to everything for 20 s from just before the due time; one digest of "
            f"{len(listed)} issues in {len([m for m in sent if str(m['chat_id']) == TEAM_CHAT])} Telegram messages"
        )
        assert_exactly_once(result)


def test_the_same_comment_webhook_three_times(tmp_path: Path) -> None:
    with node(tmp_path, NEXT_TASK) as hub:
        keys = seed_issues(hub, N, "webhooks")
        for key in keys:
            post_three_times(hub, comment_webhook(key, engineer_says_next_task(hub, key)))
        wait_for(all_done(hub, N), what="every follow-up created")
        assert_exactly_once(follow_ups_tally(hub, keys, "same-webhook-3x", "each webhook posted 3 times"))


def test_comments_found_by_polling_then_each_webhook_three_times(tmp_path: Path) -> None:
    """Polling reconciliation journals the comments before their webhooks come (lost, then late, then
    retried): each comment fires its rule once, whichever telling a worker reads first."""
    with node(tmp_path, NEXT_TASK) as hub:
        redis = Redis.from_url(hub.redis_url)
        keys = seed_issues(hub, N, "polled")
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)  # a pass ran: the next reads from here
        redis.set(WATERMARK_KEY.format(tracker="jira"), since.isoformat())
        comments = {key: engineer_says_next_task(hub, key) for key in keys}
        enqueue_reconcile(redis)  # or the scheduler's own pass, already waiting: either reads them all
        wait_for(lambda: len(stored_firings(hub)) >= N, what="every comment found by the poll fired")
        for key, comment in comments.items():
            post_three_times(hub, comment_webhook(key, comment))
        wait_for(all_done(hub, N), what="every follow-up created")
        note = "comments journaled by polling reconciliation first, then each webhook posted 3 times"
        assert_exactly_once(follow_ups_tally(hub, keys, "polled-then-webhook-3x", note))


def engineer_says_next_task(hub: HubUnderTest, key: str) -> dict[str, Any]:
    """An engineer's comment with the next-task phrase on ``key``; the comment as Jira answers it."""
    response = requests.post(
        f"{hub.jira_url}/rest/api/2/issue/{key}/comment",
        json={"body": "Созвонились, следующая задача — обновить сделку"},
        auth=ENGINEER,
        timeout=30,
    )
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def post_three_times(hub: HubUnderTest, payload: dict[str, Any]) -> None:
    """Post a signed Jira webhook three times, as a tracker retrying a delivery does."""
    body = json.dumps({**payload, "timestamp": int(time.time() * 1000)}).encode()
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    for _ in range(3):
        answer = requests.post(
            f"{hub.hub_url}/hooks/jira",
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature": signature},
            timeout=30,
        )
        assert answer.status_code in (200, 202), answer.text


def follow_ups_tally(hub: HubUnderTest, keys: list[str], scenario: str, note: str) -> AutomationTally:
    """One next-task firing and one follow-up issue (by its marker) per issue expected."""
    rows = stored_firings(hub)
    follow_ups = Counter(
        label
        for issue in tracker_issues(hub)
        if issue["fields"]["summary"] == "Актуализировать сделку"
        for label in issue["fields"]["labels"]
        if label.startswith("hub-auto-")
    )
    per_issue = Counter(row["issue_key"] for row in rows)
    result = AutomationTally(scenario, len(keys), len(keys))
    result.firings, result.done = len(rows), sum(r["status"] == "done" for r in rows)
    result.double = sum(c - 1 for c in per_issue.values() if c > 1) + sum(
        c - 1 for c in follow_ups.values() if c > 1
    )
    result.missed = sum(1 for key in keys if per_issue[key] == 0) + sum(
        1 for row in rows if follow_ups[f"hub-auto-{row['id']}-0"] == 0
    )
    result.notes.append(f"{len(keys)} comments with the phrase, {note}")
    return result


MID_FIRING_KILLS = 3


def test_workers_killed_mid_firing(tmp_path: Path) -> None:
    """A worker SIGKILLed between a firing's comment and saving that it made it, three times: each such
    firing is done again at the next `automations-sweep` (its worker's Redis connections are gone), not
    after its 10-minute lease, and its comment is not written twice."""
    with node(tmp_path, NUDGE, HUB_TEST_TRAPS="1") as hub:
        keys = seed_issues(hub, N, "mid-firing")
        first_scan_done(hub, "nudge")
        mark = hour_mark()
        hub.add_fault(latency_ms=300, paths=["/rest/api/2/issue/"])  # firings in flight long enough to trap
        jump_clock(hub, mark - 2)
        kills = [hub.kill_at_trap("firing-acted", timeout=120) for _ in range(MID_FIRING_KILLS)]
        killed_at = {k.messages[0]: k.killed_at for k in kills if k is not None}
        assert len(killed_at) == MID_FIRING_KILLS, "a trap was not reached"
        done_at: dict[str, float] = {}

        def killed_ones_done() -> bool:  # within the lease: this waits 4 min at most, the lease is 10
            done_at.update(
                {fid: time.time() for fid in killed_at if fid not in done_at and firing_done(hub, fid)}
            )
            return len(done_at) == len(killed_at)

        wait_for(killed_ones_done, what="each killed worker's firing done again")
        delays = [done_at[fid] - killed_at[fid] for fid in killed_at]
        wait_for(all_done(hub, N), what="every firing done")
        result = AutomationTally("worker-killed-mid-firing", N, N)
        count_comment_firings(hub, keys, 1, result)
        result.notes.append(
            f"{MID_FIRING_KILLS} workers SIGKILLed between a firing's comment and its saved progress; each "
            f"firing done again {max(delays):.1f} s after the kill at most (its lease: 600 s)"
        )
        assert_exactly_once(result)


def firing_done(hub: HubUnderTest, firing_id: str) -> bool:
    return any(row["id"] == firing_id and row["status"] == "done" for row in stored_firings(hub))
