"""GuardedTracker: the protocol's new parts go through the breaker like the old ones, and its plain
attributes (an instance's name and kind) stay readable while the circuit is open."""

from __future__ import annotations

import uuid

import pytest
import responses
from redis import Redis

from connector.breaker import CallState, CircuitBreaker, GuardedTracker
from connector.errors import CircuitOpen, TrackerUnavailable
from connector.kaiten import KaitenTracker
from connector.types import SearchQuery, Target

ORIGIN = "https://acme.kaiten.ru"


def test_field_schema_is_guarded_and_kind_and_name_are_not(redis_url: str) -> None:
    breaker = CircuitBreaker(Redis.from_url(redis_url), f"kaiten-{uuid.uuid4().hex}")
    guarded = GuardedTracker(KaitenTracker(ORIGIN, "t", name="kaiten-sales", read_retries=0), breaker)
    breaker.failed(
        TrackerUnavailable("down", retry_after=60, status=503), CallState(probe=False, strikes=False)
    )
    with responses.RequestsMock() as rsps:
        assert (guarded.name, guarded.kind) == ("kaiten-sales", "kaiten")
        with pytest.raises(CircuitOpen) as caught:
            guarded.field_schema(Target("kaiten-sales", "10"))
        assert caught.value.tracker == breaker.name
        assert len(rsps.calls) == 0  # paused: nothing was sent


def test_a_search_s_later_pages_go_through_the_breaker(redis_url: str) -> None:
    # search() is lazy: its second page is fetched while the caller reads, after the call returned
    breaker = CircuitBreaker(Redis.from_url(redis_url), f"kaiten-{uuid.uuid4().hex}")
    guarded = GuardedTracker(KaitenTracker(ORIGIN, "t", name="kaiten-sales", read_retries=0), breaker)
    card = {"id": 1, "title": "One", "board_id": 10, "column_id": 101, "state": 1, "condition": 1}
    with responses.RequestsMock() as rsps:
        rsps.get(f"{ORIGIN}/api/latest/cards", json=[card])
        rsps.get(f"{ORIGIN}/api/latest/cards", status=503)
        pages = guarded.search(SearchQuery(containers=("10",)), page_size=1)
        assert next(pages).ref.key == "1"
        with pytest.raises(TrackerUnavailable) as caught:
            next(pages)
        assert caught.value.tracker == breaker.name  # named, so the job knows what it waits for
        assert len(rsps.calls) == 2
        with pytest.raises(CircuitOpen):  # and counted: the circuit is open now
            guarded.comments("1")
        assert len(rsps.calls) == 2
