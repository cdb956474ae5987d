"""What the tracker stand-ins (``jira.py``, ``kaiten.py``) share: errors, SQLite store, fault injection,
request statistics, ``/_sandbox`` controls, the Flask app skeleton and the threaded servers.

What differs between them stays with them and comes in as a parameter or a small hook: the error
body (``SandboxError.body``), how an injected fault answers (``FaultBook``'s ``answer``), the schema
and first ids (``SqliteStore``'s class attributes), what ``/_sandbox/stats`` counts and what
``/_sandbox/reset`` forgets besides the data (``SandboxStateBase``).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import requests
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

CONTROL_PREFIX = "/_sandbox"

# --- errors --------------------------------------------------------------------------------------------


class SandboxError(Exception):
    """An error answer: ``status``, extra ``headers`` and the tracker's own JSON ``body()``."""

    def __init__(self, status: int, *details: object, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, *details)
        self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def response(self) -> Response:
        resp = jsonify(self.body())
        resp.status_code = self.status
        resp.headers.update(self.headers)
        return resp


# --- time stamps ---------------------------------------------------------------------------------------


def millis_stamp(moment: datetime, zone: str) -> str:
    """``2024-01-15T10:20:30.123`` in UTC followed by ``zone`` (``"Z"``, ``"+0000"``)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{zone}"


# --- storage -------------------------------------------------------------------------------------------


class SqliteStore:
    """The SQLite file: schema, connections and wipe; a subclass names its ``schema``, the first id of
    each AUTOINCREMENT table (``first_ids``) and the tables a wipe empties (``data_tables``)."""

    schema: ClassVar[str]
    first_ids: ClassVar[Mapping[str, int]]
    data_tables: ClassVar[Sequence[str]]

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(self.schema)
            self._seed_ids(conn)
        finally:
            conn.close()

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _seed_ids(self, conn: sqlite3.Connection) -> None:
        for table, first in self.first_ids.items():
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
                (table, first - 1, table),
            )

    def wipe(self) -> None:
        conn = self.connect()
        try:
            with transaction(conn):
                for table in self.data_tables:
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
                for table, first in self.first_ids.items():
                    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (first - 1, table))
        finally:
            conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the write lock up front (no upgrade deadlocks between writers)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def request_db(store: SqliteStore) -> sqlite3.Connection:
    """This request's connection (opened on first use, closed by ``close_request_db``)."""
    if "sandbox_db" not in g:
        g.sandbox_db = store.connect()
    conn: sqlite3.Connection = g.sandbox_db
    return conn


def close_request_db(_exc: BaseException | None) -> None:
    conn = g.pop("sandbox_db", None)
    if conn is not None:
        conn.close()


# --- fault injection -----------------------------------------------------------------------------------


@dataclass
class FaultRule:
    """One injected fault; see ``FaultBook.add`` for the JSON it is made from."""

    id: int
    latency_ms: int = 0
    status: int | None = None
    retry_after: int | None = None
    remaining: int | None = None
    expires_at: float | None = None
    methods: frozenset[str] | None = None
    paths: tuple[str, ...] | None = None
    after_commit: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.paths is None or any(path.startswith(p) for p in self.paths)

    def alive(self, now: float) -> bool:
        expired = self.expires_at is not None and now >= self.expires_at
        return not expired and (self.remaining is None or self.remaining > 0)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "retry_after": self.retry_after,
            "remaining": self.remaining,
            "expires_in_s": None if self.expires_at is None else max(0.0, self.expires_at - time.monotonic()),
            "methods": sorted(self.methods) if self.methods is not None else None,
            "paths": list(self.paths) if self.paths is not None else None,
            "after_commit": self.after_commit,
            "hits": self.hits,
        }


FAULT_KEYS = frozenset(
    {"latency_ms", "status", "retry_after", "count", "duration_s", "methods", "paths", "after_commit"}
)

FaultAnswer = Callable[[int, FaultRule], Response]
"""How a stand-in answers an injected fault: ``answer(status, rule)``."""


def _spec_int(spec: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{key}' must be an integer from {low} to {high}")
    return value


def _spec_strings(spec: dict[str, Any], key: str) -> list[str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise ValueError(f"'{key}' must be a list of non-empty strings")
    return value


class FaultBook:
    """Fault rules shared by all request threads, and their effect on requests.

    ``name`` and ``log`` are the stand-in's (messages read ``sandbox <name>: ...``); ``answer`` renders
    an injected error in the tracker's shape; ``latency_ms`` delays every request that faults apply to.
    """

    def __init__(self, name: str, answer: FaultAnswer, *, log: logging.Logger, latency_ms: int = 0) -> None:
        self.name = name
        self.answer = answer
        self.log = log
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self.injected = 0

    def add(self, spec: Any) -> FaultRule:
        """Add a rule from ``{"latency_ms", "status", "retry_after", "count", "duration_s", "methods",
        "paths", "after_commit"}`` (all optional); raise ``ValueError`` for a bad spec.

        ``status`` answers that status to matching requests (the headers it carries, ``Retry-After``
        or a rate limit's, are the stand-in's ``answer``); ``latency_ms`` delays them; ``count`` limits
        the rule to that many matching requests, ``duration_s`` to that many seconds (neither: until
        cleared); ``methods`` and ``paths`` (prefixes) select requests; ``after_commit`` does the work
        first, then delays or fails the answer.
        """
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(spec) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        duration = spec.get("duration_s")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
        ):
            raise ValueError("'duration_s' must be a positive number")
        if not isinstance(spec.get("after_commit", False), bool):
            raise ValueError("'after_commit' must be true or false")
        methods = _spec_strings(spec, "methods")
        paths = _spec_strings(spec, "paths")
        with self._lock:
            rule = FaultRule(
                id=self._next_id,
                latency_ms=_spec_int(spec, "latency_ms", 0, 600_000) or 0,
                status=_spec_int(spec, "status", 100, 599),
                retry_after=_spec_int(spec, "retry_after", 0, 86_400),
                remaining=_spec_int(spec, "count", 1, 10**9),
                expires_at=None if duration is None else time.monotonic() + float(duration),
                methods=frozenset(m.upper() for m in methods) if methods is not None else None,
                paths=tuple(paths) if paths is not None else None,
                after_commit=bool(spec.get("after_commit", False)),
            )
            self._next_id += 1
            self._rules.append(rule)
        self.log.info("sandbox %s: fault rule added %s", self.name, rule.describe())
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            self._prune()
            return list(self._rules)

    def claim(self, method: str, path: str, *, after_commit: bool) -> list[FaultRule]:
        """The live rules that apply to this request (each one uses up one of its ``count``)."""
        with self._lock:
            self._prune()
            claimed = []
            for rule in self._rules:
                if rule.after_commit == after_commit and rule.matches(method, path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    claimed.append(replace(rule))
            if any(r.status is not None for r in claimed):
                self.injected += 1
            return claimed

    def _prune(self) -> None:
        now = time.monotonic()
        self._rules = [r for r in self._rules if r.alive(now)]

    def respond(self, rules: list[FaultRule]) -> Response | None:
        """Sleep for the rules' latency; the injected error answer, if any rule has a status."""
        latency = sum(r.latency_ms for r in rules)
        if latency:
            time.sleep(latency / 1000)
        failing = next((r for r in rules if r.status is not None), None)
        if failing is None or failing.status is None:
            return None
        self.log.warning(
            "sandbox %s: injecting %s for %s %s", self.name, failing.status, request.method, request.path
        )
        return self.answer(failing.status, failing)

    def before_request(self) -> Response | None:
        """The base latency, then the rules that fail this request before it is served."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        injected = self.respond(self.claim(request.method, request.path, after_commit=False))
        if injected is not None:
            g.sandbox_faulted = True
        return injected

    def after_request(self, response: Response) -> Response:
        """The rules that delay or replace the answer of a request already served."""
        if g.get("sandbox_faulted"):
            return response
        rules = self.claim(request.method, request.path, after_commit=True)
        injected = self.respond(rules) if rules else None
        if injected is not None:
            self.log.warning(
                "sandbox %s: %s %s was done, its answer replaced", self.name, request.method, request.path
            )
            return injected
        return response


# --- request statistics and state ----------------------------------------------------------------------


class Stats:
    """Requests counted per method and URL rule."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def record_request(self) -> None:
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        self.record(f"{request.method} {rule}")

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass
class SandboxStateBase:
    """What every stand-in keeps in ``app.extensions``; a subclass adds its own.

    ``counted`` maps the ``/_sandbox/stats`` field to the table it counts.
    """

    counted: ClassVar[Mapping[str, str]] = {}

    store: SqliteStore
    faults: FaultBook
    stats: Stats

    def extra_stats(self) -> dict[str, Any]:
        """Fields ``/_sandbox/stats`` shows after ``faults_injected``."""
        return {}

    def reset(self) -> None:
        """``/_sandbox/reset``: wipe the data, forget faults and statistics."""
        self.store.wipe()
        self.faults.clear()
        self.stats.clear()


def is_control_request() -> bool:
    return request.path.startswith(CONTROL_PREFIX)


# --- request helpers -----------------------------------------------------------------------------------


def json_body(invalid: Callable[[], Exception]) -> Any:
    """The request's JSON body (whatever its content type); ``invalid()`` is raised when it is not JSON."""
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise invalid()
    return body


def int_arg(
    name: str,
    default: int,
    low: int,
    high: int,
    *,
    parse: Callable[[str], int | None],
    invalid: Callable[[str], Exception],
) -> int:
    """Query parameter ``name`` clamped to ``low..high``; ``default`` when absent or empty."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    number = parse(raw)
    if number is None:
        raise invalid(name)
    return max(low, min(high, number))


def html_response(text: str, status: int, csp: str) -> Response:
    resp = Response(text, status=status, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = csp
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


_F = TypeVar("_F", bound=Callable[..., Any])


class ApiRoute:
    """``@api_route(rule, methods)``: serve a view under each of ``prefixes`` of ``blueprint``."""

    def __init__(self, blueprint: Blueprint, prefixes: Sequence[str]) -> None:
        self.blueprint = blueprint
        self.prefixes = tuple(prefixes)

    def __call__(self, rule: str, methods: Sequence[str] = ("GET",)) -> Callable[[_F], _F]:
        def register(view: _F) -> _F:
            for prefix in self.prefixes:
                self.blueprint.add_url_rule(
                    prefix + rule, endpoint=view.__name__, view_func=view, methods=list(methods)
                )
            return view

        return register


# --- /_sandbox controls --------------------------------------------------------------------------------


def _state(extension: str) -> SandboxStateBase:
    state: SandboxStateBase = current_app.extensions[extension]
    return state


def add_control_routes(bp: Blueprint, extension: str, *, log: logging.Logger, name: str) -> None:
    """``/_sandbox/faults`` (POST adds, GET lists, DELETE clears), ``/_sandbox/stats`` and
    ``POST /_sandbox/reset`` on ``bp``, for the state kept under ``app.extensions[extension]``."""

    def add_fault() -> tuple[Response, int]:
        try:
            rule = _state(extension).faults.add(request.get_json(silent=True, force=True))
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(rule.describe()), 201

    def list_faults() -> Response:
        return jsonify(faults=[r.describe() for r in _state(extension).faults.rules()])

    def clear_faults() -> tuple[str, int]:
        _state(extension).faults.clear()
        return "", 204

    def sandbox_stats() -> Response:
        state = _state(extension)
        conn = request_db(state.store)
        counts = {
            key: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for key, table in state.counted.items()
        }
        return jsonify(
            requests=state.stats.snapshot(),
            **counts,
            faults_injected=state.faults.injected,
            **state.extra_stats(),
        )

    def sandbox_reset() -> tuple[str, int]:
        _state(extension).reset()
        log.info("sandbox %s: reset", name)
        return "", 204

    faults = CONTROL_PREFIX + "/faults"
    bp.add_url_rule(faults, view_func=add_fault, methods=["POST"])
    bp.add_url_rule(faults, view_func=list_faults, methods=["GET"])
    bp.add_url_rule(faults, view_func=clear_faults, methods=["DELETE"])
    bp.add_url_rule(CONTROL_PREFIX + "/stats", view_func=sandbox_stats)
    bp.add_url_rule(CONTROL_PREFIX + "/reset", view_func=sandbox_reset, methods=["POST"])


# --- outgoing webhooks --------------------------------------------------------------------------------


def hub_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``: the ``X-Hub-Signature`` of a webhook with a secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookDelivery:
    """One webhook to deliver: the same ``body`` and ``headers`` (so the same identifier) on every try."""

    event: str
    url: str
    identifier: str
    body: bytes
    headers: dict[str, str]
    state: str = "pending"  # pending | delivered | failed
    status: int | None = None  # the receiver's last HTTP status; None when it never answered
    attempts: int = 0
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "identifier": self.identifier,
            "state": self.state,
            "error": self.error,
        }


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class WebhookSender:
    """Delivers webhooks from one daemon thread, in the order they were queued, so the request that
    caused one never waits for it.

    A try that fails with a connection error, a timeout, a 5xx or a 429 is repeated after each pause of
    ``backoff`` (same body, same headers); any other answer ends the delivery. ``deliveries()`` keeps
    the last ``history`` deliveries for tests; ``flush()`` waits until nothing is queued or in flight.
    Proxy settings from the environment are ignored: the receivers are local.
    """

    def __init__(
        self,
        name: str,
        *,
        log: logging.Logger,
        timeout: float = 5.0,
        backoff: Sequence[float] = (0.5, 1.0),
        history: int = 1000,
    ) -> None:
        self.name = name
        self.log = log
        self.timeout = timeout
        self.backoff = tuple(backoff)
        self._queue: queue.SimpleQueue[WebhookDelivery] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0
        self._records: deque[WebhookDelivery] = deque(maxlen=history)
        self._thread: threading.Thread | None = None

    def send(self, event: str, url: str, body: bytes, headers: Mapping[str, str], identifier: str) -> None:
        """Queue one delivery (starts the delivery thread on first use)."""
        delivery = WebhookDelivery(event, url, identifier, body, dict(headers))
        with self._cond:
            self._pending += 1
            self._records.append(delivery)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"sandbox-{self.name}-webhooks", daemon=True
                )
                self._thread.start()
        self._queue.put(delivery)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued delivery to finish; False if some did not."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return self._pending

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.describe() for d in self._records]

    def forget(self) -> None:
        """Drop the delivery records (deliveries still queued go out all the same)."""
        with self._cond:
            self._records.clear()

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        while True:
            delivery = self._queue.get()
            try:
                self._deliver(session, delivery)
            except Exception as exc:  # never let one delivery stop the thread
                self.log.exception("sandbox %s: webhook delivery crashed", self.name)
                with self._cond:
                    delivery.state, delivery.error = "failed", repr(exc)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _deliver(self, session: requests.Session, delivery: WebhookDelivery) -> None:
        pauses = (*self.backoff, None)
        for pause in pauses:
            status: int | None = None
            error: str | None = None
            try:
                resp = session.post(
                    delivery.url, data=delivery.body, headers=delivery.headers, timeout=self.timeout
                )
                resp.close()
                status = resp.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._cond:
                delivery.attempts += 1
                delivery.status, delivery.error = status, error
                if status is not None and not _retryable(status):
                    delivery.state = "delivered" if status < 400 else "failed"
                    break
                if pause is None:
                    delivery.state = "failed"
                    break
            self.log.warning(
                "sandbox %s: webhook %s to %s failed (%s), retrying in %ss",
                self.name,
                delivery.event,
                delivery.url,
                status or error,
                pause,
            )
            time.sleep(pause)
        level = logging.INFO if delivery.state == "delivered" else logging.WARNING
        self.log.log(
            level,
            "sandbox %s: webhook %s to %s %s (%s, %d attempt(s))",
            self.name,
            delivery.event,
            delivery.url,
            delivery.state,
            delivery.status or delivery.error,
            delivery.attempts,
        )


# --- app skeleton and servers --------------------------------------------------------------------------


def sandbox_app(
    import_name: str,
    *,
    extension: str,
    state: SandboxStateBase,
    blueprint: Blueprint,
    max_content_length: int,
    before: Callable[[], Response | None],
    after: Callable[[Response], Response],
    http_error: Callable[[HTTPException], Response],
    unexpected: Callable[[Exception], Response],
) -> Flask:
    """A Flask app serving ``blueprint`` with ``state`` under ``app.extensions[extension]``: one
    database connection per request, ``SandboxError`` answered in its own shape, other HTTP errors by
    ``http_error`` and anything else by ``unexpected``."""
    app = Flask(import_name)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = max_content_length
    app.extensions[extension] = state
    app.register_blueprint(blueprint)
    app.before_request(before)
    app.after_request(after)
    app.teardown_appcontext(close_request_db)
    app.register_error_handler(SandboxError, lambda exc: exc.response())
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)
    return app


def threaded_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for ``app``; ``port=0`` picks a free port (``server.server_port``)."""
    return make_server(host, port, app, threaded=True)


@dataclass
class RunningSandbox:
    """A stand-in serving from a daemon thread: ``url``, ``app``, ``stop()``; also a context manager."""

    server: BaseWSGIServer
    thread: threading.Thread

    @classmethod
    def start(cls, server: BaseWSGIServer, thread_name: str) -> Self:
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=thread_name, daemon=True
        )
        thread.start()
        return cls(server, thread)

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.server_port}"

    @property
    def app(self) -> Flask:
        app: Flask = self.server.app  # type: ignore[assignment]
        return app

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def serve_until_interrupted(
    server: BaseWSGIServer, db_path: str | Path, *, log: logging.Logger, name: str
) -> None:
    log.info(
        "sandbox %s: serving on http://%s:%s (data in %s)", name, server.host, server.server_port, db_path
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def arg_parser(description: str, *, port: int, db: Path) -> argparse.ArgumentParser:
    """``--host``, ``--port`` and ``--db``, the options every stand-in's ``main`` takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--db", type=Path, default=db, help="SQLite file (default %(default)s)")
    return parser


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
