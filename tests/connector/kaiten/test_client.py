"""KaitenClient's transport against mocked HTTP: errors mapped, reads retried briefly, the limiter asked
first, the token never leaked; and the catalogue reads ``check`` and ``kaiten ls`` use."""

from __future__ import annotations

import time
import traceback
from typing import Any

import pytest
import requests
import responses

from connector.errors import TrackerRejected, TrackerUnavailable
from connector.kaiten import KaitenTracker
from connector.kaiten.client import reset_delay, split_url
from tests.connector.kaiten.factories import API, ORIGIN, TOKEN, body_of, draft, live_card


@responses.activate(assert_all_requests_are_fired=True)
def test_429_retry_after_comes_from_ratelimit_reset(tracker: KaitenTracker) -> None:
    reset = int(time.time()) + 7
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    responses.post(API + "/cards/1/comments", status=429, headers=headers, json={"message": "Too many"})
    with pytest.raises(TrackerUnavailable) as caught:
        tracker.add_comment("1", "hello hub-1", "hub-1")
    assert caught.value.retry_after is not None
    assert 5.5 <= caught.value.retry_after <= 7.0


def test_reset_delay_edges() -> None:
    now = 1_700_000_000.0
    assert reset_delay({"X-RateLimit-Reset": "1700000000"}, now=now + 0.4) == 1.0  # at least one second
    assert reset_delay({"X-RateLimit-Reset": "1700000010"}, now=now) == 10.0
    assert reset_delay({"X-RateLimit-Reset": "1700000010000"}, now=now) == 10.0  # milliseconds
    assert reset_delay({"X-RateLimit-Reset": "3"}, now=now) == 3.0  # a delay, not an epoch
    assert reset_delay({}, now=now) == 1.0
    assert reset_delay({"Retry-After": "4"}, now=now) == 4.0
    assert reset_delay({"X-RateLimit-Reset": "soon"}, now=now) == 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
@responses.activate(assert_all_requests_are_fired=True)
def test_5xx_is_unavailable(tracker: KaitenTracker, status: int) -> None:
    responses.post(API + "/cards", status=status, body="<html>Bad gateway</html>")
    with pytest.raises(TrackerUnavailable):
        tracker.create_issue(draft())
    assert len(responses.calls) == 1  # a create is never retried inside


@pytest.mark.parametrize("error", [requests.ConnectionError("reset"), requests.ConnectTimeout("slow")])
@responses.activate(assert_all_requests_are_fired=True)
def test_connection_errors_are_unavailable(tracker: KaitenTracker, error: Exception) -> None:
    responses.post(API + "/cards", body=error)
    with pytest.raises(TrackerUnavailable) as caught:
        tracker.create_issue(draft())
    assert type(caught.value) is TrackerUnavailable


@pytest.mark.parametrize("status", [400, 403, 404])
@responses.activate(assert_all_requests_are_fired=True)
def test_4xx_is_rejected_with_kaitens_message(tracker: KaitenTracker, status: int) -> None:
    responses.post(API + "/cards", status=status, json={"message": "Column not found"})
    with pytest.raises(TrackerRejected) as caught:
        tracker.create_issue(draft())
    assert caught.value.status == status
    assert "Column not found" in str(caught.value)


@responses.activate(assert_all_requests_are_fired=True)
def test_402_feature_not_in_tariff_is_rejected(tracker: KaitenTracker) -> None:
    responses.get(API + "/spaces", status=402, json={"message": "Feature is not supported by tariff"})
    with pytest.raises(TrackerRejected) as caught:
        tracker.list_spaces()
    assert caught.value.status == 402


@responses.activate(assert_all_requests_are_fired=True)
def test_token_never_in_exception_text() -> None:
    tracker = KaitenTracker(ORIGIN, TOKEN, read_retries=0)
    responses.post(API + "/cards", status=400, json={"message": "bad"})
    responses.get(API + "/cards/1", body=requests.ConnectionError(f"failed with Bearer {TOKEN}"))
    responses.get(API + "/cards/2", status=401, body="Invalid token")
    responses.post(API + "/cards/3/comments", status=429, headers={"X-RateLimit-Reset": "0"})
    failures: list[BaseException] = []
    for action in (
        lambda: tracker.create_issue(draft()),
        lambda: tracker.get_card(1),
        lambda: tracker.get_card(2),
        lambda: tracker.add_comment("3", "x", "x"),
    ):
        with pytest.raises((TrackerRejected, TrackerUnavailable)) as caught:
            action()
        failures.append(caught.value)
    for exc in failures:
        text = "".join(traceback.format_exception(exc))
        assert TOKEN not in text
        assert TOKEN not in repr(exc)


@responses.activate(assert_all_requests_are_fired=True)
def test_reads_are_retried_briefly_writes_are_not() -> None:
    tracker = KaitenTracker(ORIGIN, TOKEN, read_retries=2)
    responses.get(API + "/cards/5", status=503)
    responses.get(API + "/cards/5", json=live_card(id=5))
    assert tracker.get_card(5)["id"] == 5
    assert len(responses.calls) == 2
    responses.post(API + "/cards/5/comments", status=503)
    with pytest.raises(TrackerUnavailable):
        tracker.add_comment("5", "hi", "hub-1")
    assert len(responses.calls) == 3


@responses.activate(assert_all_requests_are_fired=True)
def test_reads_do_not_wait_out_a_long_rate_limit() -> None:
    tracker = KaitenTracker(ORIGIN, TOKEN, read_retries=2)
    reset = int(time.time()) + 60
    responses.get(API + "/cards/5", status=429, headers={"X-RateLimit-Reset": str(reset)})
    with pytest.raises(TrackerUnavailable) as caught:
        tracker.get_card(5)
    assert caught.value.retry_after is not None and caught.value.retry_after > 50
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("url", "origin", "api"),
    [
        ("https://acme.kaiten.ru", ORIGIN, API),
        ("https://acme.kaiten.ru/", ORIGIN, API),
        ("https://acme.kaiten.ru/api/latest", ORIGIN, API),
        ("https://acme.kaiten.ru/api/v1/", ORIGIN, ORIGIN + "/api/v1"),
        (
            "https://kaiten.example.com/api",
            "https://kaiten.example.com",
            "https://kaiten.example.com/api/latest",
        ),
    ],
)
def test_url_forms(url: str, origin: str, api: str) -> None:
    assert split_url(url) == (origin, api)
    assert KaitenTracker(url, TOKEN).issue_url("12") == origin + "/12"


class CountingLimiter:
    def __init__(self) -> None:
        self.calls = 0

    def acquire(self, timeout: float | None = None) -> float:
        self.calls += 1
        return 0.0


@responses.activate(assert_all_requests_are_fired=True)
def test_limiter_is_asked_before_every_request() -> None:
    limiter = CountingLimiter()
    tracker = KaitenTracker(ORIGIN, TOKEN, limiter=limiter, read_retries=0)  # type: ignore[arg-type]
    responses.post(API + "/cards", json=live_card(id=9))
    responses.post(API + "/cards/9/tags", json={"id": 1, "name": "x"})
    tracker.create_issue(draft())
    assert limiter.calls == len(responses.calls) == 3


@responses.activate(assert_all_requests_are_fired=True)
def test_move_and_archive_patch_the_card(tracker: KaitenTracker) -> None:
    responses.patch(API + "/cards/12", json=live_card(id=12))
    tracker.move_card(12, board_id="20", column_id=201, lane_id=211)
    tracker.archive_card("12")
    assert body_of(responses.calls[0]) == {"board_id": 20, "column_id": 201, "lane_id": 211}
    assert body_of(responses.calls[1]) == {"condition": 2}


@responses.activate(assert_all_requests_are_fired=True)
def test_catalogue_reads(tracker: KaitenTracker) -> None:
    responses.get(API + "/spaces", json=[{"id": 9, "title": "Demo space"}])
    responses.get(API + "/spaces/9/boards", json=[{"id": 10, "title": "Support"}])
    responses.get(API + "/boards/10/columns", json=[{"id": 101, "title": "To do", "type": 1}])
    responses.get(API + "/boards/10/lanes", json=[{"id": 111, "title": "Default", "condition": 1}])
    responses.get(API + "/card-types", json=[{"id": 2, "name": "Bug"}])
    responses.get(API + "/company/custom-properties", json=[{"id": 501, "name": "Team", "type": "select"}])
    responses.get(API + "/company/custom-properties/501/select-values", json=[{"id": 601, "value": "iOS"}])
    responses.get(API + "/users", json=[{"id": 3, "full_name": "Bob"}])
    assert tracker.list_spaces()[0]["id"] == 9
    assert tracker.list_boards(9)[0]["id"] == 10
    assert tracker.list_columns(10)[0]["type"] == 1
    assert tracker.list_lanes(10)[0]["id"] == 111
    assert tracker.list_card_types()[0]["name"] == "Bug"
    assert tracker.list_properties()[0]["type"] == "select"
    assert tracker.list_select_values(501)[0]["value"] == "iOS"
    assert tracker.list_users()[0]["id"] == 3


def test_from_settings_builds_a_limiter_without_the_token(settings: Any, redis_url: str) -> None:
    from pydantic import SecretStr
    from redis import Redis

    configured = settings.model_copy(update={"KAITEN_URL": ORIGIN, "KAITEN_TOKEN": SecretStr(TOKEN)})
    tracker = KaitenTracker.from_settings(configured, redis=Redis.from_url(redis_url))
    assert tracker.limiter is not None and TOKEN not in tracker.limiter.key
