"""The automations' periodic jobs, registered in the scheduler's registry (jobs/registry.py).

- ``automations-scan``: scan every scanned rule that is due (its schedule's due time not fired yet);
- ``automations-sweep``: enqueue firings whose job is due and may be gone.
"""

from __future__ import annotations

import logging

from jobs.automations.model import AutomationRule
from jobs.automations.rules import rules_of
from jobs.automations.run import sweep_firings
from jobs.automations.scan import ScanResult, scan_rule
from jobs.clock import utcnow
from jobs.context import Context
from jobs.registry import Every, Registry

log = logging.getLogger(__name__)

SCAN_EVERY = 5.0  # seconds; a rule's own schedule decides whether a scan searches at all (one query)
SWEEP_EVERY = 5.0  # as the journal's sweep: a lost firing job is found within a tick


def register_automation_jobs(registry: Registry, ctx: Context) -> None:
    registry.register("automations-scan", Every(SCAN_EVERY), lambda: scan_all(ctx))
    registry.register("automations-sweep", Every(SWEEP_EVERY), lambda: sweep_firings(ctx))


def scan_all(ctx: Context, rules: dict[str, AutomationRule] | None = None) -> list[ScanResult]:
    """Scan each scanned rule; one rule's failure (its tracker down) does not hold back the others."""
    now = utcnow()
    results = []
    for rule in (rules if rules is not None else rules_of(ctx)).values():
        if not rule.scanned:
            continue
        try:
            results.append(scan_rule(ctx, rule, now))
        except Exception as exc:
            log.warning("automations.scan-failed rule=%s error=%s: %s", rule.name, type(exc).__name__, exc)
    return results
