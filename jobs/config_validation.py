"""Validating a configuration as the admin types it (the console's editor, issue 16): the schema
(``config.loading.parse_config``), then, when that passes, ``trackerhub check`` against the live
trackers (``jobs.check.check_config``). Errors come back as ``config.problems.Problem`` with the entry,
the field and the YAML line where the text tells.

The editor validates about every 400 ms of typing, so the live check must neither hammer a tracker nor
hold a request:

- the trackers' answers (projects, create screens, fields, users, boards) are remembered for
  ``ANSWER_SECONDS`` per instance: a tracker instance is connected once and its reads are memoized, a
  failure (``UnknownTarget``, an unreachable tracker) included, so typing in a rule's ``when`` costs
  no request at all and a new project name one;
- the check runs in a small pool and a request waits for it at most ``CHECK_SECONDS``; past that the
  answer says the live check is pending (``live: "pending"``), the check goes on and fills the
  memory, and the editor asks again;
- one text is checked once at a time: a second request for the same text waits for the same run.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.loading import ConfigError
from config.problems import Problem, check_problems, schema_problems
from config.rules import HubConfig
from config.settings import Settings
from connector.cache import TtlCache
from connector.errors import TrackerError
from connector.instances import connect
from connector.jira import JiraTracker
from connector.kaiten import KaitenTracker
from jobs.check import Problems, check_config
from jobs.config_versions import validate as parse_text

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

ANSWER_SECONDS = 30.0  # how long a tracker's answers are reused while an admin types
CHECK_SECONDS = 4.0  # how long a request waits for the live check
SAVE_SECONDS = 20.0  # how long a save waits for it
CHECKED, SKIPPED, PENDING, OFF = "checked", "skipped", "pending", "off"
# The reads ``trackerhub check`` makes; each is memoized on a connected instance.
READS = (
    "server_info",
    "list_fields",
    "field_schema",
    "current_user",
    "list_users",
    "get_board",
    "list_spaces",
    "list_boards",
    "list_columns",
    "list_lanes",
)

Tracker = JiraTracker | KaitenTracker


@dataclass(frozen=True)
class Validation:
    """What a text is worth: its errors, the live check's notes, whether that check ran (``live``:
    checked, skipped for schema errors, pending past the wait, off), and the configuration when the
    schema passed."""

    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    live: str = OFF
    config: HubConfig | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        """Valid as far as checked: the schema passed, nothing was found, and no check is pending."""
        return self.config is not None and not self.problems and self.live != PENDING

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "live": self.live,
            "errors": [problem.as_dict() for problem in self.problems],
            "notes": list(self.notes),
        }


def validate(
    settings: Settings,
    text: str,
    *,
    live: bool = True,
    wait: float = CHECK_SECONDS,
    canned: Mapping[str, str] | None = None,
) -> Validation:
    """``text`` as the rule file with the canned library ``canned`` (a version's files; None: the
    folder): schema errors, else (with ``live``) the live check's, waiting for it at most ``wait``
    seconds."""
    path = Path(settings.HUB_CONFIG)
    try:
        config = parse_text(settings, text, canned)
    except ConfigError as exc:
        return Validation(tuple(schema_problems(str(exc), str(path), text)), live=SKIPPED)
    if not live:
        return Validation(config=config)
    try:
        problems = _checked(settings, config, text).result(timeout=wait)
    except FutureTimeout:
        log.info("config.check-pending waited=%s", wait)
        return Validation(config=config, live=PENDING)
    except Exception as exc:  # a bug in the check must not cost the admin the schema's answer
        log.exception("config.check-failed error=%s", type(exc).__name__)
        failed = Problem(f"the live check failed: {type(exc).__name__}: {exc}")
        return Validation((failed,), (), CHECKED, config)
    return Validation(tuple(check_problems(problems.errors, text)), tuple(problems.notes), CHECKED, config)


# --- the live check, bounded and remembered --------------------------------------------------------

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="config-check")
_running: dict[str, Future[Problems]] = {}
_running_lock = threading.Lock()
_trackers: TtlCache[Tracker] = TtlCache(ttl=ANSWER_SECONDS)


def _checked(settings: Settings, config: HubConfig, text: str) -> Future[Problems]:
    """The live check of ``text``: the one already running for it, else a new one in the pool."""
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with _running_lock:
        running = _running.get(key)
        if running is not None:
            return running
        future = _pool.submit(check_config, settings, config, remembering_connect)
        _running[key] = future
    future.add_done_callback(lambda _done: _forget(key))
    return future


def _forget(key: str) -> None:
    with _running_lock:
        _running.pop(key, None)


def remembering_connect(settings: Settings, config: HubConfig, name: str, redis: Redis | None) -> Tracker:
    """``connector.instances.connect``, but one instance per tracker (and its definition) for
    ``ANSWER_SECONDS``, whose reads are memoized for as long."""
    spec = config.trackers.get(name)
    key = (name, spec.model_dump_json() if spec is not None else "")
    return _trackers.get(key, lambda: memoized(connect(settings, config, name, redis)))


def memoized(tracker: Tracker) -> Tracker:
    """``tracker`` with each of its ``READS`` answering from memory after its first call with the same
    arguments; a tracker's refusal is remembered too (an unknown project stays unknown while typing)."""
    for name in READS:
        method = getattr(tracker, name, None)
        if method is not None:
            setattr(tracker, name, _remember(method))
    return tracker


def _remember(method: Callable[..., Any]) -> Callable[..., Any]:
    answers: dict[str, tuple[bool, Any]] = {}
    lock = threading.Lock()

    def read(*args: Any, **kwargs: Any) -> Any:
        key = repr((args, sorted(kwargs.items())))
        with lock:
            known = answers.get(key)
        if known is None:
            try:
                known = (True, method(*args, **kwargs))
            except TrackerError as exc:
                known = (False, exc)
            with lock:
                answers[key] = known
        ok, value = known
        if not ok:
            raise value
        return value

    return read


def forget_answers() -> None:
    """Forget the trackers' remembered answers (tests; an admin who just changed the tracker)."""
    _trackers.clear()
