"""Write RELIABILITY.md from the fault suite's results (``var/reliability/*.json``).

Run by ``make reliability`` after the suite: ``python -m tests.reliability.report``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

from tests.reliability.ledger import RESULTS

REPO = Path(__file__).resolve().parents[2]
ORDER = [
    "baseline",
    "tracker-outage",
    "throttling",
    "slow-tracker",
    "worker-killed",
    "slot-killed",
    "node-killed",
    "worker-gaps",
    "outside-run",
    "redis-restart",
    "duplicate-storm",
    "reply-loop",
    "node-lost",
    "split-conversation",
]
WHAT = {
    "baseline": "no fault",
    "tracker-outage": "the tracker answers 503 to everything for 30 s mid-run",
    "throttling": "the tracker answers 429 with `Retry-After: 5` for 20 s",
    "slow-tracker": "15 creates/comments answered after 4 s with a 3 s client timeout (done, answer lost)",
    "worker-killed": "a busy RQ worker SIGKILLed mid-delivery, 20 times",
    "slot-killed": "`worker --slots 4`: a busy slot SIGKILLed mid-delivery, 10 times, and the whole worker "
    "with its slots, 10 times",
    "node-killed": "`node --slots 4` (the web server, the slots and the scheduler in one process tree): a "
    "busy slot SIGKILLed mid-delivery, 10 times, and the whole node, 10 times",
    "worker-gaps": "a worker stopped at a trap and SIGKILLed in each gap between two writes: after BLPOP, "
    "after RQ registered the job, after the claim (the attempt counted) and the lock, twice inside a bulk take",
    "outside-run": "issue 22's run: 40 Telegram chats, a worker SIGKILLed every 25 messages, bursts of 503 "
    "(up to 30 calls) and 429 (up to 20) from the tracker, Redis SIGKILLed without persistence and restarted",
    "redis-restart": "redis-server SIGKILLed without persistence, restarted 3 s later; journal on PostgreSQL",
    "duplicate-storm": "every message posted 3 times at once; some Telegram updates re-sent after a timeout",
    "reply-loop": "auto-responder mailboxes answer every mail the hub sends them",
    "node-lost": "two nodes on one PostgreSQL and one Redis; every process of the node holding the "
    "scheduler SIGKILLed at once mid-run (tests/reliability/test_nodes.py)",
    "split-conversation": "two nodes; one Telegram chat's burst sent alternately to each: one issue, the "
    "comments in the order accepted",
}

HOW = """## How each fault is survived

- **Every accepted message is in the journal first.** The hook answers 202 only after the row is
  committed; Redis and the tracker are not needed to accept. The scheduler's sweep re-enqueues any
  queued row whose next attempt is due, so a lost job (a killed worker, Redis restarted empty) is
  found again from the journal.
- **Tracker outage and throttling.** A circuit breaker per tracker, shared by all workers in Redis,
  pauses every call after a 5xx (1 s, doubling to 10 s) or for the tracker's `Retry-After` after a
  429, and lets one call probe. The numbers above show how few calls reach a throttling tracker. When
  the probe succeeds, every message that was waiting for that tracker is made due at once, so recovery
  takes about one pause plus a sweep (5 s), not each message's own exponential back-off. Waiting out a
  pause does not use up a message's attempts.
- **Slow tracker: done, but the answer lost.** The create marks the row just before the POST leaves; a
  retry of such a row searches for the issue's `hub-<id>` label first (waiting out the tracker's search
  lag, 10 s on Data Center, 60 s on Cloud) and comments carry the same marker, so a write whose answer
  was lost is found, not repeated. Calls that get no answer count as strikes; five in a row with no
  answered call between open the circuit.
- **Worker killed.** What RQ 3.0 does with an abandoned job: it stays in the StartedJobRegistry for
  minutes, then the registry cleanup moves it to the FailedJobRegistry with `AbandonedJobError`;
  delivery jobs have no RQ retry, so RQ alone would never run it again. And a worker killed right after
  its `BLPOP` (RQ's dequeue over several queues) leaves a job whose hash says `queued` while its id is
  in no list at all. The hub does not rely on RQ: every `trackerhub worker` names its Redis
  connections, Redis drops a killed process's connections at once, and each sweep tick looks for each
  job where it really is. A job held by a worker that is gone, and everything that worker held (its
  conversation locks, the companions of a bulk take), is handed back at the next tick, whatever the
  journal's lease says; a job nobody registered is handed back once a second look, 2 s later, finds it
  still unregistered. The "worker-gaps" scenario kills a worker in each gap between two of its writes
  and reports each delay. A running delivery still renews a 30 s lease in the journal: where presence
  cannot be known, the expired lease decides. A job a live worker runs is left to RQ, which deletes it
  when it ends, so RQ's success cleanup never finds its job gone.
- **Redis restarted empty.** Hooks keep answering 202 (the journal is in PostgreSQL or SQLite); the
  sweep re-enqueues what the restart lost; the RQ workers reconnect by themselves.
- **Duplicate storms.** The journal has a unique key per channel message (Telegram `update_id`, the
  mail's Message-ID, the form's submission id): one copy is accepted, every other copy is answered 200
  with the same id, concurrently or later.
- **Reply loops.** Auto-generated mail (RFC 3834 `Auto-Submitted`, Exchange's
  `X-Auto-Response-Suppress`, `Precedence`, the `X-Autoreply` family, out-of-office subjects) is
  journaled and ignored: no issue, no reply. The hub's own autoreplies carry `Auto-Submitted:
  auto-replied`, and at most `HUB_AUTOREPLY_PER_HOUR` go to one address, so a robot that hides what it
  is gets a bounded number of answers, and its threaded replies land as comments, never as issues.
- **A node lost whole.** Nodes share nothing but PostgreSQL and Redis: the journal, the queues, the
  locks, the circuit breaker and the limits are there, so the survivors see everything the lost node
  had accepted. Its web server's half-answered requests fail at the client, which sends them again to
  another node, and the journal's unique key per channel message answers with the same id. Its
  scheduler's lock (15 s) runs out and a standby scheduler on another node takes it at its next 5 s
  tick; that scheduler's sweep finds the lost workers' Redis connections gone and hands back what they
  held. The notes give the takeover time measured.
- **One conversation on two nodes.** A conversation's messages are delivered in the journal's order
  whichever node accepted them: a message waits while an earlier one of its conversation is still
  queued, and the conversation lock is in Redis, so two nodes' workers never write one issue at once.
""".splitlines()


AUTOMATION_ORDER = [
    "scheduler-killed-mid-scan",
    "two-schedulers",
    "tracker-outage-digest",
    "same-webhook-3x",
    "polled-then-webhook-3x",
    "restart-after-3h",
    "worker-killed-mid-firing",
]
AUTOMATION_WHAT = {
    "scheduler-killed-mid-scan": "the scheduler and the worker running a rule's scan SIGKILLed between two "
    "pages of its search, then restarted",
    "two-schedulers": "two schedulers and two `automations run` at once, at the same due time",
    "tracker-outage-digest": "the tracker answers 503 to everything for 20 s as a digest falls due",
    "same-webhook-3x": "a comment with the rule's phrase on each issue, each webhook posted 3 times",
    "polled-then-webhook-3x": "the same comments found first by polling reconciliation, then each "
    "webhook posted 3 times",
    "restart-after-3h": "every process stopped for 3 h 20 min of the automations' clock, then restarted",
    "worker-killed-mid-firing": "a worker SIGKILLed between a firing's comment and saving it, three times",
}
AUTOMATION_HOW = """## How automations fire exactly once (tests/reliability/test_automation_faults.py)

N issues in the Jira look-alike per scenario and a rule file of automations; *double* counts a firing,
comment, created issue or digest line more than expected, *missed* one that never came (checked in the
hub's `automation_firings` and on the tracker by each firing's `hub-auto-<firing id>` marker). Time
passes through `HUB_TEST_CLOCK_OFFSET`, the processes' automation clock, never by sleeping.

- **A firing is a row before it is an action.** Its key (rule, issue, occurrence: the due time, the
  event id) is unique, and its id is derived from the key, so two schedulers, two manual runs or a
  scan repeated after a kill store one row per key; the RQ job `auto-<firing id>` is enqueued only
  when no job of that id exists, and a worker claims the row before acting, so two jobs never both act.
- **A scheduled rule remembers the due time it fired for.** A scan killed half-way is done again for
  the same due time (what it stored is not stored again); after downtime only the latest due time fires.
- **Each action is safe to repeat.** Comments carry the marker and are looked up first, created issues
  carry it as their idempotency label, team and customer messages go through the outbound log, and each
  action's completion is saved before the next; a tracker outage gives the firing back with a growing
  delay under the circuit breaker, and a digest is built only from a search that completed.
- **Lost jobs.** A firing whose worker died is enqueued again by the scheduler's next
  `automations-sweep` tick (the worker's Redis connections are gone: the journal sweep's test,
  jobs/recovery.py); one whose job never claimed it (two minutes), or whose lease (ten minutes) ran out
  where Redis cannot say which workers live, likewise. Scans run in a worker
  (the scheduler enqueues one at a time, so a slow tracker never stretches its 5 s tick); one scans at
  a time under a lock renewed after each page, which a killed worker holds 30 s at most.
""".splitlines()


def render_automations(results: list[dict[str, object]]) -> list[str]:
    """The automations table and how they survive, for these scenario results (empty without any)."""
    if not results:
        return []
    lines = [
        "## Automations",
        "",
        f"- Command: `make reliability` (the scenarios of tests/reliability/test_automation_faults.py); "
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| scenario | fault | issues | firings expected | firings | done | double | missed | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        notes = "; ".join(str(n) for n in result.get("notes", []))  # type: ignore[attr-defined]
        lines.append(
            f"| {result['scenario']} | {AUTOMATION_WHAT.get(str(result['scenario']), '')} | {result['issues']} "
            f"| {result['expected']} | {result['firings']} | {result['done']} | {result['double']} "
            f"| {result['missed']} | {notes} |"
        )
    return [*lines, "", *AUTOMATION_HOW, ""]


def render(results: list[dict[str, object]], automations: list[dict[str, object]] | None = None) -> str:
    """The Markdown page for these scenario results."""
    lines = [
        "# Reliability",
        "",
        "What the fault suite (`tests/reliability/test_faults.py`) measured: a real node (gunicorn, RQ",
        "workers, the scheduler, redis-server, the journal) and the Jira look-alike in its own process, N mixed",
        "Telegram, e-mail and form messages per scenario, the fault injected in the middle of the run. A",
        "message counts as delivered when the journal says so **and** the tracker's own database holds exactly",
        "one issue or comment carrying its marker; *unaccounted* counts issues or comments no accepted",
        "message explains. *Time to recover* runs from the end of the fault (or the last message sent) until",
        "no accepted message is still queued.",
        "",
        f"- Command: `make reliability` (`RELIABILITY_N={os.environ.get('RELIABILITY_N', '200')}`, "
        f"`RELIABILITY_NODES_N={os.environ.get('RELIABILITY_NODES_N', '200')}` for the two-node "
        "scenarios); `make test` runs the same scenarios, the two-node ones at 50 messages",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {sys.version.split()[0]}",
        "",
        "| scenario | fault | sent | accepted | delivered | ignored | duplicates | lost | unaccounted "
        "| time to recover | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        recover = result.get("time_to_recover_s")
        notes = "; ".join(str(n) for n in result.get("notes", []))  # type: ignore[attr-defined]
        problems = result.get("problems") or []
        if problems:
            notes += f"; **problems:** {'; '.join(str(p) for p in problems)[:300]}"  # type: ignore[attr-defined]
        lines.append(
            f"| {result['scenario']} | {WHAT.get(str(result['scenario']), '')} | {result['sent']} "
            f"| {result['accepted']} | {result['delivered']} | {result['ignored']} | {result['duplicates']} "
            f"| {result['lost']} | {result['unaccounted']} "
            f"| {'not settled' if recover is None else f'{recover} s'} | {notes} |"
        )
    return "\n".join([*lines, "", *render_automations(automations or []), *HOW]) + "\n"


def main() -> None:
    """Render the results of the last run into RELIABILITY.md."""
    everything = {path.stem: json.loads(path.read_text()) for path in RESULTS.glob("*.json")}
    found = {k: v for k, v in everything.items() if not k.startswith("automations-")}
    ordered = [found[name] for name in ORDER if name in found]
    ordered += [found[name] for name in sorted(found) if name not in ORDER]
    automations = {
        k.removeprefix("automations-"): v for k, v in everything.items() if k.startswith("automations-")
    }
    ordered_automations = [automations[name] for name in AUTOMATION_ORDER if name in automations]
    (REPO / "RELIABILITY.md").write_text(render(ordered, ordered_automations))


if __name__ == "__main__":
    main()
