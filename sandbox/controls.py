"""The state a tracker look-alike keeps in its app, and the ``/_sandbox`` controls that act on it.

``/_sandbox/faults`` (POST adds a rule, see ``FaultBook.add``, and answers 403 unless the look-alike was
started with fault injection; GET lists; DELETE clears), ``/_sandbox/stats`` (requests per method and
URL rule, row counts, faults injected), ``POST /_sandbox/reset`` (wipe the data, forget faults,
statistics and webhook delivery records), ``GET|DELETE /_sandbox/webhook-deliveries`` (the webhooks
sent, oldest first) and ``POST /_sandbox/webhooks/flush`` (wait until none is pending). Like every
control, they answer only the control token (``sandbox.server``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.faults import FaultBook, FaultsDisabled
from sandbox.server import CONTROL_PREFIX
from sandbox.store import SqliteStore, request_db
from sandbox.webhooks import WebhookSender, flush_within

log = logging.getLogger(__name__)

STATE_KEY = "trackerhub.sandbox"  # where the app keeps its state, in ``app.extensions``


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
    """What every tracker look-alike keeps in ``app.extensions[STATE_KEY]``; a subclass adds its own.

    ``name`` is the look-alike's ("jira"); ``counted`` maps a ``/_sandbox/stats`` field to the table it
    counts.
    """

    name: ClassVar[str]
    counted: ClassVar[Mapping[str, str]] = {}

    store: SqliteStore
    faults: FaultBook
    stats: Stats
    webhooks: WebhookSender

    def extra_stats(self) -> dict[str, Any]:
        """Fields ``/_sandbox/stats`` shows after ``faults_injected``."""
        return {}

    def reset(self) -> None:
        """``/_sandbox/reset``: wipe the data, forget faults, statistics and webhook deliveries."""
        self.store.wipe()
        self.faults.clear()
        self.stats.clear()
        self.webhooks.forget()


def current_state() -> SandboxStateBase:
    state: SandboxStateBase = current_app.extensions[STATE_KEY]
    return state


bp = Blueprint("sandbox_controls", __name__)


@bp.post(CONTROL_PREFIX + "/faults")
def add_fault() -> tuple[Response, int]:
    try:
        rule = current_state().faults.add(request.get_json(silent=True, force=True))
    except FaultsDisabled as exc:
        return jsonify(error=str(exc)), 403
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(rule.describe()), 201


@bp.get(CONTROL_PREFIX + "/faults")
def list_faults() -> Response:
    return jsonify(faults=[r.describe() for r in current_state().faults.rules()])


@bp.delete(CONTROL_PREFIX + "/faults")
def clear_faults() -> tuple[str, int]:
    current_state().faults.clear()
    return "", 204


@bp.get(CONTROL_PREFIX + "/stats")
def sandbox_stats() -> Response:
    state = current_state()
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


@bp.post(CONTROL_PREFIX + "/reset")
def sandbox_reset() -> tuple[str, int]:
    state = current_state()
    state.reset()
    log.info("sandbox %s: reset", state.name)
    return "", 204


@bp.get(CONTROL_PREFIX + "/webhook-deliveries")
def webhook_deliveries() -> Response:
    """Every delivery (oldest first): event, url, status, attempts, identifier, state, error."""
    return jsonify(current_state().webhooks.deliveries())


@bp.delete(CONTROL_PREFIX + "/webhook-deliveries")
def forget_webhook_deliveries() -> tuple[str, int]:
    current_state().webhooks.forget()
    return "", 204


@bp.post(CONTROL_PREFIX + "/webhooks/flush")
def flush_webhooks() -> tuple[Response, int]:
    """Wait (``?timeout=`` seconds, default 10, at most 60) until no delivery is queued or in flight:
    200 when done, 504 when some still are."""
    answer, status = flush_within(current_state().webhooks, request.args.get("timeout", type=float))
    return jsonify(answer), status
