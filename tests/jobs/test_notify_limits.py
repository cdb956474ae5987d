"""jobs.notify_limits against a real Redis, on an explicit clock: one notification per issue and status
per window, an hourly cap per customer, and a retried notification let through again."""

from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis

from jobs.notify_limits import check_status_notification
from store.links import Link

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def link(issue_key: str = "SUP-1", chat_id: int | None = 42, email: str | None = None) -> Link:
    return Link(
        id=1,
        conversation_key=f"tg:{chat_id}:0",
        tracker="jira",
        issue_key=issue_key,
        issue_url=f"http://jira.test/browse/{issue_key}",
        channel="telegram" if chat_id is not None else "email",
        requester_name="Ann",
        requester_email=email,
        telegram_chat_id=chat_id,
        telegram_thread_id=None,
        language="en",
        subject="",
        active=True,
        previous_issue_key=None,
        message_id="m0",
    )


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return Redis.from_url(redis_url)


def check(redis: Redis, target: Link, status: str, message_id: str, minutes: float, **limits: int) -> str:
    settings = {"repeat_minutes": 60, "per_hour": 6, **limits}
    return check_status_notification(
        redis, target, status, message_id, T0 + dt.timedelta(minutes=minutes), **settings
    )


def test_the_same_status_of_an_issue_is_notified_once_per_window(redis: Redis) -> None:
    assert check(redis, link(), "In Progress", "m1", 0) == "allowed"
    assert check(redis, link(), "in progress", "m2", 5) == "repeat"
    assert check(redis, link(), "Waiting for customer", "m3", 6) == "allowed"
    assert check(redis, link("SUP-2"), "In Progress", "m4", 7) == "allowed"  # another issue
    assert check(redis, link(), "In Progress", "m5", 61) == "allowed"  # the window has passed


def test_a_retry_of_an_allowed_notification_is_allowed_again(redis: Redis) -> None:
    assert check(redis, link(), "In Progress", "m1", 0, per_hour=1) == "allowed"
    assert check(redis, link(), "In Progress", "m1", 3, per_hour=1) == "allowed"  # its send failed: retry
    assert check(redis, link(), "Done", "m2", 4, per_hour=1) == "cap"


def test_the_hourly_cap_is_per_customer_across_issues(redis: Redis) -> None:
    verdicts = [check(redis, link(f"SUP-{n}"), "In Progress", f"m{n}", n, per_hour=3) for n in range(4)]
    assert verdicts == ["allowed", "allowed", "allowed", "cap"]
    assert check(redis, link("SUP-9", chat_id=43), "In Progress", "x1", 4, per_hour=3) == "allowed"
    by_mail = link("SUP-10", chat_id=None, email="Bob@Customer.example")
    assert check(redis, by_mail, "In Progress", "x2", 4, per_hour=3) == "allowed"
    assert check(redis, link("SUP-5"), "In Progress", "m5", 61, per_hour=3) == "allowed"  # an hour later


def test_no_repeat_window_when_it_is_zero(redis: Redis) -> None:
    assert [check(redis, link(), "In Progress", f"m{n}", n, repeat_minutes=0) for n in range(3)] == [
        "allowed"
    ] * 3
