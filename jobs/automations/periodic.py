"""The automations' periodic jobs, registered in the scheduler's registry (jobs/registry.py).

- ``automations-scan``: the scheduler only enqueues a scan (one waiting at a time); a worker runs it,
  so a slow tracker never stretches the scheduler's tick (the journal's sweep keeps its 5 s). One scan
  runs at a time (a Redis lock renewed as it goes: a worker killed mid-scan holds it ``LOCK_TTL`` at
  most); two would still store each firing once;
- ``automations-sweep``: enqueue firings whose job is due and may be gone.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from redis import Redis
from rq import Queue

from jobs.automations.model import AutomationRule
from jobs.automations.rules import rules_of
from jobs.automations.run import sweep_firings
from jobs.automations.scan import ScanResult, scan_rule
from jobs.clock import utcnow
from jobs.context import Context, get_context
from jobs.queues import PERIODIC_QUEUE
from jobs.registry import Every, Registry

log = logging.getLogger(__name__)

SCAN_EVERY = 5.0  # seconds; a rule's own schedule decides whether a scan searches at all (one query)
SWEEP_EVERY = 5.0  # as the journal's sweep: a lost firing job is found within a tick
SCAN_FUNC = "jobs.automations.periodic.scan_job"
SCAN_WAITING = "hub:automations:scan-waiting"  # a scan job is queued (set by the scheduler)
SCAN_LOCK = "hub:automations:scan-lock"  # a worker is scanning
LOCK_TTL = 30  # seconds; renewed after each page a scan stores
SCAN_TIMEOUT = 1800  # seconds of one scan job (10,000 issues at 50 ms a page take about 80 s)


def register_automation_jobs(registry: Registry, ctx: Context) -> None:
    registry.register("automations-scan", Every(SCAN_EVERY), lambda: enqueue_scan(ctx.redis))
    registry.register("automations-sweep", Every(SWEEP_EVERY), lambda: sweep_firings(ctx))


def enqueue_scan(redis: Redis) -> bool:
    """Enqueue a scan unless one is waiting already (the flag lapses if its job was lost)."""
    if not redis.set(SCAN_WAITING, "1", nx=True, ex=int(SCAN_EVERY * 12)):
        return False
    Queue(PERIODIC_QUEUE, connection=redis).enqueue(
        SCAN_FUNC, job_timeout=SCAN_TIMEOUT, result_ttl=0, failure_ttl=3600, description="automations scan"
    )
    return True


def scan_job() -> int:
    """RQ entry point of the scan."""
    return scan_with(get_context())


def scan_with(ctx: Context) -> int:
    """Scan every due rule, unless another worker is scanning; how many rules were scanned."""
    ctx.redis.delete(SCAN_WAITING)
    token = secrets.token_hex(8)
    if not ctx.redis.set(SCAN_LOCK, token, nx=True, ex=LOCK_TTL):
        return 0
    try:
        return len(scan_all(ctx, renew=lambda: ctx.redis.expire(SCAN_LOCK, LOCK_TTL)))
    finally:
        if ctx.redis.get(SCAN_LOCK) == token.encode():
            ctx.redis.delete(SCAN_LOCK)


def scan_all(
    ctx: Context,
    rules: dict[str, AutomationRule] | None = None,
    renew: Callable[[], object] | None = None,
) -> list[ScanResult]:
    """Scan each scanned rule; one rule's failure (its tracker down) does not hold back the others."""
    now = utcnow()
    results = []
    for rule in (rules if rules is not None else rules_of(ctx)).values():
        if not rule.scanned:
            continue
        try:
            results.append(scan_rule(ctx, rule, now, on_page=renew))
        except Exception as exc:
            log.warning("automations.scan-failed rule=%s error=%s: %s", rule.name, type(exc).__name__, exc)
    return results
