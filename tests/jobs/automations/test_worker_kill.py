"""A worker SIGKILLed in the middle of a firing: the sweep gives the firing a new job at its next tick, as it
does a delivery (jobs/recovery.py: the dead worker's Redis connections are closed), not after the firing's
10-minute lease, and the action the dead worker already did is not done twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from connector.types import IssueDraft, Target
from jobs.automations.queue import enqueue_firings
from jobs.automations.run import sweep_firings
from jobs.automations.scan import JOB_GRACE, issue_payload
from jobs.clock import utcnow
from jobs.context import Context
from sandbox.server import RunningSandbox
from store import automations as firings
from store.automations import NewFiring
from tests.conftest import REPO_ROOT
from tests.jobs.automations.conftest import with_automations
from tests.jobs.automations.test_engine import marked_comments
from tests.jobs.conftest import process_env, sandbox_issues, wait_until
from tests.reliability.test_automation_faults import NUDGE  # the fault suite's rule: a comment, a label

TRAP = "hub:trap:firing-acted"


def start_worker(ctx: Context, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"],
        cwd=REPO_ROOT,
        env={**process_env(ctx), "HUB_CONFIG": str(ctx.settings.HUB_CONFIG), **env},
        start_new_session=True,
    )


def stop(worker: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        worker.wait(timeout=20)


def test_a_firing_whose_worker_was_killed_is_run_again_at_the_next_sweep_without_repeating_its_action(
    ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    actx = with_automations(ctx, tmp_path / "rules", NUDGE)
    tracker = actx.tracker("jira")
    key = tracker.create_issue(IssueDraft(Target("jira", "SUP", "Task"), "Kill me", "b", "k1")).key
    firing = NewFiring("nudge", "jira", key, "kill-test", issue_payload(tracker.get_state(key)))
    assert firings.insert(actx.engine, [firing], utcnow(), JOB_GRACE) == [firing.id]
    actx.redis.set(TRAP, "1")
    assert enqueue_firings(actx.redis, [firing.id]) == 1

    # the worker comments, then stops before it saves that it did: killed there
    worker = start_worker(actx, HUB_TEST_TRAPS="1")
    try:
        wait_until(lambda: actx.redis.exists(f"{TRAP}:caught"), 60, "the worker at the trap")
    finally:
        stop(worker, signal.SIGKILL)
    held = firings.get(actx.engine, firing.id)
    assert held is not None and held.status == "running" and held.actions_done == {}
    assert held.lease_until is not None and held.lease_until > utcnow()  # the lease has minutes to run
    assert len(marked_comments(actx, key)) == 1

    # the scheduler's sweep (run here, its clock the real one: the lease never runs out in this test)
    worker = start_worker(actx)
    try:

        def finished() -> bool:
            sweep_firings(actx)
            now = firings.get(actx.engine, firing.id)
            return now is not None and now.status == "done"

        wait_until(finished, 90, "the firing done again before its lease ran out")
    finally:
        stop(worker, signal.SIGTERM)
    done = firings.get(actx.engine, firing.id)
    assert done is not None and done.attempts == 2
    assert len(marked_comments(actx, key)) == 1  # found by its marker, not written again
    [issue] = sandbox_issues(jira_sandbox)
    assert "nudged" in issue["fields"]["labels"]
