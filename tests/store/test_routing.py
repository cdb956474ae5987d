"""Routing requests and their audit, on SQLite and PostgreSQL: one live request per source issue even
when two calls race, a lease that a dead worker's request runs out of, and an audit of every end."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from store import routing
from store.journal import utcnow


def add(
    engine: Engine, route: str = "hardware", key: str = "SUP-1", **extra: object
) -> tuple[routing.RouteRequest, bool]:
    options: dict[str, object] = {
        "route": route,
        "source_tracker": "jira",
        "source_key": key,
        "requested_by": "coordinator",
        "via": "api",
        "supplied": {"Spare parts": "PSU"},
        "field_values": {"Priority": "High"},
        "lease_seconds": 60,
        **extra,
    }
    return routing.add_request(engine, **options)  # type: ignore[arg-type]


def test_a_request_is_journaled_queued_with_what_was_supplied_and_audited(engine: Engine) -> None:
    request, made = add(engine)

    assert made and request.status == routing.QUEUED and not request.finished
    assert (request.route, request.source_tracker, request.source_key) == ("hardware", "jira", "SUP-1")
    assert request.supplied == {"Spare parts": "PSU"} and request.steps == {}
    [entry] = routing.read_audit(engine)
    assert (entry.request_id, entry.result, entry.actor, entry.field_values) == (
        request.id,
        "requested",
        "coordinator",
        {"Priority": "High"},
    )


def test_two_racing_requests_for_one_issue_end_in_one_row(engine: Engine) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: add(engine), range(8)))

    assert len({request.id for request, _ in results}) == 1
    assert sum(made for _, made in results) == 1


def test_an_ended_request_frees_the_issue_and_a_done_one_is_found_again_within_the_window(
    engine: Engine,
) -> None:
    first, _ = add(engine)
    routing.set_target(engine, first.id, "jira", "HW-1", "http://jira/browse/HW-1")
    done = routing.finish(engine, first.id, routing.DONE, field_values={"Spare parts": "PSU"})
    assert done is not None and (done.status, done.target_key) == ("done", "HW-1")

    window = dt.timedelta(minutes=10)
    assert routing.recent_request(engine, "hardware", "jira", "SUP-1", window) == done
    assert routing.recent_request(engine, "database", "jira", "SUP-1", window) is None
    assert routing.recent_request(engine, "hardware", "jira", "SUP-1", dt.timedelta(0)) is None
    second, made = add(engine)
    assert made and second.id != first.id
    assert routing.finish(engine, first.id, routing.FAILED, reason="late") is None  # ended stays ended
    assert [e.result for e in routing.read_audit(engine, issue="HW-1")] == ["done"]


def test_a_claim_holds_the_request_until_its_lease_runs_out(engine: Engine) -> None:
    request, _ = add(engine)
    now = utcnow()

    held = routing.claim(engine, request.id, 60, now=now)
    assert held is not None and (held.status, held.attempts) == ("running", 1)
    assert routing.claim(engine, request.id, 60, now=now) is None  # another job: the lease holds
    assert routing.due_requests(engine, now) == []

    later = now + dt.timedelta(seconds=61)  # the worker died: nothing renewed the lease
    assert routing.due_requests(engine, later) == [request.id]
    again = routing.claim(engine, request.id, 60, now=later)
    assert again is not None and again.attempts == 2


def test_steps_accumulate_and_the_audit_filters(engine: Engine) -> None:
    first, _ = add(engine)
    routing.record_step(engine, first.id, "target", "HW-1")
    assert routing.record_step(engine, first.id, "digest", "10001") == {"target": "HW-1", "digest": "10001"}
    add(engine, route="database", key="SUP-2")

    assert [e.source_key for e in routing.read_audit(engine, route="database")] == ["SUP-2"]
    assert {e.source_key for e in routing.read_audit(engine, since=utcnow() - dt.timedelta(minutes=1))} == {
        "SUP-1",
        "SUP-2",
    }
    assert routing.read_audit(engine, since=utcnow() + dt.timedelta(minutes=1)) == []
