"""The firing job (``auto-<firing id>``): claim the firing, run its actions in order, save each one done.

The firing row was committed before this job was enqueued, so a lost job is found again by the sweep
(:func:`sweep_firings`: a pending firing past its next attempt, a running one past its lease). A
tracker or channel outage gives the firing back with a growing delay (the tracker's circuit breaker
keeps the calls from hammering it meanwhile); a refusal fails it with the reason, for
``automations history`` to show.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from connector.errors import ChannelRejected, ChannelUnavailable, TrackerRejected, TrackerUnavailable
from jobs.attempts import trap_at
from jobs.automations.actions import ActionFailed, ActionRun, Progress, perform
from jobs.automations.model import AutomationRule
from jobs.automations.queue import FIRINGS, enqueue_firings, requeue_firings
from jobs.automations.rules import rules_of
from jobs.clock import utcnow
from jobs.context import Context, get_context
from jobs.delivery_jobs import remove_jobs
from jobs.recovery import gone_holders, live_workers
from store import automations as firings
from store.automations import Firing

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)  # longer than the job's timeout: a lease that ran out has no live worker
RETRY_DELAYS = (30, 60, 120, 300, 600, 1800)  # seconds, then every 30 minutes
MAX_ATTEMPTS = 24


def run_firing(firing_id: str) -> str:
    """RQ entry point."""
    return run_firing_with(get_context(), firing_id)


def run_firing_with(
    ctx: Context,
    firing_id: str,
    now: dt.datetime | None = None,
    rules: dict[str, AutomationRule] | None = None,
) -> str:
    """Run one firing's actions that are not done yet; return the status it is left in (or ``busy``)."""
    now = now or utcnow()
    firing = firings.claim(ctx.engine, firing_id, now, LEASE)
    if firing is None:
        return "busy"
    rule = (rules if rules is not None else rules_of(ctx)).get(firing.rule)
    if rule is None:
        firings.fail(ctx.engine, firing.id, f"rule {firing.rule!r} is no longer configured", now)
        return firings.FAILED
    try:
        _act(ctx, rule, firing, now)
    except (TrackerUnavailable, ChannelUnavailable) as exc:
        return _later(ctx, firing, f"{type(exc).__name__}: {exc}", now)
    except (TrackerRejected, ChannelRejected, ActionFailed) as exc:
        log.warning(
            "automations.firing-failed firing=%s rule=%s issue=%s reason=%s",
            firing.id,
            rule.name,
            firing.issue_key,
            exc,
        )
        firings.fail(ctx.engine, firing.id, f"{type(exc).__name__}: {exc}", now)
        return firings.FAILED
    firings.finish(ctx.engine, firing.id, now)
    log.info("automations.fired firing=%s rule=%s issue=%s", firing.id, rule.name, firing.issue_key)
    return firings.DONE


def _act(ctx: Context, rule: AutomationRule, firing: Firing, now: dt.datetime) -> None:
    done: Progress = dict(firing.actions_done)
    tracker = ctx.tracker(firing.tracker)

    def saver(index: int) -> Callable[[Progress], None]:
        def save(decided: Progress) -> None:
            done[f"{index}:decided"] = decided
            firings.save_progress(ctx.engine, firing.id, done, now)

        return save

    for index, action in enumerate(rule.actions):
        if str(index) in done:
            continue
        run = ActionRun(ctx, tracker, firing, index, saver(index), now)
        done[str(index)] = perform(run, action, done.get(f"{index}:decided"))
        trap_at(ctx, "firing-acted", [firing.id])  # the fault suite's kill: acted, not yet saved
        firings.save_progress(ctx.engine, firing.id, done, now)


def _later(ctx: Context, firing: Firing, reason: str, now: dt.datetime) -> str:
    if firing.attempts >= MAX_ATTEMPTS:
        firings.fail(ctx.engine, firing.id, f"gave up after {firing.attempts} attempts: {reason}", now)
        return firings.FAILED
    delay = RETRY_DELAYS[min(firing.attempts - 1, len(RETRY_DELAYS) - 1)]
    firings.retry_at(ctx.engine, firing.id, now + dt.timedelta(seconds=delay), reason, now)
    log.info("automations.retry firing=%s in=%ds reason=%s", firing.id, delay, reason)
    return firings.PENDING


def sweep_firings(ctx: Context, now: dt.datetime | None = None) -> int:
    """Enqueue the firings whose job is due and may be gone (a killed worker, a lost enqueue).

    First the firings whose worker is gone (:func:`recover_dead_firings`), at once; then those whose
    lease ran out or whose job never came (where Redis cannot say which workers live)."""
    now = now or utcnow()
    count = recover_dead_firings(ctx, now)
    ids = firings.abandoned(ctx.engine, now)
    count += requeue_firings(ctx.redis, ids) if ids else 0
    if count:
        log.info("automations.sweep-enqueued count=%d", count)
    return count


def recover_dead_firings(ctx: Context, now: dt.datetime) -> int:
    """Give the firings a SIGKILLed worker was running a new job now, not after their lease: the
    journal sweep's test of a gone worker (``jobs.recovery.gone_holders``: its Redis connections are
    closed). Their leases are given up first, so the new job may claim them, and the new job goes to the
    front of the queue (it was taken before what waits there now); the actions already done are not done
    again (each is idempotent: a marker or a lookup). A done firing's leftover job is only
    removed. How many got a new job."""
    gone, dead = gone_holders(ctx.redis, FIRINGS, live_workers(ctx.redis))
    if not gone:
        return 0
    unfinished = firings.release(ctx.engine, [state.message_id for state in gone], now)
    removed = remove_jobs(ctx.redis, FIRINGS, gone)
    count = enqueue_firings(ctx.redis, [fid for fid in removed if fid in unfinished], at_front=True)
    for firing_id in removed:
        log.warning("automations.worker-gone firing=%s workers=%s", firing_id, ",".join(sorted(dead)) or "-")
    return count
