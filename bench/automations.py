"""Automations benchmark: what one scan of five rules over 1,000 and 10,000 open issues costs.

Why: issue 14's target is one paged search per rule per scan plus one call per action, and nothing per
issue a rule does not fire for, so the cost of a scan per issue stays flat as the tracker grows. The
baseline is the same scan at the smallest size, in the same run: the ratios to it must stay near 1.

What it does (``.venv/bin/python bench/automations.py``):

1. starts a private ``redis-server`` and the sandbox Jira in its own process, a fresh SQLite database;
2. opens issues in the sandbox (bulk creates) up to each size: 10% Highest, 30% unassigned, 1% with a
   "Contract end" date within 30 days;
3. at each size and each tracker latency (0 and 50 ms, a fault rule of the sandbox) scans five rules
   (``jobs.automations.scan.scan_rule``) in this process: a scheduled rule firing for the Highest ones, an
   unassigned digest, a contract-end date rule (its field looked up by name), a stuck rule and a quiet
   customer rule (facts from the journal); for each: tracker calls (the sandbox's own counters), wall
   time, this process's CPU time, firings stored; then runs a sample of the firings (one call each);
4. reports memory (this process's peak RSS) and rewrites its section of ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from pydantic import SecretStr

from bench.common import (
    BENCHMARKS_MD,
    OtherLoad,
    Sandbox,
    command_line,
    http_json,
    jira_sandbox,
    machine,
    machine_line,
    markers,
    memory_kb,
    ms,
    publish,
    redis_pid,
    redis_server,
    report,
    run_main,
    stats_delta,
    utc_now_text,
)
from config.settings import Settings
from connector.types import SearchQuery, Target
from jobs.automations.model import AssignAction, AutomationRule, DigestAction, IssueFacts, SetAction
from jobs.automations.run import run_firing_with
from jobs.automations.scan import scan_rule
from jobs.context import Context, build_context
from jobs.registry import Every
from store import automations as firings
from store.db import create_db_engine

SECTION = "automations"
PROJECT = "SUP"
AUTH = {"Authorization": "Bearer sandbox"}
NOW = dt.datetime(2027, 3, 1, 7, 5, tzinfo=dt.UTC)
OPEN = SearchQuery(containers=(PROJECT,), not_done=True)


def five_rules(size: int) -> list[AutomationRule]:
    """The five rules a scan runs, named per size so each size fires afresh."""

    def stuck(state: Any, now: dt.datetime, facts: IssueFacts) -> str | None:
        since = facts.status_since or state.created
        return f"status:{state.status}@{since}" if since and now - since > dt.timedelta(days=365) else None

    def quiet(_state: Any, now: dt.datetime, facts: IssueFacts) -> str | None:
        last = facts.last_customer_message
        return f"quiet:{last}" if last and now - last > dt.timedelta(days=2) else None

    def soon(_state: Any, now: dt.datetime, facts: IssueFacts) -> str | None:
        day = facts.date
        return f"date:{day}" if day and day - dt.timedelta(days=30) <= now.date() <= day else None

    every = Every(3600)
    return [
        AutomationRule(
            f"highest-{size}",
            "jira",
            (SetAction(add_labels=("urgent",)),),
            query=OPEN,
            schedule=every,
            accepts=lambda state, _now: state.priority == "Highest",
        ),
        AutomationRule(
            f"digest-{size}",
            "jira",
            (DigestAction(critical=("Highest",)),),
            query=replace(OPEN, assignee_empty=True),
            schedule=every,
        ),
        AutomationRule(
            f"contract-{size}",
            "jira",
            (AssignAction(user="jsmith"),),
            query=OPEN,
            schedule=Every(300),
            occurrence=soon,
            date_field="Contract end",
            target=Target("jira", PROJECT, "Task"),
        ),
        AutomationRule(
            f"stuck-{size}",
            "jira",
            (SetAction(add_labels=("stuck",)),),
            query=OPEN,
            schedule=Every(300),
            occurrence=stuck,
            facts=frozenset({"status_since"}),
        ),
        AutomationRule(
            f"quiet-{size}",
            "jira",
            (SetAction(add_labels=("quiet",)),),
            query=OPEN,
            schedule=Every(300),
            occurrence=quiet,
            facts=frozenset({"last_customer_message"}),
        ),
    ]


def open_issues(sandbox: Sandbox, start: int, end: int) -> None:
    """Bulk-create issues ``start``..``end``-1 in the sandbox (50 a call)."""
    for first in range(start, end, 50):
        updates = []
        for n in range(first, min(first + 50, end)):
            fields: dict[str, Any] = {
                "project": {"key": PROJECT},
                "issuetype": {"name": "Task"},
                "summary": f"bench issue {n}",
                "description": "b",
                "priority": {"name": "Highest" if n % 10 == 0 else "Medium"},
            }
            if n % 10 >= 3:
                fields["assignee"] = {"name": "iivanov"}
            if n % 100 == 5:
                fields["customfield_10030"] = (NOW.date() + dt.timedelta(days=20)).isoformat()
            updates.append({"fields": fields})
        http_json(f"{sandbox.url}/rest/api/2/issue/bulk", {"issueUpdates": updates}, headers=AUTH)


@dataclass
class RuleScan:
    rule: str
    calls: dict[str, int]
    wall_s: float
    cpu_s: float
    fired: int


@dataclass
class Point:
    size: int
    latency_ms: int
    scans: list[RuleScan] = field(default_factory=list)
    actions_run: int = 0
    action_calls: int = 0
    action_cpu_s: float = 0.0
    action_wall_s: float = 0.0
    other_load: float = 0.0

    @property
    def calls(self) -> int:
        return sum(sum(scan.calls.values()) for scan in self.scans)

    @property
    def wall_s(self) -> float:
        return sum(scan.wall_s for scan in self.scans)

    @property
    def cpu_s(self) -> float:
        return sum(scan.cpu_s for scan in self.scans)


def measure(ctx: Context, sandbox: Sandbox, size: int, latency_ms: int, sample: int) -> Point:
    """Scan the five rules once each over ``size`` open issues; run a sample of the firings."""
    sandbox.clear_faults()
    if latency_ms:
        sandbox.add_fault(latency_ms=latency_ms)
    point = Point(size, latency_ms)
    load = OtherLoad([sandbox.pid, redis_pid(ctx.settings.REDIS_URL or "")])
    rules = {rule.name: rule for rule in five_rules(size * 10 + latency_ms)}
    for rule in rules.values():
        before, cpu, wall = sandbox.stats(), time.process_time(), time.monotonic()
        result = scan_rule(ctx, rule, NOW, force=True)
        point.scans.append(
            RuleScan(
                rule.name.rsplit("-", 1)[0],
                stats_delta(sandbox.stats(), before),
                time.monotonic() - wall,
                time.process_time() - cpu,
                len(result.new),
            )
        )
    highest = firings.of_rule(ctx.engine, f"highest-{size * 10 + latency_ms}")[:sample]
    before, cpu, wall = sandbox.stats(), time.process_time(), time.monotonic()
    for firing in highest:
        run_firing_with(ctx, firing.id, NOW, rules)
    point.action_wall_s = time.monotonic() - wall
    point.action_cpu_s = time.process_time() - cpu
    point.action_calls = sum(stats_delta(sandbox.stats(), before).values())
    point.actions_run = len(highest)
    point.other_load = load.share()
    sandbox.clear_faults()
    report(
        f"  {size} issues, {latency_ms} ms: {point.calls} tracker calls, {point.wall_s:.2f} s, "
        f"{point.cpu_s * 1e6 / size:.0f} µs CPU per issue; "
        f"{point.actions_run} firings run: {point.action_calls} calls"
    )
    return point


def render_section(points: list[Point], info: dict[str, str], command: str, peak_kib: int | None) -> str:
    begin, end = markers(SECTION)
    lines = [
        begin,
        "## Automations: one scan of five rules",
        "",
        f"- Command: `{command}`; {utc_now_text()}",
        f"- Machine: {machine_line(info)}",
        "- Five rules scanned once each over the sandbox Jira's open issues: Highest → label (scheduled), "
        "an unassigned digest, a contract-end date rule (its field looked up by name), a stuck rule and a "
        "quiet-customer rule (facts from the journal). *Calls* are the sandbox's own request counters; "
        "*CPU* is the hub's process (the tracker's time is not in it).",
        f"- Peak RSS of the process (the hub's side, all sizes): {peak_kib / 1024:.1f} MiB"
        if peak_kib
        else "- Peak RSS: n/a",
        "",
        "| issues | latency | tracker calls (per rule) | wall, five scans | hub CPU per issue, five scans "
        "| ratio to the smallest | firings stored | firings run: calls each, CPU each | other load |",
        "|---:|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    base = {p.latency_ms: p for p in points if p.size == min(q.size for q in points)}
    for point in points:
        per_rule = ", ".join(f"{s.rule} {sum(s.calls.values())}" for s in point.scans)
        per_issue = point.cpu_s / point.size
        ratio = per_issue / (base[point.latency_ms].cpu_s / base[point.latency_ms].size)
        each = point.action_calls / point.actions_run if point.actions_run else 0.0
        cpu_each = point.action_cpu_s / point.actions_run if point.actions_run else 0.0
        lines.append(
            f"| {point.size:,} | {point.latency_ms} ms | {point.calls} ({per_rule}) | {point.wall_s:.2f} s "
            f"| {per_issue * 1e6:.0f} µs | {ratio:.2f} | {sum(s.fired for s in point.scans)} "
            f"| {point.actions_run}: {each:.1f}, {ms(cpu_each * 1000)} | {point.other_load:.0%} |"
        )
    searches = {s.rule: s.calls for s in points[-1].scans}
    lines += [
        "",
        "Calls of the last row's scans, by route: "
        + "; ".join(
            f"{rule}: {', '.join(f'{k} × {v}' for k, v in calls.items())}" for rule, calls in searches.items()
        )
        + ". A scan is its search's pages (100 issues a page) and, for the date rule, the field schema "
        "once (cached); no call is made per issue a rule does not fire for. The wall time at 10,000 is "
        "mostly the look-alike's own search time (the hub's share is the CPU column); *other load* is what "
        "other processes took of the machine meanwhile (a shared machine: read the ratios, not the "
        "absolute figures).",
        end,
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--latencies", default="0,50")
    parser.add_argument("--sample", type=int, default=50, help="firings run per point")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    latencies = [int(x) for x in args.latencies.split(",") if x.strip()]
    info = machine()
    report(f"automations benchmark: {info['cpus']} CPUs, sizes {sizes}, latencies {latencies}")
    points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="trackerhub-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'hub.sqlite3'}"
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(jira_sandbox(workdir))
        create_db_engine(database_url).dispose()
        settings = Settings(
            REDIS_URL=redis_url,
            DATABASE_URL=database_url,
            JIRA_URL=sandbox.url,
            JIRA_TOKEN=SecretStr("sandbox"),
        )
        ctx = build_context(settings)
        stack.callback(ctx.engine.dispose)
        opened = 0
        for size in sizes:
            report(f"  opening issues {opened}..{size}")
            open_issues(sandbox, opened, size)
            opened = size
            points += [measure(ctx, sandbox, size, latency, args.sample) for latency in latencies]
    section = render_section(points, info, command_line("automations.py", argv), memory_kb(_self_pid()))
    publish(section, args.output, SECTION, write=not args.no_write)


def _self_pid() -> int:
    return os.getpid()


if __name__ == "__main__":
    run_main(main)
