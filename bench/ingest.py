"""Ingest benchmark: the hub's inbound endpoints against a bare Flask + one-LPUSH endpoint.

Why: the hub promises to answer a webhook quickly (verify, parse, journal, enqueue) so senders never
time out, and DESIGN.md asks every benchmark to compare against a baseline measured in the same run.
The baseline is ``bench/bare_app.py``: the same Flask and gunicorn, one Redis ``LPUSH`` per request.
The ratio hub/bare is what the hub's own work costs; absolute numbers depend on the machine.

What it does, in one run (``.venv/bin/python bench/ingest.py``, or ``make bench``; about 5 minutes):

1. starts a private ``redis-server`` on a free port and a fresh SQLite journal, both in a temp dir
   (``--database-url`` points the journal at PostgreSQL instead);
2. serves the hub (``wsgi:app``) and the bare app with identical gunicorn settings and no access log,
   and loads one endpoint at a time: ``POST /hooks/telegram``, ``POST /hooks/email`` and
   ``POST /hooks/forms/support`` on the hub, and the bare endpoint (with ``--before-rev REV`` the hub's
   three again, served by REV's code exported with ``git archive``, journaling into a database of their
   own: before and after a change measured in one run). A wrk warm-up each, then ``--runs``
   closed-loop wrk rounds, each round running every endpoint once in turn (medians reported), then an
   open-loop run of each at a fixed ``--rate`` (latency measured from each request's scheduled send
   time, so a slow server cannot hide its queueing delay: no coordinated omission);
3. every request is valid and unique for its endpoint (a Telegram update with its own ``update_id`` and
   the secret header; a small raw mail with its own Message-ID and the Bearer token; a form submission
   with its own ``submission_id``); only 2xx answers count as accepted, and after the runs the journal's
   new rows of each channel are counted and checked against that endpoint's 202 answers;
4. rewrites its own section of ``BENCHMARKS.md`` (between ``<!-- ingest:begin -->`` and
   ``<!-- ingest:end -->``), leaving other benchmarks' sections alone.

Everything it starts is stopped on the way out, including on Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCH_DIR,
    BENCHMARKS_MD,
    PROJECT_ROOT,
    OtherLoad,
    Server,
    ServerSettings,
    allocator_env,
    child_env,
    command_line,
    cpu_seconds,
    describe_db,
    gunicorn,
    machine,
    machine_line,
    markers,
    ms,
    publish,
    redis_server,
    report,
    run_main,
    utc_now_text,
    wrk_version,
)
from bench.common import redis_pid as find_redis_pid
from bench.node import export
from store.db import create_db_engine, messages

SECTION = "ingest"
PG_SECTION = "ingest-postgresql"  # a PostgreSQL journal's run has a section of its own, after SQLite's
# A request's unique number = run base + thread * THREAD_STRIDE + counter; a run's base is RUN_STRIDE apart.
THREAD_STRIDE = 10_000_000
RUN_STRIDE = 1_000_000_000
INVOCATION_STRIDE = 100 * RUN_STRIDE
# Forms are rate-limited per client address, and every request here comes from 127.0.0.1: the limit is
# raised out of the way (its Redis INCR + EXPIRE still runs on every request, so its cost is measured).
FORM_RATE_PER_MINUTE = 1_000_000_000


# -- the endpoints -----------------------------------------------------------------------------------------

# Body templates: __UID__ is the request's unique number, __SEQ__ its thread's counter, __CHAT__ a
# sender number (1000 different ones per wrk thread). The same bodies go out from wrk (Lua) and from the
# fixed-rate senders (Python).
TOKENS = {"__UID__": "uid", "__SEQ__": "seq", "__CHAT__": "chat"}
TEXT = "Здравствуйте! Не приходит счёт за ноябрь, заказ __UID__. Проверьте, пожалуйста."
TELEGRAM_BODY = (
    '{"update_id":__UID__,"message":{"message_id":__SEQ__,"date":1700000000,'
    '"chat":{"id":__CHAT__,"first_name":"Анна","type":"private"},'
    '"from":{"id":__CHAT__,"is_bot":false,"first_name":"Анна","language_code":"ru"},'
    f'"text":"{TEXT}"}}}}'
)


def _encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


EMAIL_BODY = "\r\n".join(
    [
        f"From: {_encoded_word('Анна Петрова')} <anna.__CHAT__@example.org>",
        "To: support@trackerhub.localhost",
        f"Subject: {_encoded_word('Не приходит счёт за ноябрь')}",
        "Message-ID: <bench-__UID__@example.org>",
        "Date: Mon, 23 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        TEXT,
        "",
        "-- ",
        "Анна",
        "",
    ]
)
FORM_BODY = urllib.parse.urlencode(
    {
        "name": "Анна Петрова",
        "email": "anna.__CHAT__@example.org",
        "subject": "Не приходит счёт за ноябрь",
        "category": "billing",
        "message": TEXT,
        "submission_id": "bench-__UID__",
    }
)


@dataclass(frozen=True)
class Endpoint:
    """One endpoint under load: where it is, what each request looks like, and its journal channel."""

    name: str
    label: str
    path: str
    headers: dict[str, str]
    body: str  # a template, see TOKENS
    channel: str | None  # the journal channel its messages land in; None for the bare baseline
    server: str = "hub"  # "hub" (this tree's code), "before" (--before-rev's) or "bare"

    def request_body(self, uid: int, seq: int) -> bytes:
        """The body of request ``seq`` (1, 2, ...) with unique number ``uid``."""
        values = {"__UID__": str(uid), "__SEQ__": str(seq), "__CHAT__": str(900_000 + seq % 1000)}
        return re.sub("|".join(TOKENS), lambda m: values[m.group(0)], self.body).encode()


def endpoints(telegram_secret: str, inbound_token: str) -> list[Endpoint]:
    """The hub's three inbound endpoints, then the bare baseline (which gets the Telegram request)."""
    telegram_headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": telegram_secret,
    }
    return [
        Endpoint(
            "telegram",
            "hub `POST /hooks/telegram`",
            "/hooks/telegram",
            telegram_headers,
            TELEGRAM_BODY,
            "telegram",
        ),
        Endpoint(
            "email",
            "hub `POST /hooks/email`",
            "/hooks/email",
            {"Content-Type": "message/rfc822", "Authorization": f"Bearer {inbound_token}"},
            EMAIL_BODY,
            "email",
        ),
        Endpoint(
            "form",
            "hub `POST /hooks/forms/support`",
            "/hooks/forms/support",
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            FORM_BODY,
            "form",
        ),
        Endpoint(
            "bare", "bare Flask + `LPUSH`", "/hooks/telegram", telegram_headers, TELEGRAM_BODY, None, "bare"
        ),
    ]


def before_endpoints(targets: list[Endpoint], rev: str) -> list[Endpoint]:
    """The hub's endpoints again, served by the code of git revision ``rev`` (the "before" of a change)."""
    return [
        replace(t, name=f"{t.name}-before", label=f"{t.label} on `{rev}`", server="before")
        for t in targets
        if t.server == "hub"
    ]


# -- load generation ---------------------------------------------------------------------------------------

WRK_SCRIPT = r"""
-- Generated by bench/ingest.py: one unique, valid request per call of request().
local run_base = __RUN_BASE__
local thread_stride = __THREAD_STRIDE__
local threads = {}

-- per-thread state (each wrk thread has its own Lua state; tid is set by setup() below)
tid = 0
sent = 0
c2xx = 0
c202 = 0
cother = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.path = __PATH__
__HEADERS__
end

function request()
  sent = sent + 1
  local uid = run_base + tid * thread_stride + sent
  local seq = sent
  local chat = 100000 + tid * 1000 + sent % 1000
  local body = __BODY__
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    c2xx = c2xx + 1
    if status == 202 then c202 = c202 + 1 end
  else
    cother = cother + 1
  end
end

function done(summary, latency, requests)
  local t = {sent = 0, c2xx = 0, c202 = 0, cother = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"sent":%d,"c2xx":%d,"c202":%d,"cother":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, t.sent, t.c2xx, t.c202, t.cother,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One closed-loop wrk run."""

    duration_s: float
    responses: int
    sent: int
    accepted: int  # 2xx
    created: int  # 202
    rejected: int  # non-2xx answers
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # filled in by measure(): gunicorn's CPU time (all its processes) per accepted request, and the
    # busiest worker's share of it (keep-alive connections stay with the worker that accepted them)
    cpu_ms_per_request: float = float("nan")
    busiest_worker_share: float = float("nan")
    other_load: float = float("nan")  # see OtherLoad

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.duration_s

    @property
    def in_flight(self) -> int:
        """Requests written but not answered when wrk stopped (the server may still journal them)."""
        return max(self.sent - self.responses, 0)


def lua_string(text: str) -> str:
    """``text`` as a Lua string literal: printable ASCII as is, every other byte as a decimal escape."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_body(template: str) -> str:
    """A Lua expression building the body of ``template`` from the script's ``uid``, ``seq``, ``chat``."""
    parts = re.split("(" + "|".join(TOKENS) + ")", template)
    return " .. ".join(
        f'string.format("%.0f", {TOKENS[part]})' if part in TOKENS else lua_string(part)
        for part in parts
        if part
    )


def write_wrk_script(path: Path, endpoint: Endpoint, run_base: int) -> None:
    """Write the Lua script for one wrk run on ``endpoint`` whose unique numbers start above ``run_base``."""
    headers = "\n".join(
        f"  wrk.headers[{lua_string(name)}] = {lua_string(value)}" for name, value in endpoint.headers.items()
    )
    text = (
        WRK_SCRIPT.replace("__RUN_BASE__", str(run_base))
        .replace("__THREAD_STRIDE__", str(THREAD_STRIDE))
        .replace("__PATH__", lua_string(endpoint.path))
        .replace("__HEADERS__", headers)
        .replace("__BODY__", lua_body(endpoint.body))
    )
    path.write_text(text, encoding="utf-8")


def run_wrk(
    port: int, path: str, script: Path, threads: int, connections: int, duration: int, log_path: Path
) -> WrkResult:
    """Run wrk for ``duration`` seconds and read the numbers its ``done()`` prints."""
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60, check=False)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(args)}\n{done.stdout}{done.stderr}\n")
    match = re.search(r"^BENCH_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stderr.strip() or done.stdout}")
    data = json.loads(match.group(1))
    return WrkResult(
        duration_s=data["duration_us"] / 1e6,
        responses=data["requests"],
        sent=data["sent"],
        accepted=data["c2xx"],
        created=data["c202"],
        rejected=data["cother"],
        socket_errors=sum(data["errors"].values()) - data["errors"]["status"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


@dataclass
class FixedRateResult:
    """One open-loop run at a fixed arrival rate."""

    rate: float
    planned: int
    elapsed_s: float
    accepted: int = 0
    created: int = 0
    failed: int = 0  # non-2xx answers and socket errors
    latencies_ms: list[float] = field(default_factory=list)
    other_load: float = float("nan")  # see OtherLoad

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile of the latencies, in ms."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = max(round(pct / 100 * len(ordered) + 0.5) - 1, 0)
        return ordered[min(rank, len(ordered) - 1)]

    @property
    def achieved_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else 0.0


def run_fixed_rate(
    port: int, endpoint: Endpoint, rate: float, duration: float, run_base: int, senders: int
) -> FixedRateResult:
    """Send ``rate`` requests per second for ``duration`` seconds on a fixed schedule (open loop).

    Request ``i`` is due at ``start + i / rate``. A pool of sender threads, each with a keep-alive
    connection, takes the next due request, sleeps until its time and sends it. Latency runs from the
    scheduled time to the end of the answer, so time spent waiting for a free sender (because the server
    is slow) counts against the server, as it would for a real sender.
    """
    planned = int(rate * duration)
    latencies: list[float | None] = [None] * planned
    statuses: list[int] = [0] * planned
    counter = itertools.count()
    lock = threading.Lock()
    start = time.perf_counter() + 0.5

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= planned:
                    return
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = endpoint.request_body(run_base + i + 1, i + 1)
                status = 0
                for _attempt in range(2):  # a keep-alive connection the server closed: reconnect once
                    try:
                        conn.request("POST", endpoint.path, body=body, headers=endpoint.headers)
                        answer = conn.getresponse()
                        answer.read()
                        status = answer.status
                        break
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                latencies[i] = (time.perf_counter() - due) * 1000
                statuses[i] = status
        finally:
            conn.close()

    workers = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result = FixedRateResult(rate=rate, planned=planned, elapsed_s=time.perf_counter() - start)
    for latency, status in zip(latencies, statuses, strict=True):
        if 200 <= status < 300:
            result.accepted += 1
            result.created += status == 202
            if latency is not None:
                result.latencies_ms.append(latency)
        else:
            result.failed += 1
    return result


# -- the journal ----------------------------------------------------------------------------------------


def prepare_journal(database_url: str) -> dict[str, int]:
    """Migrate the journal to the newest schema and return how many messages of each channel it holds.

    The schema is migrated here, before gunicorn starts, as ``trackerhub web`` does: the workers then
    find it at head, one query each, and the migration stays out of what this benchmark measures.
    """
    engine = create_db_engine(database_url)
    try:
        return journal_rows(engine)
    finally:
        engine.dispose()


def journal_rows(engine: sa.Engine) -> dict[str, int]:
    """How many messages the journal holds, per channel."""
    query = sa.select(messages.c.channel, sa.func.count()).group_by(messages.c.channel)
    with engine.connect() as conn:
        return {str(channel): int(count) for channel, count in conn.execute(query)}


def count_journal(database_url: str) -> dict[str, int]:
    """How many messages the journal at ``database_url`` holds, per channel."""
    engine = sa.create_engine(database_url)
    try:
        return journal_rows(engine)
    finally:
        engine.dispose()


# -- one endpoint ----------------------------------------------------------------------------------------


@dataclass
class EndpointResult:
    """Everything measured for one endpoint."""

    name: str
    warmup: WrkResult
    runs: list[WrkResult]
    fixed: FixedRateResult

    @property
    def median_per_s(self) -> float:
        return statistics.median(r.accepted_per_s for r in self.runs)

    @property
    def median_p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def median_p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(r.cpu_ms_per_request for r in self.runs)

    @property
    def all_wrk(self) -> list[WrkResult]:
        return [self.warmup, *self.runs]


@dataclass(frozen=True)
class LoadPlan:
    """How hard and how long to push each endpoint."""

    wrk_threads: int
    connections: int
    warmup_s: int
    duration_s: int
    runs: int
    rate: float
    rate_duration_s: float
    senders: int


def measure(
    servers: dict[str, Server],
    targets: list[Endpoint],
    plan: LoadPlan,
    workdir: Path,
    id_base: int,
    redis_pid: int,
) -> dict[str, EndpointResult]:
    """Warm each endpoint up, run rounds of closed-loop runs, then run each at the fixed rate.

    ``servers`` maps an endpoint's name to the gunicorn serving it (the hub serves three). Each round runs
    every endpoint once, in turn, rather than all runs of one then all of the next: a drift in the
    machine's speed (a shared VM's neighbours) hits every endpoint alike. Only one endpoint is under load
    at any time. Every run gets its own block of unique numbers above ``id_base``.
    """
    run_index = itertools.count()
    by_name = {target.name: target for target in targets}
    distinct = list({server.pid: server for server in servers.values()}.values())

    def our_pids() -> list[int]:
        return [redis_pid, *(pid for s in distinct for pid in [s.pid, *s.worker_pids()])]

    def wrk_run(name: str, duration: int) -> WrkResult:
        server, target = servers[name], by_name[name]
        script = workdir / f"wrk-{name}.lua"
        write_wrk_script(script, target, id_base + next(run_index) * RUN_STRIDE)
        workers = server.worker_pids()
        before = {pid: cpu_seconds(pid) for pid in [server.pid, *workers]}
        other = OtherLoad(our_pids())
        result = run_wrk(
            server.port,
            target.path,
            script,
            plan.wrk_threads,
            plan.connections,
            duration,
            workdir / f"wrk-{name}.log",
        )
        used = {pid: cpu_seconds(pid) - start for pid, start in before.items()}
        total = sum(used.values())
        busiest = max((used[pid] for pid in workers), default=0.0)
        return replace(
            result,
            cpu_ms_per_request=total * 1000 / result.accepted if result.accepted else float("nan"),
            busiest_worker_share=busiest / total if total else float("nan"),
            other_load=other.share(),
        )

    warmups = {}
    for target in targets:
        report(f"  {target.name}: warm-up {plan.warmup_s} s")
        warmups[target.name] = wrk_run(target.name, plan.warmup_s)
    runs: dict[str, list[WrkResult]] = {target.name: [] for target in targets}
    for index in range(1, plan.runs + 1):
        for target in targets:
            run = wrk_run(target.name, plan.duration_s)
            report(
                f"  {target.name}: run {index}/{plan.runs}: {run.accepted_per_s:8.0f} accepted/s, "
                f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, non-2xx {run.rejected}, "
                f"socket errors {run.socket_errors}, gunicorn CPU {run.cpu_ms_per_request:.2f} ms/request "
                f"(busiest worker {run.busiest_worker_share:.0%}), other load {run.other_load:.0%}"
            )
            runs[target.name].append(run)
    results = {}
    for target in targets:
        report(f"  {target.name}: fixed rate {plan.rate:g}/s for {plan.rate_duration_s:g} s")
        base = id_base + next(run_index) * RUN_STRIDE
        other = OtherLoad(our_pids())
        fixed = run_fixed_rate(
            servers[target.name].port, target, plan.rate, plan.rate_duration_s, base, plan.senders
        )
        fixed.other_load = other.share()
        report(
            f"  {target.name}: fixed rate: {fixed.achieved_per_s:.0f}/s accepted, "
            f"p50 {fixed.percentile(50):.2f} ms, p99 {fixed.percentile(99):.2f} ms, "
            f"max {fixed.percentile(100):.2f} ms, failed {fixed.failed}, other load {fixed.other_load:.0%}"
        )
        results[target.name] = EndpointResult(
            name=target.name, warmup=warmups[target.name], runs=runs[target.name], fixed=fixed
        )
    return results


# -- the report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalCheck:
    """An endpoint's 2xx answers against the rows its channel gained in the journal."""

    answered_2xx: int
    answered_202: int
    answered_other: int
    in_flight: int
    rows_added: int

    @property
    def consistent(self) -> bool:
        """Rows equal the 202 answers, plus at most the requests wrk left in flight (still journaled)."""
        return self.answered_202 <= self.rows_added <= self.answered_202 + self.in_flight


def journal_check(result: EndpointResult, rows_added: int) -> JournalCheck:
    """Compare ``result``'s answers with the journal rows of its channel."""
    return JournalCheck(
        answered_2xx=sum(r.accepted for r in result.all_wrk) + result.fixed.accepted,
        answered_202=sum(r.created for r in result.all_wrk) + result.fixed.created,
        answered_other=sum(r.rejected for r in result.all_wrk) + result.fixed.failed,
        in_flight=sum(r.in_flight for r in result.all_wrk),
        rows_added=rows_added,
    )


# What the profiles (py-spy on a hub worker under this load, cProfile in-process, strace -c) showed when
# the request path was last reworked; see the "What limits it" part of the section.
LIMITS = """\
Where the hub's extra CPU goes, from profiles taken while reworking the request path (2026-11-23 and
2026-12-07: py-spy and `strace -c` on a hub worker under this load, cProfile of the app in one process,
and the hub re-run with parts of its path stubbed out):

- **The journal write** is still the largest part. Since issue 17 the request threads of a web process
  that journal at the same moment share one transaction (`store/group_commit.py`: the first becomes the
  batch's writer, one executemany per table and one COMMIT; each request still answers only after its
  own row is committed), and the two web processes take turns at a SQLite file with `flock`
  (`store/write_lock.py`) instead of sleeping in SQLite's busy handler: no busy-handler sleep left
  (`strace -c`), 1.7 messages per transaction under `wrk -t2 -c16`. `perf record` on a worker: 69% of
  its CPU in the Python interpreter, 20% in the kernel (about 110 `futex` calls per message, the GIL
  passing between four threads), 3.7% in SQLite itself. The batch now goes to the driver's
  `executemany` as SQL compiled once per dialect (`store/journal.py`, `_prepared`), without
  SQLAlchemy's compile-cache lookup and parameter processing per statement: in one thread
  `journal.record` of a message with its raw payload costs 0.44 ms of CPU on SQLite instead of 0.55
  (median of 5 alternating runs each). Sending PostgreSQL's batch in psycopg's pipeline mode (BEGIN and
  both INSERTs in one round trip) was measured and dropped: 0.92 ms of CPU instead of 0.83. With the
  journal write stubbed out (2026-12-07, before these changes) Telegram reached 0.54 of bare, e-mail
  0.31 and the form 0.23: the journal alone does not decide the e-mail and form targets.
- **The enqueue** is one Redis round trip: a Lua script (`jobs/delivery_jobs.py`) does what RQ's
  `Queue.enqueue(..., unique=True)` does in two, with the job hash built from a template of RQ's own
  `Job.to_dict()`. The fields every delivery job shares are written into the script's text, so a
  request sends 4 arguments instead of 19 for redis-py to pack in Python: `enqueue_delivery` costs
  0.22 ms of CPU in one thread instead of 0.25. What is left is the round trip itself and the
  `zlib.compress` of the job's call (RQ's format, which tests/jobs/test_queues.py holds the hash to
  byte for byte): 4% of the GIL-holding samples of a Telegram worker under load.
- Verifying, parsing, validating and answering: in one thread (Flask's test client) the Telegram
  request costs 1.55 ms of CPU against 0.6 ms for the bare endpoint; of the 0.95 ms more, the journal
  is 0.44, the enqueue 0.15 more than the bare `LPUSH`, and the rest (the secret check, the JSON, the
  five checks for a team chat, a command, a button or a survey reply, the model, its JSON, the answer)
  about 0.35. Under gunicorn's four threads the gap about doubles (thread and GIL hand-offs). There are
  no before/after-request hooks, metrics counters or request ids on this path; at the default
  `HUB_LOG_LEVEL=INFO` the one log line per message skips the secret-scrubbing regex unless the line
  could hold a secret.
- `POST /hooks/email` also parses the MIME message: 0.5-0.8 ms of CPU for this small mail (against
  0.03 ms for a Telegram update), of which the MIME structure is about 0.10 ms, the headers the request
  uses (Message-ID, subject, sender, the auto-reply signs, threading and address headers) 0.32 ms, the
  body (parts and text) 0.23 ms and the message model 0.14 ms. Leaving the body to the worker would save
  at most the body's share, and the journal keeps the parsed message the worker reads
  (`jobs/deliver.py`), so it would have to parse mail too: not done. `POST /hooks/forms/support`
  parses the form and makes one more Redis round trip for its per-address rate limit (`INCR` and
  `EXPIRE` in one script since 2026-12-07, where a MULTI/EXEC sent four commands); it cannot share the
  enqueue's round trip, since the limit must refuse a submission before it is journaled and the
  enqueue comes after."""


def before_after(
    results: dict[str, EndpointResult], hub_targets: list[Endpoint], rev: str | None
) -> list[str]:
    """A paragraph comparing each endpoint with its run on ``rev``'s code (none without ``--before-rev``)."""
    if rev is None:
        return []
    bare = results["bare"].median_per_s

    def line(target: Endpoint) -> str:
        now, then = results[target.name], results[f"{target.name}-before"]
        return (
            f"`{target.path}` {then.median_per_s / bare:.2f} → {now.median_per_s / bare:.2f} of bare "
            f"({ms(then.median_cpu_ms)} → {ms(now.median_cpu_ms)} of CPU per request, p99 at the fixed "
            f"rate {ms(then.fixed.percentile(99))} → {ms(now.fixed.percentile(99))})"
        )

    return [
        f"Before (`{rev}`) and after (this tree), measured in this run, round by round: "
        + "; ".join(line(t) for t in hub_targets)
        + ".",
        "",
    ]


def disturbed_note(results: dict[str, EndpointResult], targets: list[Endpoint]) -> list[str]:
    """A warning paragraph when other processes used more than a tenth of the machine during the runs."""
    loads = [
        run.other_load for t in targets for run in results[t.name].runs if run.other_load == run.other_load
    ]
    if not loads or statistics.median(loads) <= 0.10:
        return []
    median = statistics.median(loads)
    return [
        "",
        f"**This run was disturbed:** other processes used {min(loads):.0%} to {max(loads):.0%} of the "
        f"machine during the closed-loop runs (median {median:.0%}). Read the ratios and the CPU column "
        "rather than the absolute req/s and latencies, and re-run on a quiet machine for numbers to compare.",
    ]


def render_section(
    results: dict[str, EndpointResult],
    targets: list[Endpoint],
    plan: LoadPlan,
    server: ServerSettings,
    info: dict[str, str],
    command: str,
    database: str,
    journal_added: dict[str, dict[str, int]],
    before: tuple[str, str] | None = None,
    name: str = SECTION,
) -> str:
    """The Markdown for this benchmark's section of BENCHMARKS.md.

    ``journal_added`` maps a server ("hub", "before") to the rows each channel gained in its journal;
    ``before`` is the revision the before endpoints ran and the journal they wrote, when there were any.
    """
    bare = results["bare"]
    journaled = [t for t in targets if t.channel is not None]
    hub_targets = [t for t in journaled if t.server == "hub"]

    def ratio(name: str) -> float:
        return results[name].median_per_s / bare.median_per_s if bare.median_per_s else float("nan")

    begin, end = markers(name)
    lines = [
        begin,
        "## Ingest: the hub's inbound endpoints" + (" (PostgreSQL journal)" if name == PG_SECTION else ""),
        "",
        "How fast the hub accepts a message on each inbound endpoint (verify the sender, parse, journal, "
        "enqueue the delivery job) compared with a bare Flask endpoint that does one Redis `LPUSH` "
        "(`bench/bare_app.py`), both under the same gunicorn settings on the same machine in the same run. "
        "Requests: `POST /hooks/telegram` gets a text-message update with a unique `update_id` and the "
        "secret header; `POST /hooks/email` a 0.6 KB plain-text mail (UTF-8, encoded-word headers) with a "
        "unique Message-ID and the Bearer token; `POST /hooks/forms/support` a urlencoded submission of "
        "the shipped form with a unique `submission_id`; the bare endpoint gets the Telegram request. "
        "Only 2xx answers count as accepted. Load generator, servers and Redis share the machine's CPUs.",
        "",
        f"- Date: {utc_now_text()}",
        f"- Command: `{command}`",
        f"- Machine: {machine_line(info)}",
        f"- Software: Python {info['python']}, gunicorn {info['gunicorn']}, wrk {info['wrk']}, "
        f"redis-server {info['redis']} (no persistence; both servers use the same instance)",
        f"- gunicorn: `{' '.join(server.args())}` (gthread workers, no access log, "
        f"`trackerhub web`'s allocator settings {allocator_env()}) for both servers. "
        "`--worker-connections` is the client connections divided by the workers: gthread keeps a keep-alive "
        "connection on the worker that accepted it, and without the cap one worker often accepted all of "
        "wrk's connections while the other idled, which halved the hub's throughput in some runs",
        f"- Hub: `wsgi:app`, `HUB_LOG_LEVEL=WARNING`, `HUB_FORM_RATE_PER_MINUTE={FORM_RATE_PER_MINUTE}` "
        "(every request comes from 127.0.0.1; the limit's Redis `INCR` still runs per request), "
        f"journal: {database}"
        + (
            f"; the endpoints on `{before[0]}` ran that revision's code (`git archive`) under the same "
            f"settings, on a journal of their own: {before[1]}"
            if before
            else ""
        ),
        f"- Closed loop: `wrk -t{plan.wrk_threads} -c{plan.connections}`, a {plan.warmup_s} s warm-up per "
        f"endpoint, then {plan.runs} rounds in which each endpoint runs {plan.duration_s} s in turn, so "
        "drift in the machine's speed hits all of them; the table shows the median of the runs for each "
        "column",
        f"- Open loop: {plan.rate:g} requests/s on a fixed schedule for {plan.rate_duration_s:g} s per "
        f"endpoint ({plan.senders} Python sender threads with keep-alive connections, `wrk2` is not in "
        "Debian); latency runs from each request's scheduled send time, so queueing behind a slow answer "
        "counts",
        "",
        "### Throughput (closed loop)",
        "",
        "| endpoint | accepted req/s (median) | p50 | p99 | ratio hub/bare | gunicorn CPU per request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for target in targets:
        result = results[target.name]
        lines.append(
            f"| {target.label} | {result.median_per_s:,.0f} | {ms(result.median_p50_ms)} "
            f"| {ms(result.median_p99_ms)} | {ratio(target.name):.2f} | {ms(result.median_cpu_ms)} |"
        )
    lines += [
        "",
        "Each run (accepted/s; busiest gunicorn worker's share of the CPU; other processes' share of the "
        "machine): "
        + "; ".join(
            f"{target.name} "
            + ", ".join(
                f"{run.accepted_per_s:,.0f}/s ({run.busiest_worker_share:.0%}; {run.other_load:.0%})"
                for run in results[target.name].runs
            )
            for target in targets
        )
        + ". The CPU column is the user+system time of all gunicorn processes divided by the accepted "
        'requests: what the endpoint\'s code costs, whatever else the machine is doing. "Other" is the '
        "machine's busy time not spent by this benchmark's processes (other test suites, VM steal); "
        "above a few percent the req/s and latencies are disturbed. The bare endpoint's CPU column hardly "
        "moves with it; the hub's rises (by 0.1 to 0.4 ms per request at 40 to 60% other load in our runs), "
        "because a preempted hub thread holds the SQLite write lock or the GIL longer and the others spend "
        "CPU waiting for it.",
        *disturbed_note(results, targets),
        "",
        f"### Latency at a fixed {plan.rate:g} requests/s (open loop)",
        "",
        "| endpoint | accepted req/s | p50 | p99 | max | failed | other load |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for target in targets:
        fixed = results[target.name].fixed
        lines.append(
            f"| {target.label} | {fixed.achieved_per_s:,.0f} | {ms(fixed.percentile(50))} "
            f"| {ms(fixed.percentile(99))} | {ms(fixed.percentile(100))} | {fixed.failed} "
            f"| {fixed.other_load:.0%} |"
        )
    extra = ", ".join(
        f"{t.name} {results[t.name].median_cpu_ms - bare.median_cpu_ms:+.2f} ms" for t in journaled
    )
    lines += ["", *before_after(results, hub_targets, before[0] if before else None)]
    lines += [
        "### What limits it",
        "",
        f"In this run the hub's CPU per request exceeds the bare endpoint's by: {extra}. "
        "Load generator, Redis and both servers share the machine's CPUs, so that extra CPU is what "
        "the throughput ratio pays for.",
        "",
        LIMITS if name == SECTION else "The profile of the request path is in the SQLite section above.",
        "",
        "### Targets and checks",
        "",
    ]
    for target in hub_targets:
        value = ratio(target.name)
        verdict = "met" if value >= 0.5 else "**not met**"
        lines.append(
            f"- `{target.path}` throughput at least 50% of the bare endpoint's (issue 6): {value:.0%} "
            f"— {verdict}."
        )
    for target in hub_targets:
        fixed = results[target.name].fixed
        p99 = fixed.percentile(99)
        verdict = "met" if p99 < 50 and fixed.failed == 0 else "**not met**"
        lines.append(f"- `{target.path}` p99 under 50 ms at {plan.rate:g} messages/s: {ms(p99)} — {verdict}.")
    for target in journaled:
        assert target.channel is not None
        check = journal_check(results[target.name], journal_added[target.server].get(target.channel, 0))
        code = f" on `{before[0]}`" if before and target.server == "before" else ""
        verdict = "consistent" if check.consistent else "**inconsistent**"
        lines.append(
            f"- Journal check, `{target.path}`{code}: {check.answered_2xx:,} answers 2xx "
            f"({check.answered_202:,} of them 202) and {check.answered_other:,} otherwise; "
            f"the journal gained {check.rows_added:,} `{target.channel}` rows ({verdict}: rows must "
            f"equal the 202 answers, plus at most the {check.in_flight} requests wrk left in flight when it "
            "stopped, which the server still journals)."
        )
    lines.append(end)
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per endpoint (default 5)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run (default 15)")
    parser.add_argument("--runs", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--rate", type=float, default=300, help="fixed-rate requests/s (default 300)")
    parser.add_argument("--rate-duration", type=float, default=20, help="fixed-rate seconds (default 20)")
    parser.add_argument("--senders", type=int, default=16, help="fixed-rate sender threads (default 16)")
    parser.add_argument(
        "--worker-connections",
        type=int,
        help="gunicorn --worker-connections (default: connections / workers, so each worker takes its share)",
    )
    parser.add_argument(
        "--database-url",
        help="journal database (e.g. postgresql+psycopg://...); default: a fresh SQLite file",
    )
    parser.add_argument(
        "--before-rev",
        help="also serve the hub on this git revision's code (exported to a temp dir), e.g. main: "
        "before and after a change in one run",
    )
    parser.add_argument(
        "--before-database-url",
        help="the before hub's journal (it must be another database than --database-url's); "
        "default: a fresh SQLite file",
    )
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    plan = LoadPlan(
        wrk_threads=args.wrk_threads,
        connections=args.connections,
        warmup_s=args.warmup,
        duration_s=args.duration,
        runs=args.runs,
        rate=args.rate,
        rate_duration_s=args.rate_duration,
        senders=args.senders,
    )
    telegram_secret = secrets.token_urlsafe(24)
    inbound_token = secrets.token_urlsafe(24)
    targets = endpoints(telegram_secret, inbound_token)
    if args.before_rev:
        targets[-1:-1] = before_endpoints(targets, args.before_rev)
    if len(targets) * (plan.runs + 2) > INVOCATION_STRIDE // RUN_STRIDE:
        raise SystemExit("too many runs for the unique number blocks")
    busiest_client = max(plan.connections, plan.senders)
    worker_connections = args.worker_connections or -(-busiest_client // args.workers)
    if busiest_client > args.workers * worker_connections:
        raise SystemExit("--connections and --senders must fit in --workers x --worker-connections")
    server = ServerSettings(args.workers, args.threads, worker_connections)
    # Unique across invocations too (for ~6 days), so a kept PostgreSQL journal sees no repeat update_id;
    # the largest id stays below 2**53, which wrk's Lua numbers hold exactly.
    id_base = int(time.time()) // 10 % 50_000 * INVOCATION_STRIDE
    info = machine() | {"wrk": wrk_version()}
    report(f"ingest benchmark: {info['cpus']} CPUs, {info['cpu']}, Python {info['python']}")
    with tempfile.TemporaryDirectory(prefix="trackerhub-bench-") as tmp:
        workdir = Path(tmp)
        databases = {"hub": args.database_url or f"sqlite:///{workdir / 'journal.sqlite3'}"}
        sources = {"hub": PROJECT_ROOT}
        if args.before_rev:
            databases["before"] = args.before_database_url or f"sqlite:///{workdir / 'before.sqlite3'}"
            if databases["before"] == databases["hub"]:
                raise SystemExit("--before-database-url must be another database than --database-url")
            sources["before"] = export(args.before_rev, workdir / "before-src")
        with redis_server(workdir) as redis_url, ExitStack() as stack:
            before = {name: prepare_journal(url) for name, url in databases.items()}

            def hub_env(name: str) -> dict[str, str]:
                return child_env(
                    {
                        "REDIS_URL": redis_url,
                        "DATABASE_URL": databases[name],
                        "TELEGRAM_WEBHOOK_SECRET": telegram_secret,
                        "HUB_INBOUND_TOKEN": inbound_token,
                        "HUB_FORM_RATE_PER_MINUTE": str(FORM_RATE_PER_MINUTE),
                        "HUB_LOG_LEVEL": "WARNING",
                    }
                )

            probe = targets[0].path
            started = {
                name: stack.enter_context(
                    gunicorn("wsgi:app", sources[name], hub_env(name), server, workdir, name, probe)
                )
                for name in databases
            }
            bare_env = child_env({"REDIS_URL": redis_url})
            started["bare"] = stack.enter_context(
                gunicorn("bare_app:app", BENCH_DIR, bare_env, server, workdir, "bare", probe)
            )
            servers = {t.name: started[t.server] for t in targets}
            results = measure(servers, targets, plan, workdir, id_base, find_redis_pid(redis_url))
            stack.close()  # gunicorn stops gracefully: every request it took is journaled by now
            after = {name: count_journal(url) for name, url in databases.items()}
    journal_added = {
        name: {channel: count - before[name].get(channel, 0) for channel, count in rows.items()}
        for name, rows in after.items()
    }
    command = command_line("ingest.py", argv)
    name = SECTION if databases["hub"].startswith("sqlite") else PG_SECTION
    before_rev = (args.before_rev, describe_db(databases["before"])) if args.before_rev else None
    section = render_section(
        results,
        targets,
        plan,
        server,
        info,
        command,
        describe_db(databases["hub"]),
        journal_added,
        before_rev,
        name,
    )
    publish(section, args.output, name, write=not args.no_write)


if __name__ == "__main__":
    run_main(main)
