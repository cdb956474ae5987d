"""JiraTracker.move: Cloud's bulk move task (submitted, polled with back-off, read) in the spec's shapes;
Data Center cannot move; at most 5 moves run per site, shared through Redis.

Shapes: the Cloud OpenAPI spec in ``shared/fixtures/jira`` — ``submitBulkMove`` (``IssueBulkMovePayload``
→ 201 ``{"taskId"}``, 400 ``{"errors": [{"message"}]}``) and ``getBulkOperationProgress``
(``BulkOperationProgress``: RUNNING, then COMPLETE with ``processedAccessibleIssues`` /
``failedAccessibleIssues``). No test waits: the tracker's clock and sleep are fakes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from redis import Redis
from responses import matchers

from connector.breaker import CircuitBreaker, GuardedTracker
from connector.errors import MoveUnsupported, TrackerRejected, TrackerUnavailable
from connector.jira import JiraTracker
from connector.jira.move import MAX_CONCURRENT, MoveSlotsBusy, RedisLedger
from connector.types import Target
from tests.connector.fakes import FakeClock

URL = "https://example.atlassian.net"
API = f"{URL}/rest/api/2"
BULK = f"{URL}/rest/api/3/bulk"
HW_TASK = Target("jira", "HW", issue_type="Task")


def server_info(deployment: str) -> dict[str, object]:
    return {"baseUrl": URL, "versionNumbers": [1001, 0, 0], "deploymentType": deployment}


@pytest.fixture
def cloud() -> Iterator[responses.RequestsMock]:
    """Cloud, with SUP-1 (id 10042, a Task in SUP) and the HW project's issue types."""
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info("Cloud"))
        rsps.get(
            f"{API}/issue/SUP-1",
            match=[matchers.query_param_matcher({"fields": "project,issuetype"})],
            json={"id": "10042", "key": "SUP-1", "fields": {"project": {"key": "SUP"}, "issuetype": {"id": "10002", "name": "Task"}}},
        )  # fmt: skip
        rsps.get(
            f"{API}/project/HW",
            json={"id": "10002", "key": "HW", "issueTypes": [{"id": "10002", "name": "Task"}, {"id": "10004", "name": "Bug"}]},
        )  # fmt: skip
        yield rsps


def tracker(time: FakeClock, redis: Redis | None = None) -> JiraTracker:
    return JiraTracker(URL, user="bot@example.com", password="t", clock=time, sleep=time.sleep, redis=redis)


def progress(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "taskId": "10641",
        "status": status,
        "progressPercent": 100 if status == "COMPLETE" else 40,
        **extra,
    }


def moved_to(rsps: responses.RequestsMock, key: str) -> None:
    rsps.get(f"{API}/issue/10042", json={"id": "10042", "key": key, "fields": {"project": {"key": "HW"}}})


def test_a_cloud_move_submits_the_task_polls_it_with_back_off_and_returns_the_new_key(
    cloud: responses.RequestsMock,
) -> None:
    submit = cloud.post(f"{BULK}/issues/move", status=201, json={"taskId": "10641"})
    polls = [progress("ENQUEUED"), progress("RUNNING"), progress("RUNNING")]
    polls.append(progress("COMPLETE", processedAccessibleIssues=[10042], failedAccessibleIssues={}))
    for answer in polls:
        cloud.get(f"{BULK}/queue/10641", json=answer)
    moved_to(cloud, "HW-7")
    time = FakeClock()

    ref = tracker(time).move("SUP-1", HW_TASK)

    assert (ref.key, ref.url, ref.id) == ("HW-7", f"{URL}/browse/HW-7", "10042")
    assert submit.call_count == 1 and time.slept == [1.0, 2.0, 4.0, 8.0]
    assert json.loads(submit.calls[0].request.body) == {
        "sendBulkNotification": False,
        "targetToSourcesMapping": {
            "HW,10002": {
                "issueIdsOrKeys": ["SUP-1"],
                "inferFieldDefaults": True,
                "inferStatusDefaults": True,
                "inferSubtaskTypeDefault": True,
                "inferClassificationDefaults": True,
            }
        },
    }


CREATEMETA_FIELDS = {
    "fields": [
        {"fieldId": "summary", "name": "Summary", "required": True, "schema": {"type": "string", "system": "summary"}},
        {"fieldId": "customfield_10040", "name": "Spare parts", "required": True, "schema": {"type": "string", "custom": "x:textfield"}},
        {
            "fieldId": "customfield_10050",
            "name": "Equipment model",
            "required": False,
            "schema": {"type": "option", "custom": "x:select"},
            "allowedValues": [{"id": "10200", "value": "LaserJet 4250"}, {"id": "10201", "value": "PowerEdge R740"}],
        },
    ],
    "startAt": 0,
    "maxResults": 200,
    "total": 3,
}  # fmt: skip


def createmeta(rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{API}/issue/createmeta/HW/issuetypes",
        json={"issueTypes": [{"id": "10002", "name": "Task"}], "total": 1},
    )
    rsps.get(f"{API}/issue/createmeta/HW/issuetypes/10002", json=CREATEMETA_FIELDS)


def test_fields_given_by_name_become_the_target_s_mandatory_values(cloud: responses.RequestsMock) -> None:
    createmeta(cloud)
    submit = cloud.post(f"{BULK}/issues/move", status=201, json={"taskId": "10641"})
    cloud.get(f"{BULK}/queue/10641", json=progress("COMPLETE", processedAccessibleIssues=[10042]))
    moved_to(cloud, "HW-8")
    tracker(FakeClock()).move(
        "SUP-1", HW_TASK, fields={"Spare parts": "PSU, fan", "Equipment model": "laserjet 4250"}
    )
    mapping = json.loads(submit.calls[0].request.body)["targetToSourcesMapping"]["HW,10002"]
    assert mapping["inferFieldDefaults"] is False
    assert mapping["targetMandatoryFields"] == [
        {
            "fields": {
                "customfield_10040": {"retain": False, "type": "raw", "value": ["PSU, fan"]},
                "customfield_10050": {"retain": False, "type": "raw", "value": ["10200"]},
            }
        }
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"Colour": "red"}, "not a field of HW"), ({"Equipment model": "Abacus"}, "not an allowed value")],
)
def test_fields_the_target_does_not_take_are_refused_before_submitting(
    cloud: responses.RequestsMock, fields: dict[str, str], message: str
) -> None:
    createmeta(cloud)
    with pytest.raises(TrackerRejected, match=message):
        tracker(FakeClock()).move("SUP-1", HW_TASK, fields=fields)


def test_a_refused_move_is_a_rejection_the_caller_can_fall_back_from(cloud: responses.RequestsMock) -> None:
    cloud.post(
        f"{BULK}/issues/move", status=400, json={"errors": [{"message": "Some of the issues are not valid"}]}
    )
    cloud.post(f"{BULK}/issues/move", status=403, json={"errors": [{"message": "No bulk change permission"}]})
    time = FakeClock()
    jira = tracker(time)
    with pytest.raises(TrackerRejected, match="Some of the issues are not valid"):
        jira.move("SUP-1", HW_TASK)
    with pytest.raises(TrackerRejected, match="No bulk change permission") as caught:
        jira.move("SUP-1", HW_TASK)
    assert caught.value.status == 403
    for _ in range(MAX_CONCURRENT):  # the refused moves gave their slots back
        assert jira._mover._ledger.try_acquire(f"other-{_}")


def test_a_task_that_fails_the_issue_is_a_rejection_with_jira_s_reasons(
    cloud: responses.RequestsMock,
) -> None:
    cloud.post(f"{BULK}/issues/move", status=201, json={"taskId": "10641"})
    failed = {"10042": ["Spare parts is required."]}
    cloud.get(
        f"{BULK}/queue/10641",
        json=progress("COMPLETE", processedAccessibleIssues=[], failedAccessibleIssues=failed),
    )
    with pytest.raises(TrackerRejected, match="task 10641 ended COMPLETE: Spare parts is required."):
        tracker(FakeClock()).move("SUP-1", HW_TASK)


def test_a_move_still_running_after_the_timeout_resumes_the_same_task(cloud: responses.RequestsMock) -> None:
    submit = cloud.post(f"{BULK}/issues/move", status=201, json={"taskId": "10641"})
    running = cloud.get(f"{BULK}/queue/10641", json=progress("RUNNING"))
    time = FakeClock()
    jira = tracker(time)
    with pytest.raises(TrackerUnavailable, match="still RUNNING"):
        jira.move("SUP-1", HW_TASK)
    assert time.now - 1000.0 <= 120.0 + 10.0  # gave up at its timeout, not later
    cloud.replace(
        responses.GET, f"{BULK}/queue/10641", json=progress("COMPLETE", processedAccessibleIssues=[10042])
    )
    moved_to(cloud, "HW-9")
    assert jira.move("SUP-1", HW_TASK).key == "HW-9"
    assert submit.call_count == 1 and running.call_count > 1


def test_an_issue_there_already_is_not_moved_again(cloud: responses.RequestsMock) -> None:
    cloud.replace(
        responses.GET,
        f"{API}/issue/SUP-1",
        json={
            "id": "10042",
            "key": "HW-7",
            "fields": {"project": {"key": "HW"}, "issuetype": {"id": "10002", "name": "Task"}},
        },
    )  # Cloud answers a moved issue's old key with the issue under its new key
    ref = tracker(FakeClock()).move("SUP-1", Target("jira", "HW"))
    assert ref.key == "HW-7"  # no POST is mocked: none was sent


def test_data_center_cannot_move() -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/serverInfo", json=server_info("Server"))
        with pytest.raises(MoveUnsupported, match="JRASERVER-71343"):
            tracker(FakeClock()).move("SUP-1", HW_TASK)


# -- at most 5 moves per site ---------------------------------------------------------------------------


def test_the_sixth_concurrent_move_waits_then_gives_up_without_submitting(
    cloud: responses.RequestsMock,
) -> None:
    time = FakeClock()
    jira = tracker(time)
    for n in range(MAX_CONCURRENT):
        assert jira._mover._ledger.try_acquire(f"running-{n}")
    with pytest.raises(MoveSlotsBusy) as caught:
        jira.move("SUP-1", HW_TASK)  # no POST is mocked: none may be sent
    assert caught.value.retry_after and time.slept and sum(time.slept) <= 30.0


def test_slots_are_shared_by_every_process_through_redis(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    one, other = RedisLedger(redis, URL), RedisLedger(redis, URL)
    elsewhere = RedisLedger(redis, "https://other.atlassian.net")
    assert all(one.try_acquire(f"a{n}") for n in range(3)) and all(
        other.try_acquire(f"b{n}") for n in range(2)
    )
    assert not one.try_acquire("a3") and not other.try_acquire("b2")
    assert elsewhere.try_acquire("c0")  # another site has its own five
    other.release("b0")
    assert one.try_acquire("a3")
    other.remember("10042", "10641")
    assert one.task_for("10042") == "10641" and elsewhere.task_for("10042") is None


def test_a_full_site_does_not_count_against_the_tracker_s_circuit(
    cloud: responses.RequestsMock, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    time = FakeClock()
    for n in range(MAX_CONCURRENT):
        RedisLedger(redis, URL).try_acquire(f"running-{n}")
    breaker = CircuitBreaker(redis, "jira")
    guarded = GuardedTracker(tracker(time, redis=redis), breaker)
    for _ in range(6):
        with pytest.raises(MoveSlotsBusy):
            guarded.move("SUP-1", HW_TASK)
    assert redis.hgetall(breaker.key) == {}  # no strikes, circuit closed
