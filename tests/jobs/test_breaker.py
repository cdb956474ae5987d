"""The tracker's circuit breaker: a failing tracker pauses every worker, and its recovery wakes the backlog.

Through the real path: ``Context.tracker`` hands out the Jira connector behind its breaker, the
deliveries run against the sandbox Jira with injected faults, and the sandbox counts what reached it.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests
from redis import Redis

from connector.breaker import STRIKES, CallState, CircuitBreaker
from connector.errors import CircuitOpen, TrackerUnavailable
from jobs.context import Context
from jobs.deliver import deliver_with
from mappers.models import Attachment
from sandbox.server import RunningSandbox
from store import journal, leases
from tests.conftest import free_port
from tests.jobs.conftest import (
    add_fault,
    journal_message,
    pause_elapsed,
    sandbox_issues,
    tracker_calls,
    wait_until,
)
from tests.mappers.factories import telegram_message
from tests.sandboxes import CONTROL


def tracker_requests(sandbox: RunningSandbox) -> int:
    return sum(tracker_calls(sandbox).values())


def test_an_outage_pauses_calls_and_its_end_wakes_every_waiting_message(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"HUB_BULK_CREATE_MAX": 1})  # one message at a time
    add_fault(jira_sandbox, status=503, paths=["/rest/api/2/"])
    first = journal_message(ctx, telegram_message("first", chat_id=1))
    second = journal_message(ctx, telegram_message("second", chat_id=2))
    assert deliver_with(ctx, first) == "queued"  # the failure that opens the circuit

    before = tracker_requests(jira_sandbox)
    assert deliver_with(ctx, second) == "queued"
    assert tracker_requests(jira_sandbox) == before  # paused: nothing was sent
    waiting = journal.get(ctx.engine, second)
    assert waiting is not None
    assert waiting.attempts == 0  # waiting out someone else's outage costs no attempt
    assert (waiting.reason or "").startswith("waiting for jira: ")

    leases.schedule_retry(ctx.engine, second, 600, "waiting for jira: a long back-off")
    requests.delete(f"{jira_sandbox.url}/_sandbox/faults", headers=CONTROL, timeout=5)
    pause_elapsed(ctx)
    assert deliver_with(ctx, first) == "delivered"  # the probe: the tracker is back
    assert journal.due(ctx.engine) == [second]  # woken at once, not after its 10-minute back-off
    assert deliver_with(ctx, second) == "delivered"
    assert len(sandbox_issues(jira_sandbox)) == 2


def test_throttling_pauses_all_calls_for_the_trackers_retry_after(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    add_fault(jira_sandbox, status=429, retry_after=30, count=1, paths=["/rest/api/2/"])
    first = journal_message(ctx, telegram_message("throttled", chat_id=1))
    second = journal_message(ctx, telegram_message("behind it", chat_id=2))
    started = journal.utcnow()
    assert deliver_with(ctx, first) == "queued"
    before = tracker_requests(jira_sandbox)
    assert deliver_with(ctx, second) == "queued"
    assert tracker_requests(jira_sandbox) == before
    for message_id in (first, second):
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None and entry.next_attempt_at is not None
        assert entry.next_attempt_at >= started + dt.timedelta(seconds=29)


def test_a_rejection_during_the_probe_still_closes_the_circuit(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    add_fault(jira_sandbox, status=503, count=1, paths=["/rest/api/2/"])
    first = journal_message(ctx, telegram_message("first", chat_id=1))
    assert deliver_with(ctx, first) == "queued"
    pause_elapsed(ctx)
    add_fault(jira_sandbox, status=400, count=1, methods=["POST"], paths=["/rest/api/2/issue"])
    assert deliver_with(ctx, first) == "failed"  # the tracker answered: it is up
    assert list(ctx.redis.scan_iter("hub:breaker:*")) == []


def test_calls_without_an_answer_open_the_circuit_only_when_several_in_a_row(ctx: Context) -> None:
    breaker = CircuitBreaker(ctx.redis, "jira")
    timeout = TrackerUnavailable("jira unreachable: ReadTimeout")
    for _ in range(STRIKES - 1):
        breaker.failed(timeout, breaker.before_call())
    breaker.succeeded(breaker.before_call())  # an answered call in between: the slow ones were just slow
    for _ in range(STRIKES - 1):
        breaker.failed(timeout, breaker.before_call())
    assert breaker.before_call().probe is False  # still closed
    breaker.failed(timeout, breaker.before_call())
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_without_redis_the_breaker_lets_calls_through() -> None:
    breaker = CircuitBreaker(Redis(port=free_port(), socket_connect_timeout=0.5), "jira")
    call = breaker.before_call()
    assert call.probe is False
    breaker.failed(TrackerUnavailable("jira answered 429", retry_after=10, status=429), call)
    assert breaker.before_call().probe is False


def test_a_pause_after_the_comment_was_written_costs_the_attempt_and_no_second_comment(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    """Another worker opens the circuit while this one's comment is on its way; the file upload that
    follows finds it open. The retry must look for the comment, not write it again."""
    first = journal_message(ctx, telegram_message("Printer is on fire", chat_id=77))
    assert deliver_with(ctx, first) == "delivered"
    files = [Attachment(filename="photo.jpg", content_type="image/jpeg", data=b"\xff\xd8 jpeg")]
    follow_up = journal_message(
        ctx, telegram_message("Here is a photo", chat_id=77).model_copy(update={"attachments": files})
    )
    # Jira writes the comment, then answers 1.5 s later
    add_fault(
        jira_sandbox,
        latency_ms=1_500,
        count=1,
        methods=["POST"],
        paths=["/rest/api/2/issue/"],
        after_commit=True,
    )
    attempt = threading.Thread(target=deliver_with, args=(ctx, follow_up))
    attempt.start()
    wait_until(
        lambda: any("Here is a photo" in c["body"] for c in comments(jira_sandbox)), what="the comment"
    )
    # meanwhile another worker sees the tracker fail and opens the circuit
    CircuitBreaker(ctx.redis, "jira").failed(
        TrackerUnavailable("jira answered 429", retry_after=10, status=429), CallState(False, False)
    )
    attempt.join(timeout=30)
    waiting = journal.get(ctx.engine, follow_up)
    assert waiting is not None and waiting.status == "queued"
    assert waiting.attempts == 1  # counted: the comment exists, so the retry must know it was tried

    pause_elapsed(ctx)
    assert deliver_with(ctx, follow_up) == "delivered"
    assert sum("Here is a photo" in c["body"] for c in comments(jira_sandbox)) == 1
    [issue] = sandbox_issues(jira_sandbox)
    assert [a["filename"] for a in issue["fields"]["attachment"]] == ["photo.jpg"]


def comments(sandbox: RunningSandbox) -> list[dict[str, str]]:
    return [c for issue in sandbox_issues(sandbox) for c in issue["fields"]["comment"]["comments"]]
