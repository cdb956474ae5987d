"""Jira Cloud's bulk move, for one issue: submit the task, poll it with back-off, read the outcome.

``POST /rest/api/3/bulk/issues/move`` (v3 only; no v2 path) takes ``{"sendBulkNotification",
"targetToSourcesMapping": {"<project>,<issueTypeId>": {"issueIdsOrKeys": [...], "inferFieldDefaults",
"inferStatusDefaults", "inferSubtaskTypeDefault", "inferClassificationDefaults",
"targetMandatoryFields": [{"fields": {id: {"retain", "type": "raw", "value": [str]}}}]}}}`` and answers
201 ``{"taskId"}``; ``GET /rest/api/3/bulk/queue/{taskId}`` answers ``BulkOperationProgress`` with
``status`` ENQUEUED, RUNNING, then COMPLETE (or FAILED, CANCELLED, DEAD), and when done
``processedAccessibleIssues`` (ids moved) and ``failedAccessibleIssues`` (id → reasons). Tasks are kept 14
days. The moved issue keeps its id and gets a key in the target project. (Cloud OpenAPI spec,
``submitBulkMove`` and ``getBulkOperationProgress``; research/jira.md §1.10.)

"Only 5 concurrent requests can be sent across all users" of a site (spec, *Issue bulk operations*), so
a move first takes one of :data:`MAX_CONCURRENT` slots per site: in Redis when the tracker has one (all
processes share them), else in the process. A slot is a lease: a holder that died frees it after
:data:`SLOT_LEASE`. A task being polled is remembered by issue id, so a move that gave up waiting (or
whose process died) resumes polling the same task instead of submitting a second one. Nothing here is
retried blindly: a refusal raises ``TrackerRejected`` for the caller to take another way.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis import Redis
from redis.exceptions import RedisError

from connector.errors import CircuitOpen, TrackerRejected, TrackerUnavailable
from connector.jira.client import JiraClient
from connector.jira.values import move_value
from connector.types import FieldSchema

log = logging.getLogger(__name__)

MAX_CONCURRENT = 5
SLOT_LEASE = 900.0  # seconds a slot is held at most
TASK_MEMORY = 14 * 24 * 3600  # Jira keeps a task's progress 14 days
FIRST_POLL, MAX_POLL = 1.0, 10.0  # seconds between polls: doubling from the first, capped
MOVE_TIMEOUT = 120.0  # seconds a move waits for its task before giving up for now
SLOT_WAIT = 30.0  # seconds a move waits for a free slot
DONE = frozenset({"COMPLETE", "FAILED", "CANCELLED", "DEAD"})


class MoveSlotsBusy(CircuitOpen):
    """Every move slot of the site is taken: the move was not sent. Not a failure of the tracker (the
    circuit breaker does not count it); try again after ``retry_after``."""


class MoveLedger(Protocol):
    """The site's move slots and the tasks being waited for."""

    def try_acquire(self, token: str) -> bool: ...
    def release(self, token: str) -> None: ...
    def task_for(self, issue_id: str) -> str | None: ...
    def remember(self, issue_id: str, task: str) -> None: ...
    def forget(self, issue_id: str) -> None: ...


class LocalLedger:
    """Slots and tasks in this process (a tracker without Redis)."""

    def __init__(self, clock: Callable[[], float], limit: int = MAX_CONCURRENT) -> None:
        self._clock = clock
        self._limit = limit
        self._slots: dict[str, float] = {}
        self._tasks: dict[str, str] = {}
        self._lock = threading.Lock()

    def try_acquire(self, token: str) -> bool:
        with self._lock:
            now = self._clock()
            self._slots = {t: until for t, until in self._slots.items() if until > now}
            if len(self._slots) >= self._limit:
                return False
            self._slots[token] = now + SLOT_LEASE
            return True

    def release(self, token: str) -> None:
        with self._lock:
            self._slots.pop(token, None)

    def task_for(self, issue_id: str) -> str | None:
        with self._lock:
            return self._tasks.get(issue_id)

    def remember(self, issue_id: str, task: str) -> None:
        with self._lock:
            self._tasks[issue_id] = task

    def forget(self, issue_id: str) -> None:
        with self._lock:
            self._tasks.pop(issue_id, None)


# KEYS[1] the slots (a sorted set: token → lease end, Redis time). ARGV: limit, lease seconds, token.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
return 1
"""


class RedisLedger:
    """Slots and tasks shared by every process through Redis (``trackerhub:jira-move:<host>:...``).

    Redis is not made a new point of failure: when it cannot be asked, a move goes without a slot (Jira
    enforces its own limit) and without resuming an earlier task.
    """

    def __init__(self, redis: Redis, url: str, limit: int = MAX_CONCURRENT) -> None:
        self._redis = redis
        self._limit = limit
        self._prefix = f"trackerhub:jira-move:{urlsplit(url).netloc or url}"
        self._acquire = redis.register_script(ACQUIRE_LUA)

    def try_acquire(self, token: str) -> bool:
        try:
            return bool(self._acquire(keys=[f"{self._prefix}:slots"], args=[self._limit, SLOT_LEASE, token]))
        except RedisError as exc:
            log.warning("jira.move_slots_unavailable error=%s", type(exc).__name__)
            return True

    def release(self, token: str) -> None:
        self._quietly(lambda: self._redis.zrem(f"{self._prefix}:slots", token))

    def task_for(self, issue_id: str) -> str | None:
        value = self._quietly(lambda: self._redis.get(f"{self._prefix}:task:{issue_id}"))
        return value.decode() if isinstance(value, bytes) else value if isinstance(value, str) else None

    def remember(self, issue_id: str, task: str) -> None:
        self._quietly(lambda: self._redis.set(f"{self._prefix}:task:{issue_id}", task, ex=TASK_MEMORY))

    def forget(self, issue_id: str) -> None:
        self._quietly(lambda: self._redis.delete(f"{self._prefix}:task:{issue_id}"))

    @staticmethod
    def _quietly(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except RedisError as exc:
            log.warning("jira.move_ledger_unavailable error=%s", type(exc).__name__)
            return None


def move_mapping(key: str, project: str, issue_type_id: str, mandatory: Mapping[str, list[str]]) -> Any:
    """The submit body moving ``key`` to ``project`` (key) and issue type (id): statuses, sub-task types
    and classifications Jira infers; mandatory fields from ``mandatory`` when given (replacing the
    issue's own values), else inferred from the issue."""
    mapping: dict[str, Any] = {
        "issueIdsOrKeys": [key],
        "inferFieldDefaults": not mandatory,
        "inferStatusDefaults": True,
        "inferSubtaskTypeDefault": True,
        "inferClassificationDefaults": True,
    }
    if mandatory:
        fields = {fid: {"retain": False, "type": "raw", "value": value} for fid, value in mandatory.items()}
        mapping["targetMandatoryFields"] = [{"fields": fields}]
    return {"sendBulkNotification": False, "targetToSourcesMapping": {f"{project},{issue_type_id}": mapping}}


def mandatory_fields(schema: FieldSchema, fields: Mapping[str, Any]) -> dict[str, list[str]]:
    """``fields`` (by id or name, as the target's create screen names them) as a move's mandatory field
    values; ``TrackerRejected`` for a field the screen does not have or a value it does not allow."""
    out = {}
    for id_or_name, value in fields.items():
        spec = schema.field(id_or_name)
        if spec is None:
            names = [f.name for f in schema.fields]
            where = schema.target.container
            raise TrackerRejected(f"{id_or_name!r} is not a field of {where}; it has {names}", 400)
        out[spec.id] = move_value(spec, value)
    return out


class BulkMover:
    """Runs one issue's bulk move task on a Cloud site; ``clock`` and ``sleep`` are injected for tests."""

    def __init__(
        self,
        http: JiraClient,
        ledger: MoveLedger,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        timeout: float = MOVE_TIMEOUT,
    ) -> None:
        self._http = http
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep
        self._timeout = timeout

    def forget(self, issue_id: str) -> None:
        """The issue is where it should be: no task to resume for it."""
        self._ledger.forget(issue_id)

    def move(self, issue_id: str, body: Any) -> None:
        """Submit ``body`` (or resume the task already submitted for the issue) and wait for it; returns
        when the issue has moved. ``TrackerRejected`` when Jira refused or the task did not move it;
        ``TrackerUnavailable`` when it is still running after ``timeout`` (calling again resumes it)."""
        task = self._ledger.task_for(issue_id)
        token = None
        if task is None:
            token = self._take_slot()
            try:
                answer = self._http.request("POST", "bulk/issues/move", body=body, api="3") or {}
            except BaseException:
                self._ledger.release(token)
                raise
            task = str(answer.get("taskId") or "")
            if not task:
                self._ledger.release(token)
                raise TrackerUnavailable("jira accepted the move without a task id")
            self._ledger.remember(issue_id, task)
            log.info("jira.move_submitted issue=%s task=%s", issue_id, task)
        try:
            progress = self._wait(issue_id, task)
        except TrackerUnavailable:
            raise  # the task may still be running: its slot stays taken until its lease runs out
        except BaseException:
            self._release(token)
            raise
        self._release(token)
        self._ledger.forget(issue_id)
        _check_outcome(progress, issue_id, task)

    def _release(self, token: str | None) -> None:
        if token is not None:
            self._ledger.release(token)

    def _take_slot(self) -> str:
        token = uuid.uuid4().hex
        deadline = self._clock() + SLOT_WAIT
        delay = FIRST_POLL
        while not self._ledger.try_acquire(token):
            if self._clock() + delay > deadline:
                raise MoveSlotsBusy(f"{MAX_CONCURRENT} jira moves are running already", retry_after=MAX_POLL)
            self._sleep(delay)
            delay = min(delay * 2, MAX_POLL)
        return token

    def _wait(self, issue_id: str, task: str) -> dict[str, Any]:
        deadline = self._clock() + self._timeout
        delay = FIRST_POLL
        while True:
            self._sleep(delay)
            try:
                progress = self._http.request("GET", f"bulk/queue/{task}", api="3") or {}
            except TrackerRejected:
                self._ledger.forget(issue_id)  # an unknown or expired task: nothing to resume
                raise
            if progress.get("status") in DONE:
                return dict(progress)
            if self._clock() + delay > deadline:
                raise TrackerUnavailable(
                    f"jira move task {task} is still {progress.get('status')}", retry_after=MAX_POLL
                )
            delay = min(delay * 2, MAX_POLL)


def _check_outcome(progress: dict[str, Any], issue_id: str, task: str) -> None:
    """Raise ``TrackerRejected`` unless the finished task moved the issue."""
    failed = progress.get("failedAccessibleIssues") or {}
    reasons = failed.get(issue_id) if isinstance(failed, dict) else None
    moved = {str(i) for i in progress.get("processedAccessibleIssues") or []}
    if progress.get("status") == "COMPLETE" and issue_id in moved:
        return
    why = "; ".join(str(r) for r in reasons) if reasons else "it was not moved (invalid or not visible)"
    raise TrackerRejected(f"jira move task {task} ended {progress.get('status')}: {why}", 400)
