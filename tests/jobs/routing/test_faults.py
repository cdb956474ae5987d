"""Routing survives what delivery survives: a worker SIGKILLed between "create target" and "close
source", and a tracker outage in the middle of a route, each end with one target, one link, one
digest and a closed source once the sweep has handed the request to a new job."""

from __future__ import annotations

import datetime as dt
import os
import signal

import requests
from rq import Queue

from connector.types import IssueRef
from jobs.context import Context
from jobs.routing import api
from jobs.routing.job import run_route_with
from jobs.routing.queue import ROUTE_QUEUE, route_job_id
from jobs.routing.sweep import sweep_routes
from sandbox.server import RunningSandbox
from store import routing as store
from tests.jobs.conftest import add_fault, pause_elapsed, sandbox_issues, wait_until
from tests.jobs.routing.conftest import issue_json
from tests.jobs.test_worker_kill import start_worker
from tests.sandboxes import CONTROL


def lease_ran_out(ctx: Context, request_id: str) -> dt.datetime:
    """A moment after the request's lease ends (time passing, without waiting for it)."""
    request = store.get_request(ctx.engine, request_id)
    assert request is not None and request.lease_until is not None
    return request.lease_until + dt.timedelta(seconds=1)


def assert_routed_once(sandbox: RunningSandbox, source: str, target: str) -> None:
    [issue] = sandbox_issues(sandbox, "project = DB")
    assert issue["key"] == target
    fields = issue_json(sandbox, target, "issuelinks,comment")["fields"]
    assert [link["type"]["name"] for link in fields["issuelinks"]] == ["Cloners"]
    digests = [c for c in fields["comment"]["comments"] if "Comments from" in c["body"]]
    assert len(digests) == 1
    closed = issue_json(sandbox, source, "status,comment")["fields"]
    assert closed["status"]["statusCategory"]["key"] == "done"
    assert sum("Moved to" in c["body"] for c in closed["comment"]["comments"]) == 1


def test_a_worker_killed_after_the_create_leaves_one_target_once_the_sweep_requeues(
    ctx: Context, jira_sandbox: RunningSandbox, source: IssueRef
) -> None:
    ctx.tracker("jira").add_comment(source.key, "Still smoking.", "hub-c1")
    add_fault(  # Jira creates the target, then holds its answer while the worker is killed
        jira_sandbox,
        latency_ms=60_000,
        count=1,
        methods=["POST"],
        paths=["/rest/api/2/issue"],
        after_commit=True,
    )
    request = api.submit(ctx, "database", source.key, {}, actor="ann", via="api")
    worker = start_worker(ctx)
    try:
        wait_until(lambda: len(sandbox_issues(jira_sandbox, "project = DB")) == 1, what="the target created")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    running = store.get_request(ctx.engine, request.id)
    assert running is not None and running.status == "running" and "target" not in running.steps

    later = lease_ran_out(ctx, request.id)
    assert sweep_routes(ctx, later) == 1  # RQ still thinks the job started; the lease says it died
    assert Queue(ROUTE_QUEUE, connection=ctx.redis).job_ids == [route_job_id(request.id)]
    done = run_route_with(ctx, request.id, now=later)

    assert done is not None and (done.status, done.target_key) == ("done", "DB-1")
    assert_routed_once(jira_sandbox, source.key, "DB-1")


def test_an_outage_mid_route_postpones_it_and_it_completes_once_after_recovery(
    ctx: Context, jira_sandbox: RunningSandbox, source: IssueRef
) -> None:
    ctx.tracker("jira").add_comment(source.key, "Still smoking.", "hub-c1")
    add_fault(jira_sandbox, status=503, methods=["POST"], paths=["/rest/api/2/issueLink"])
    request = api.submit(ctx, "database", source.key, {}, actor="ann", via="api")

    waiting = run_route_with(ctx, request.id)

    assert (
        waiting is not None
        and waiting.status == "queued"
        and "waiting for the tracker" in (waiting.reason or "")
    )
    assert {"target", "digest"} <= set(waiting.steps) and "link" not in waiting.steps
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    pause_elapsed(ctx)
    later = lease_ran_out(ctx, request.id)
    assert store.due_requests(ctx.engine, later) == [request.id]

    done = run_route_with(ctx, request.id, now=later)

    assert done is not None and done.status == "done" and done.reason is None
    assert_routed_once(jira_sandbox, source.key, "DB-1")
