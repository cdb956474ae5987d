"""Growth benchmark: does a message cost the same when the journal holds 1k, 10k or 100k rows?

Why: the journal only grows (every message ever accepted stays in it), so any query on the hot path
whose cost grows with the table's size would slow the hub down month after month (issue 6: "no query
whose cost grows with the journal's size on the hot path"). The baseline is the same measurement at the
smallest size, in the same run: the ratios to it must stay near 1.

What it does, in one run (``.venv/bin/python bench/growth.py``, or ``make bench``):

1. starts a private ``redis-server`` and the sandbox Jira (0 ms latency) in its own process, and opens a
   fresh SQLite journal in this process (``--database-url`` for PostgreSQL);
2. fills the journal with bulk inserts up to each size, mixed as real life would be: 90% delivered (two
   thirds opened an issue: a link and an autoreply row each; e-mail ones a Message-ID row), 4% ignored,
   1% failed, 5% queued with a retry pending (due in 30–60 min); Telegram, e-mail, form rows 14:5:1;
3. at each size measures, in this process (so CPU time is this process's, the tracker's is not in it):
   (a) intake: ``jobs.intake.accept`` (``journal.record`` + enqueue) of new messages;
   (b) delivery: ``jobs.deliver.deliver_with`` of new-conversation messages (one issue each), then of a
   follow-up in each of them (one comment each), against the sandbox;
   (c) the scheduler's sweep (``jobs.periodic.sweep``) with a backlog of due queued messages as large as
   the journal: the first tick (jobs not in Redis yet) and later ticks (their jobs already queued),
   with Redis's CPU time; then an idle tick, and ``journal.count_by_status`` (what ``/metrics`` runs);
4. at the largest size, runs ``EXPLAIN QUERY PLAN`` on every statement the hot path executed (captured
   from SQLAlchemy while an intake, a duplicate, deliveries over Telegram and e-mail, an autoreply, a
   status lookup and a sweep ran) and lists any full scan or sort;
5. rewrites its own section of ``BENCHMARKS.md`` (``<!-- growth:begin -->`` … ``<!-- growth:end -->``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import itertools
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from redis import Redis
from rq import Queue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCHMARKS_MD,
    OtherLoad,
    Sandbox,
    command_line,
    cpu_seconds,
    describe_db,
    jira_sandbox,
    machine,
    machine_line,
    markers,
    ms,
    package_version,
    pct,
    publish,
    redis_pid,
    redis_server,
    report,
    run_main,
    utc_now_text,
)
from config.settings import Settings
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.delivery_jobs import enqueue_delivery
from jobs.intake import accept
from jobs.periodic import sweep
from jobs.queues import DELIVERY_QUEUE, REPLY_QUEUE
from jobs.replies import send_autoreply_with
from store import journal, outbound
from store.db import create_db_engine
from store.db import links as links_table
from store.db import mail_ids as mail_ids_table
from store.db import messages as messages_table
from store.db import outbound as outbound_table
from tests.mappers.factories import email_message, telegram_message

SECTION = "growth"
SWEEP_LIMIT = int(inspect.signature(journal.due_items).parameters["limit"].default)  # one tick's rows
TEXT = "Здравствуйте! Не приходит счёт за ноябрь, заказ {n}. Проверьте, пожалуйста."


# -- filling the journal ---------------------------------------------------------------------------------


class Filler:
    """Bulk-inserts journal rows (and the links, mail ids and outbound rows they imply)."""

    def __init__(self, engine: sa.Engine, seed: int = 6) -> None:
        self.engine = engine
        self.rng = random.Random(seed)
        self.index = 0
        self.tg_body = telegram_message(TEXT.format(n=0), chat_id=1).model_dump_json()
        self.email_body = email_message().model_dump_json()

    def rows(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(messages_table)).scalar_one())

    def fill_to(self, total: int) -> int:
        """Insert mixed rows until the journal holds ``total``; return how many were added."""
        missing = total - self.rows()
        if missing > 0:
            self._insert(missing)
        return max(missing, 0)

    def _insert(self, count: int, chunk: int = 5000) -> None:
        now = journal.utcnow()
        with self.engine.connect() as conn:
            self.next_link = int(conn.execute(sa.select(sa.func.max(links_table.c.id))).scalar() or 0)
        for start in range(0, count, chunk):
            rows, link_rows, mail_rows, out_rows = [], [], [], []
            for _ in range(min(chunk, count - start)):
                self.index += 1
                i = self.index
                kind = i % 20
                channel = "telegram" if kind < 14 else "email" if kind < 19 else "form"
                created = now - dt.timedelta(minutes=self.rng.uniform(10, 60 * 24 * 365))
                message_id = secrets.token_hex(12)
                roll = self.rng.random()
                status = (
                    journal.DELIVERED
                    if roll < 0.90
                    else journal.IGNORED
                    if roll < 0.94
                    else journal.FAILED
                    if roll < 0.95
                    else journal.QUEUED
                )
                key = f"tg:{i}:0" if channel == "telegram" else f"{channel}:<fill{i}@customer.example>"
                row: dict[str, Any] = {
                    "id": message_id,
                    "channel": channel,
                    "external_id": f"fill:{i}" if channel != "email" else f"<fill{i}@customer.example>",
                    "conversation_key": key,
                    "kind": "new",
                    "status": status,
                    "reason": None,
                    "body": self.email_body if channel == "email" else self.tg_body,
                    "raw_blob_id": None,
                    "tracker": None,
                    "issue_key": None,
                    "issue_url": None,
                    "outcome": None,
                    "attempts": 1 if status != journal.QUEUED else self.rng.randint(1, 5),
                    # a retry or a breaker pause: not due before this run ends, so idle ticks are idle
                    "next_attempt_at": now + dt.timedelta(seconds=self.rng.uniform(1800, 3600))
                    if status == journal.QUEUED
                    else None,
                    "create_started_at": None,
                    "created_at": created,
                    "updated_at": created,
                }
                if status == journal.IGNORED:
                    row["reason"] = "auto-generated mail: Auto-Submitted: auto-replied"
                elif status == journal.FAILED:
                    row["reason"] = "gave up after 8 attempts: jira answered 503"
                elif status == journal.QUEUED:
                    row["reason"] = "jira answered 503"
                elif status == journal.DELIVERED:
                    outcome = "issue" if self.rng.random() < 2 / 3 else "comment"
                    row.update(
                        tracker="jira",
                        issue_key=f"FILL-{i}",
                        issue_url=f"https://jira.example/browse/FILL-{i}",
                        outcome=outcome,
                    )
                    if outcome == "issue":
                        self.next_link += 1
                        link_rows.append(
                            {
                                "id": self.next_link,
                                "conversation_key": key,
                                "tracker": "jira",
                                "issue_key": f"FILL-{i}",
                                "issue_url": f"https://jira.example/browse/FILL-{i}",
                                "channel": channel,
                                "requester_name": "Ann Lee",
                                "requester_email": "ann@customer.example" if channel != "telegram" else None,
                                "telegram_chat_id": i if channel == "telegram" else None,
                                "telegram_thread_id": None,
                                "language": "ru",
                                "subject": "Счёт за ноябрь",
                                "active": self.rng.random() < 0.3,  # most conversations ended long ago
                                "previous_issue_key": None,
                                "message_id": message_id,
                                "created_at": created,
                            }
                        )
                        out_rows.append(
                            {
                                "message_id": message_id,
                                "kind": "autoreply",
                                "channel": channel,
                                "recipient": str(i),
                                "status": "sent",
                                "reason": None,
                                "external_ref": None,
                                "created_at": created,
                            }
                        )
                        if channel == "email":
                            mail_rows.append(
                                {
                                    "message_id": f"<fill{i}@customer.example>",
                                    "link_id": self.next_link,
                                    "direction": "in",
                                    "created_at": created,
                                }
                            )
                rows.append(row)
            with self.engine.begin() as conn:
                conn.execute(messages_table.insert(), rows)
                for table, batch in ((links_table, link_rows), (mail_ids_table, mail_rows)):
                    if batch:
                        conn.execute(table.insert(), batch)
                if out_rows:
                    conn.execute(outbound_table.insert(), out_rows)

    def add_due_backlog(self, count: int) -> list[tuple[str, dt.datetime]]:
        """``count`` queued rows whose next attempt is due, as after an outage: (id, due), oldest first."""
        now = journal.utcnow()
        added: list[tuple[str, dt.datetime]] = []
        with self.engine.begin() as conn:
            for start in range(0, count, 5000):
                rows = []
                for n in range(start, min(start + 5000, count)):
                    self.index += 1
                    due = now - dt.timedelta(seconds=count - n + 60)
                    added.append((secrets.token_hex(12), due))
                    rows.append(
                        {
                            "id": added[-1][0],
                            "channel": "telegram",
                            "external_id": f"due:{self.index}",
                            "conversation_key": f"tg:{self.index}:0",
                            "kind": "new",
                            "status": journal.QUEUED,
                            "reason": None,
                            "body": self.tg_body,
                            "raw_blob_id": None,
                            "tracker": None,
                            "issue_key": None,
                            "issue_url": None,
                            "outcome": None,
                            "attempts": 0,
                            "next_attempt_at": due,
                            "create_started_at": None,
                            "created_at": due - dt.timedelta(seconds=30),
                            "updated_at": due - dt.timedelta(seconds=30),
                        }
                    )
                conn.execute(messages_table.insert(), rows)
        return added

    def due_again(self, rows: list[tuple[str, dt.datetime]]) -> None:
        """Give these rows back their original due time (a sweep may have put them off)."""
        with self.engine.begin() as conn:
            conn.execute(
                messages_table.update()
                .where(messages_table.c.id == sa.bindparam("row_id"))
                .values(next_attempt_at=sa.bindparam("due")),
                [{"row_id": row_id, "due": due} for row_id, due in rows],
            )

    def settle(self, external_ids: Iterable[str]) -> None:
        """Mark these Telegram messages delivered (nothing will deliver them, and the sweep would find
        them due once their enqueue grace has passed)."""
        with self.engine.begin() as conn:
            conn.execute(
                messages_table.update()
                .where(
                    messages_table.c.channel == "telegram",
                    messages_table.c.external_id == sa.bindparam("ext"),
                )
                .values(status=journal.DELIVERED, next_attempt_at=None),
                [{"ext": ext} for ext in external_ids],
            )

    def delete_due_backlog(self) -> None:
        """Remove the due backlog's rows altogether (after a warm-up)."""
        with self.engine.begin() as conn:
            conn.execute(messages_table.delete().where(messages_table.c.external_id.like("due:%")))

    def clear_due_backlog(self) -> None:
        """Mark the due backlog delivered (it drained), leaving the pending retries alone."""
        with self.engine.begin() as conn:
            conn.execute(
                messages_table.update()
                .where(messages_table.c.status == journal.QUEUED, messages_table.c.external_id.like("due:%"))
                .values(status=journal.DELIVERED, next_attempt_at=None, outcome="issue")
            )


# -- timing ----------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Per-operation CPU (this process) and wall times of one measured operation."""

    count: int
    cpu_s: float
    walls_ms: list[float]
    redis_cpu_s: float = 0.0
    cpus_ms: list[float] = field(default_factory=list)
    redis_ms_each: list[float] = field(default_factory=list)

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s * 1000 / self.count

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.walls_ms)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.walls_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * len(ordered) + 0.5) - 1)]

    @property
    def redis_ms(self) -> float:
        return self.redis_cpu_s * 1000 / self.count


def timed(
    calls: list[Callable[[], object]],
    redis_server_pid: int | None = None,
    before: Callable[[], object] | None = None,
) -> Timing:
    """Run ``calls`` one by one; this process's CPU, redis-server's CPU and each call's wall time.

    ``before`` runs ahead of each call, outside what is measured.
    """
    walls: list[float] = []
    cpus: list[float] = []
    redis_each: list[float] = []
    for call in calls:
        if before is not None:
            before()
        redis_start = cpu_seconds(redis_server_pid) if redis_server_pid else 0.0
        cpu_start, start = time.process_time(), time.perf_counter()
        call()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu_start) * 1000)
        redis_each.append((cpu_seconds(redis_server_pid) - redis_start) * 1000 if redis_server_pid else 0.0)
    return Timing(len(calls), sum(cpus) / 1000, walls, sum(redis_each) / 1000, cpus, redis_each)


@dataclass
class Point:
    """Everything measured at one journal size."""

    rows: int
    intake: Timing
    deliver_issue: Timing
    deliver_comment: Timing
    sweep_rows: int = 0
    sweep_backlog: int = 0
    idle_due: int = 0  # rows due when an idle tick ran (should be none)
    sweep_first: Timing | None = None
    sweep_again: Timing | None = None
    sweep_enqueued: int = 0
    sweep_enqueued_again: int = 0
    sweep_relooked: float = float("nan")  # share of a tick's rows the next tick looked at again
    sweep_looked: list[int] = field(default_factory=list)  # rows each timed tick looked at
    due_query: Timing | None = None  # journal.due_items alone
    defer_query: Timing | None = None  # journal.defer of a tick's rows alone (if the sweep defers)

    def full_ticks(self) -> tuple[float, float, float]:
        """Mean wall, CPU and Redis CPU (ms) of the timed ticks that looked at a full SWEEP_LIMIT rows."""
        assert self.sweep_again is not None
        full = [i for i, n in enumerate(self.sweep_looked) if n >= SWEEP_LIMIT]
        if not full:
            return float("nan"), float("nan"), float("nan")
        t = self.sweep_again
        return (
            statistics.mean(t.walls_ms[i] for i in full),
            statistics.mean(t.cpus_ms[i] for i in full),
            statistics.mean(t.redis_ms_each[i] for i in full),
        )

    sweep_idle: Timing | None = None
    count_by_status: Timing | None = None
    other_load: float = float("nan")


class Growth:
    """The journal, Redis and sandbox, and the measurements at one size."""

    def __init__(
        self, ctx: Context, redis_server_pid: int, sandbox: Sandbox, args: argparse.Namespace
    ) -> None:
        self.ctx = ctx
        self.engine = ctx.engine
        self.redis: Redis = ctx.redis
        self.redis_server_pid = redis_server_pid
        self.sandbox = sandbox
        self.args = args
        self.filler = Filler(ctx.engine)
        self.chat = 50_000_000

    def new_chats(self, count: int) -> list[int]:
        chats = list(range(self.chat, self.chat + count))
        self.chat += count
        return chats

    def empty_queues(self) -> None:
        for name in (DELIVERY_QUEUE, REPLY_QUEUE):
            Queue(name, connection=self.redis).empty()

    def measure(self, size: int, samples: int, deliveries: int, sweep_ticks: int) -> Point:
        added = self.filler.fill_to(size)
        rows = self.filler.rows()  # the journal's size as the measurements start
        report(f"  {rows:,} rows (+{added:,} inserted)")
        other = OtherLoad([self.redis_server_pid, self.sandbox.pid])
        # (a) intake
        msgs = [telegram_message(TEXT.format(n=n), chat_id=c) for n, c in enumerate(self.new_chats(samples))]
        intake = timed([lambda m=m: accept(self.engine, self.redis, m) for m in msgs], self.redis_server_pid)  # type: ignore[misc]
        self.empty_queues()
        self.filler.settle(m.external_id for m in msgs)  # no worker will take them: they must not fall due
        report(f"    intake: {intake.cpu_ms:.3f} ms CPU/msg, p50 {intake.p50_ms:.3f} ms")
        # (b) deliveries: new issues, then a follow-up in each conversation
        chats = self.new_chats(deliveries)
        first = [
            accept(self.engine, None, telegram_message(TEXT.format(n=n), chat_id=c)).id
            for n, c in enumerate(chats)
        ]
        issue = timed([lambda i=i: deliver_with(self.ctx, i) for i in first])  # type: ignore[misc]
        follow = [accept(self.engine, None, telegram_message("И ещё вопрос.", chat_id=c)).id for c in chats]
        comment = timed([lambda i=i: deliver_with(self.ctx, i) for i in follow])  # type: ignore[misc]
        self._check_delivered(first + follow)
        self.empty_queues()
        report(f"    delivery: issue {issue.cpu_ms:.2f} ms CPU/msg, comment {comment.cpu_ms:.2f} ms CPU/msg")
        point = Point(rows=rows, intake=intake, deliver_issue=issue, deliver_comment=comment)
        # (c) the sweep with a due backlog as large as the journal
        backlog = self.filler.add_due_backlog(size)
        point.sweep_rows = self.filler.rows()  # the journal with the backlog
        point.sweep_backlog = len(backlog)
        # The workers are behind: every row the timed ticks look at already has its job queued. A
        # sweep that puts off what it looked at reaches the end of a small backlog within a few ticks;
        # then its rows are made due again (as they would be later), so that every timed tick is full.
        reachable = backlog[: sweep_ticks * SWEEP_LIMIT]
        for row_id, _ in reachable:
            enqueue_delivery(self.redis, row_id)
        looked: list[tuple[set[str], bool]] = []  # (rows a tick looked at, made due again before it)
        enqueued: list[int] = []

        def before_tick() -> None:
            due = journal.due(self.engine)
            again = len(due) < SWEEP_LIMIT
            if again:
                self.filler.due_again(reachable)
                due = journal.due(self.engine)
            looked.append((set(due), again))

        point.sweep_again = timed(
            [lambda: enqueued.append(sweep(self.ctx)) for _ in range(sweep_ticks)],
            self.redis_server_pid,
            before=before_tick,
        )
        point.sweep_looked = [len(rows) for rows, _ in looked]
        point.sweep_enqueued_again = sum(enqueued)
        pairs = [(a, b) for (a, _), (b, again) in itertools.pairwise(looked) if a and not again]
        point.sweep_relooked = (
            statistics.mean(len(a & b) / len(a) for a, b in pairs) if pairs else float("nan")
        )
        # the tick's two journal statements on their own: the work list, and putting it off (if it does)
        head = reachable[:SWEEP_LIMIT]
        self.filler.due_again(reachable)
        point.due_query = timed([lambda: journal.due_items(self.engine) for _ in range(sweep_ticks)])
        defer = getattr(journal, "defer", None)
        if defer is not None:
            point.defer_query = timed(
                [
                    lambda: defer(self.engine, [i for i, _ in head], 30.0, due_at=journal.utcnow())
                    for _ in range(sweep_ticks)
                ],
                before=lambda: self.filler.due_again(head),
            )
        # later, the rows are due again and Redis has lost their jobs
        self.filler.due_again(reachable)
        self.empty_queues()
        enqueued.clear()
        point.sweep_first = timed([lambda: enqueued.append(sweep(self.ctx))], self.redis_server_pid)
        point.sweep_enqueued = enqueued[0]
        self.filler.clear_due_backlog()
        self.empty_queues()
        idle_due: list[int] = []
        point.sweep_idle = timed(
            [lambda: sweep(self.ctx) for _ in range(sweep_ticks)],
            self.redis_server_pid,
            before=lambda: idle_due.append(len(journal.due(self.engine))),
        )
        point.idle_due = max(idle_due)
        point.count_by_status = timed(
            [lambda: journal.count_by_status(self.engine) for _ in range(sweep_ticks)]
        )
        point.other_load = other.share()
        report(
            f"    sweep: ticks with jobs queued {point.full_ticks()[0]:.1f} ms, rows {point.sweep_looked} "
            f"({point.sweep_enqueued_again} enqueued, {point.sweep_relooked:.0%} of rows looked at again), "
            f"tick after the jobs were lost {point.sweep_first.p50_ms:.1f} ms ({point.sweep_enqueued} "
            f"enqueued), idle {point.sweep_idle.p50_ms:.2f} ms, count_by_status "
            f"{point.count_by_status.p50_ms:.2f} ms, due_items {point.due_query.p50_ms:.2f} ms, defer "
            f"{point.defer_query.p50_ms if point.defer_query else float('nan'):.2f} ms, "
            f"other load {point.other_load:.0%}"
        )
        return point

    def _check_delivered(self, ids: list[str]) -> None:
        for message_id in ids:
            entry = journal.get(self.engine, message_id)
            if entry is None or entry.status != journal.DELIVERED:
                raise RuntimeError(f"message {message_id} not delivered: {entry}")


# -- EXPLAIN QUERY PLAN on what the hot path executes ----------------------------------------------------


@dataclass
class Statement:
    sql: str
    params: Any
    callers: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[str]:
        """Full scans: work that grows with a table's size."""
        found = []
        for line in self.plan:
            scan = re.match(r"SCAN (\w+)(.*)", line)
            if scan and scan.group(1) != "CONSTANT":
                found.append(f"full scan of {scan.group(1)}{scan.group(2)}")
        return found

    @property
    def notes(self) -> list[str]:
        """Sorts of the rows an index search found, and range searches with no LIMIT: their cost is the
        rows in the range (not the table), which the timings must show is bounded."""
        searched = any(line.startswith("SEARCH") for line in self.plan)
        found = [
            "sorts the rows the index found" if searched else line.lower()
            for line in self.plan
            if "TEMP B-TREE" in line
        ]
        limited = " LIMIT " in self.sql.upper()
        for line in self.plan:
            if line.startswith("SEARCH") and re.search(r"\(.*[<>].*\)", line) and not limited:
                found.append("**range search with no LIMIT: reads every row in the range**")
        return found


def _store_caller() -> str:
    """The outermost ``store.*`` function on the stack (and the innermost, when it differs)."""
    frame = sys._getframe(2)
    store_frames = []
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("store."):
            store_frames.append(f"{module.removeprefix('store.')}.{frame.f_code.co_name}")
        elif store_frames:
            break
        frame = frame.f_back
    if not store_frames:
        return "(outside store/)"
    outer, inner = store_frames[-1], store_frames[0]
    return outer if outer == inner else f"{outer} → {inner}"


@contextmanager
def capture(engine: sa.Engine, operation: str, seen: dict[str, Statement]) -> Iterator[None]:
    """Record every statement ``engine`` runs inside the block, by SQL text, with its caller."""

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
            return
        entry = seen.setdefault(statement, Statement(statement, parameters[0] if many else parameters))
        caller = _store_caller()
        if caller not in entry.callers:
            entry.callers.append(caller)
        if operation not in entry.operations:
            entry.operations.append(operation)

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


def hot_path_statements(growth: Growth) -> list[Statement]:
    """Run each hot-path operation once under ``capture`` and EXPLAIN what it executed."""
    ctx, engine = growth.ctx, growth.engine
    seen: dict[str, Statement] = {}
    chat = growth.new_chats(1)[0]
    with capture(engine, "intake", seen):
        message = telegram_message(TEXT.format(n=0), chat_id=chat)
        first = accept(engine, growth.redis, message)
    with capture(engine, "intake (duplicate)", seen):
        accept(engine, growth.redis, message)
    with capture(engine, "delivery: new issue", seen):
        deliver_with(ctx, first.id)
    with capture(engine, "autoreply", seen):
        send_autoreply_with(ctx, first.id)
    with capture(engine, "delivery: follow-up (Telegram)", seen):
        deliver_with(ctx, accept(engine, None, telegram_message("Ещё вопрос.", chat_id=chat)).id)
    mail = email_message(subject="Счёт за ноябрь")
    mail_id = accept(engine, None, mail).id
    deliver_with(ctx, mail_id)
    key = journal.get(engine, mail_id).issue_key  # type: ignore[union-attr]
    assert mail.email is not None
    reply = email_message(subject="Re: Счёт за ноябрь", email_meta={"in_reply_to": [mail.email.message_id]})
    with capture(engine, "delivery: e-mail reply (In-Reply-To)", seen):
        deliver_with(ctx, accept(engine, None, reply).id)
    by_subject = email_message(subject=f"[{key}] Re: Счёт за ноябрь")
    with capture(engine, "delivery: e-mail reply (key in subject)", seen):
        deliver_with(ctx, accept(engine, None, by_subject).id)
    with capture(engine, "status API", seen):
        journal.get(engine, first.id)
        outbound.for_message(engine, first.id)
    growth.filler.add_due_backlog(2 * SWEEP_LIMIT)  # a full tick, as under a backlog
    with capture(engine, "sweep", seen):
        sweep(ctx)
    with capture(engine, "/metrics", seen):
        journal.count_by_status(engine)
    growth.filler.clear_due_backlog()
    growth.empty_queues()
    with engine.connect() as conn:
        for statement in seen.values():
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, statement.params).all()
            statement.plan = [str(row[-1]) for row in rows]
    return list(seen.values())


def short_sql(sql: str) -> str:
    """The statement with its column lists elided, on one line."""
    text = " ".join(sql.split())
    text = re.sub(r"^SELECT (.+?) FROM", lambda m: "SELECT " + _elide(m.group(1)) + " FROM", text)
    text = re.sub(r"^INSERT INTO (\w+) \(.*?\) VALUES \(.*?\)", r"INSERT INTO \1 (…) VALUES (…)", text)
    text = re.sub(r"SET (.+?) WHERE", lambda m: "SET " + _elide(m.group(1)) + " WHERE", text)
    text = re.sub(r"IN \(\?(?:, \?)+\)", lambda m: f"IN (?, … {m.group(0).count('?')} ids)", text)
    return text.replace("|", "\\|")


def _elide(columns: str) -> str:
    return columns if len(columns) <= 40 else columns[:37].rsplit(",", 1)[0] + ", …"


# -- the report ------------------------------------------------------------------------------------------


def ratio(value: float, base: float) -> str:
    return "n/a" if not base else f"{value / base:.2f}"


def render_section(
    points: list[Point],
    statements: list[Statement],
    info: dict[str, str],
    command: str,
    database: str,
    args: argparse.Namespace,
) -> str:
    begin, end = markers(SECTION)
    base = points[0]
    lines = [
        begin,
        "## Growth: cost per message as the journal grows",
        "",
        "Whether the hot path's cost stays flat as the journal grows (it only grows: every message stays "
        "in it). Each operation runs in this script's process against a journal filled to each size, so "
        "the CPU column is the hub's code and its database driver; Redis and the sandbox Jira (0 ms "
        "latency) are other processes. The baseline is the smallest size, measured in the same run: the "
        "ratio columns must stay near 1.",
        "",
        f"- Date: {utc_now_text()}",
        f"- Command: `{command}`",
        f"- Machine: {machine_line(info)}",
        f"- Software: Python {info['python']}, SQLAlchemy {package_version('SQLAlchemy')}, rq "
        f"{package_version('rq')}, redis-server {info['redis']} (no persistence)",
        f"- Journal: {database}, filled with bulk inserts: 90% delivered (two thirds opened an issue, "
        "with its link, autoreply row and, for e-mail, Message-ID row; 30% of links still active), 4% "
        "ignored, 1% failed, 5% queued with a retry pending (due in 30–60 min); Telegram, e-mail and "
        "form rows 14:5:1",
        f"- Samples at each size: {args.samples} intakes, {args.deliveries} deliveries of each kind, "
        f"{args.ticks} sweep ticks of each kind",
        "",
        "### Per message",
        "",
        "| journal rows | intake CPU/msg | ratio | intake p50 / p99 | new issue CPU/msg | ratio "
        "| follow-up CPU/msg | ratio | delivery p50 (issue / follow-up) | other load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p.rows:,} | {ms(p.intake.cpu_ms)} | {ratio(p.intake.cpu_ms, base.intake.cpu_ms)} "
            f"| {ms(p.intake.p50_ms)} / {ms(p.intake.p99_ms)} | {ms(p.deliver_issue.cpu_ms)} "
            f"| {ratio(p.deliver_issue.cpu_ms, base.deliver_issue.cpu_ms)} | {ms(p.deliver_comment.cpu_ms)} "
            f"| {ratio(p.deliver_comment.cpu_ms, base.deliver_comment.cpu_ms)} "
            f"| {ms(p.deliver_issue.p50_ms)} / {ms(p.deliver_comment.p50_ms)} | {pct(p.other_load)} |"
        )
    lines += [
        "",
        "Intake is `jobs.intake.accept`: `journal.record` (one INSERT) and `enqueue_delivery`. A delivery "
        "is `jobs.deliver.deliver_with` with the tracker call (1 for an issue, 2 for a follow-up: the "
        "issue's status, then the comment); its CPU column includes the `jira` client's side of the "
        "calls, not the sandbox's.",
        "",
        "### The sweep (`jobs.periodic.sweep`, every 5 s)",
        "",
        f"A backlog of due queued rows as large as the journal was before it. First {args.ticks} ticks while "
        "every row they can reach already has its delivery job queued (the usual case: the workers are "
        "behind), then, with the rows due again, one tick after the queue was emptied (Redis lost its "
        "jobs), then ticks with nothing due. Wall and CPU per tick; CPU of this process (the "
        f'scheduler\'s work) and of redis-server. "Full tick": a tick that looked at {SWEEP_LIMIT} rows '
        "(the most `journal.due_items` returns).",
        "",
        "| journal rows | due backlog | rows each tick looked at | full tick, jobs queued: wall | CPU "
        "| per row | ratio | Redis CPU | of the wall: `due_items` | `defer` | enqueued (all ticks) "
        "| rows the next tick looks at again | tick after jobs lost: wall | CPU | enqueued | idle tick "
        "| `count_by_status` (/metrics) | ratio |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base_full = base.full_ticks()
    for p in points:
        assert p.sweep_first and p.sweep_again and p.sweep_idle and p.count_by_status
        assert base.count_by_status
        wall, cpu, redis_cpu = p.full_ticks()
        lines.append(
            f"| {p.sweep_rows:,} | {p.sweep_backlog:,} | {', '.join(map(str, p.sweep_looked))} "
            f"| {ms(wall)} | {ms(cpu)} | {ms(cpu / SWEEP_LIMIT)} | {ratio(cpu, base_full[1])} "
            f"| {ms(redis_cpu)} | {ms(p.due_query.p50_ms) if p.due_query else 'n/a'} "
            f"| {ms(p.defer_query.p50_ms) if p.defer_query else 'none'} "
            f"| {p.sweep_enqueued_again} "
            f"| {pct(p.sweep_relooked) if getattr(journal, 'defer', None) is not None else '–'} "
            f"| {ms(p.sweep_first.p50_ms)} | {ms(p.sweep_first.cpu_ms)} | {p.sweep_enqueued} "
            f"| {ms(p.sweep_idle.p50_ms)}{f' ({p.idle_due} due!)' if p.idle_due else ''} "
            f"| {ms(p.count_by_status.p50_ms)} "
            f"| {ratio(p.count_by_status.p50_ms, base.count_by_status.p50_ms)} |"
        )
    last = points[-1]
    assert last.sweep_again is not None and last.sweep_first is not None
    scheduler_share = last.full_ticks()[1] / 1000 / 5.0
    lines += ["", sweep_reading(points, scheduler_share), ""]
    lines += [
        "### Query plans (SQLite `EXPLAIN QUERY PLAN`, at the largest size)",
        "",
        "Every statement the hot path executed while an intake, a duplicate intake, deliveries (a new "
        "issue, a Telegram follow-up, e-mail replies threaded by In-Reply-To and by the key in the "
        "subject), an autoreply, a status lookup, a sweep tick and `/metrics` ran, captured from "
        "SQLAlchemy with its parameters.",
        "",
        "| store function | statement | plan | finding | run by |",
        "|---|---|---|---|---|",
    ]
    for s in statements:
        finding = "; ".join(s.findings + s.notes) or "index search"
        if s.sql.lstrip().upper().startswith("INSERT") and not s.plan:
            finding = "single-row insert (unique indexes probed by key)"
        lines.append(
            f"| {', '.join(s.callers)} | `{short_sql(s.sql)}` | {'; '.join(s.plan) or '–'} "
            f"| {'**' + finding + '**' if s.findings else finding} | {', '.join(s.operations)} |"
        )
    scans = [s for s in statements if s.findings]
    ranges = [s for s in statements if any("no LIMIT" in n for n in s.notes)]
    lines += [
        "",
        "### Checks",
        "",
        f"- Per-message cost flat from {base.rows:,} to {last.rows:,} rows (ratios within 1.5): "
        + flat_verdict(points),
        "- Full scans on the hot path: "
        + (
            "; ".join(
                f"`{', '.join(s.callers)}` ({'; '.join(s.findings)}, run by {', '.join(s.operations)})"
                for s in scans
            )
            if scans
            else "none"
        )
        + ".",
        "- Range searches with no LIMIT (cost grows with the rows in the range): "
        + (
            "; ".join(f"`{', '.join(s.callers)}` (run by {', '.join(s.operations)})" for s in ranges)
            if ranges
            else "none"
        )
        + ".",
        end,
    ]
    return "\n".join(lines) + "\n"


def sweep_reading(points: list[Point], scheduler_share: float) -> str:
    """What the sweep measurements say, in words that follow from the numbers."""
    last = points[-1]
    assert last.sweep_again is not None and last.sweep_first is not None
    relooked = last.sweep_relooked
    wall, cpu, redis_cpu = last.full_ticks()
    text = (
        f"With jobs queued, a full tick at {last.sweep_rows:,} rows costs {ms(wall)} of wall time, "
        f"{ms(cpu)} of the scheduler's CPU ({scheduler_share:.1%} of a core at one tick per 5 s) and "
        f"{ms(redis_cpu)} of Redis's, and the timed ticks enqueued {last.sweep_enqueued_again} jobs. "
    )
    if getattr(journal, "defer", None) is None:  # the keyset sweep (issue 22): pages past the head
        text += (
            "The sweep reads the head of the backlog and then pages onward from where the last tick "
            "stopped (`jobs/periodic.py`), so what `journal.due` lists is not what a tick looks at and the "
            "column of rows looked at again does not apply (shown as –). The jobs it enqueued are for "
            "backlog rows this benchmark left without a job (it queues jobs only for the rows a sweep that "
            "looked at the head alone would reach; the rest are lost, as after a Redis restart): a tick "
            "that finds lost jobs reads on for up to its budget, which is the extra wall time over a tick "
            "that only finds waiting jobs. "
        )
    elif relooked == relooked and relooked > 0.5:
        text += (
            f"The next tick looks at the same rows again ({relooked:.0%}): while more than "
            f"{SWEEP_LIMIT} due rows wait for the workers, every tick repeats the same duplicate checks and "
            f"never looks past the {SWEEP_LIMIT} oldest, so a row further back whose job was lost is only "
            f"re-enqueued as the workers take the ones ahead of it. "
        )
    else:
        text += (
            f"The next tick looks at other rows ({relooked:.0%} looked at again): each tick moves on "
            "through a long backlog. "
        )
    first = points[0]
    if last.defer_query is not None and first.defer_query is not None:
        text += (
            f"`journal.defer` alone (one UPDATE of the tick's {SWEEP_LIMIT} rows) takes "
            f"{ms(first.defer_query.p50_ms)} with {first.sweep_backlog:,} rows due and "
            f"{ms(last.defer_query.p50_ms)} with {last.sweep_backlog:,}: SQLite answers its `id IN (…) AND "
            "status = ? AND next_attempt_at <= ?` from `ix_messages_status_next`, a range over every due "
            "row, instead of the primary key (see the plans below). "
        )
    if getattr(journal, "defer", None) is None:
        text += (
            f"After the jobs were lost a tick re-enqueued {last.sweep_enqueued} rows: it reads page after "
            "page for up to its budget while pages turn up lost jobs, so a backlog Redis lost comes back "
            "within a few ticks."
        )
    else:
        text += (
            f"After the jobs were lost a tick re-enqueued {last.sweep_enqueued} rows: the sweep brings back "
            f"at most {SWEEP_LIMIT} messages per 5 s tick ({SWEEP_LIMIT // 5} msg/s), which caps how fast a "
            "backlog whose jobs were lost drains however many workers there are."
        )
    return text


def flat_verdict(points: list[Point]) -> str:
    base, last = points[0], points[-1]
    pairs = {
        "intake": (last.intake.cpu_ms, base.intake.cpu_ms),
        "new issue": (last.deliver_issue.cpu_ms, base.deliver_issue.cpu_ms),
        "follow-up": (last.deliver_comment.cpu_ms, base.deliver_comment.cpu_ms),
    }
    worst = {name: value / b for name, (value, b) in pairs.items()}
    verdict = "met" if all(r <= 1.5 for r in worst.values()) else "**not met**"
    return verdict + " (" + ", ".join(f"{name} ×{r:.2f}" for name, r in worst.items()) + ")."


# -- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="journal sizes (default 1000,10000,100000)"
    )
    parser.add_argument("--samples", type=int, default=1000, help="intakes timed per size (default 1000)")
    parser.add_argument(
        "--deliveries", type=int, default=300, help="deliveries of each kind per size (default 300)"
    )
    parser.add_argument("--ticks", type=int, default=6, help="sweep ticks of each kind per size (default 6)")
    parser.add_argument("--database-url", help="journal database; default: a fresh SQLite file")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    info = machine()
    report(f"growth benchmark: {info['cpus']} CPUs, {info['cpu']}, sizes {sizes}")
    with tempfile.TemporaryDirectory(prefix="trackerhub-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{workdir / 'journal.sqlite3'}"
        redis_url = stack.enter_context(redis_server(workdir))
        sandbox = stack.enter_context(jira_sandbox(workdir))
        create_db_engine(database_url).dispose()
        settings = Settings(
            REDIS_URL=redis_url,
            DATABASE_URL=database_url,
            JIRA_URL=sandbox.url,
            JIRA_TOKEN="sandbox",
            HUB_LOG_LEVEL="WARNING",
        )
        ctx = build_context(settings)
        stack.callback(ctx.engine.dispose)
        growth = Growth(ctx, redis_pid(redis_url), sandbox, args)
        # warm-up: the Jira client (serverInfo, project), SQLAlchemy's statement cache, imports
        warm = [
            accept(ctx.engine, None, telegram_message(TEXT.format(n=n), chat_id=c)).id
            for n, c in enumerate(growth.new_chats(20))
        ]
        for message_id in warm:
            deliver_with(ctx, message_id)
        # and the sweep: a tick that enqueues, ticks that find the jobs queued
        growth.filler.add_due_backlog(2 * SWEEP_LIMIT)
        for _ in range(3):
            sweep(ctx)
        growth.filler.delete_due_backlog()
        growth.empty_queues()
        points = [growth.measure(size, args.samples, args.deliveries, args.ticks) for size in sizes]
        report("  EXPLAIN QUERY PLAN of the hot path")
        statements = hot_path_statements(growth) if database_url.startswith("sqlite") else []
    command = command_line("growth.py", argv)
    section = render_section(points, statements, info, command, describe_db(database_url), args)
    publish(section, args.output, SECTION, write=not args.no_write)


if __name__ == "__main__":
    run_main(main)
