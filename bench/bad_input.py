"""Bad-input benchmark: what each hostile message of the test corpus costs the hub, in time and memory.

Why: issue 6 asks that no message, however hostile, takes more than 2 s to parse or grows memory by more
than 200 MB. The test suite (``tests/reliability/test_bad_input.py``) asserts the answers only; the
numbers are measured here, against an ordinary message of the same channel in the same run.

What it does (``.venv/bin/python bench/bad_input.py``, or ``make bench``):

1. starts a private ``redis-server`` and the sandbox Jira in its own process, both in a temp dir;
2. measures every case of ``tests/reliability/hostile.py`` and the three baselines, each in a fresh
   Python process (so one case's memory cannot hide in another's) with the app on its own SQLite journal:
   - one warm-up ordinary message of the channel;
   - peak RSS growth of the first run: the kernel's high-water mark is reset (``/proc/self/clear_refs``)
     and read back after the request, minus the RSS before it;
   - the peak of Python's own allocations (``tracemalloc``) in a second run;
   - the answer time, median of ``--runs`` more runs, each a new message (a new Message-ID, update_id
     or submission id): the hub's whole request (verify, read, parse, journal, enqueue) through Flask's
     test client in-process, so no HTTP server or client time is counted;
   - the parser alone (``parse_email``; ``json.loads`` + ``parse_update``), median of ``--runs``;
   - for an accepted message, one delivery attempt (``deliver_with``) to the sandbox Jira: its time,
     its RSS growth and the journal status it ends in;
3. rewrites its own section of ``BENCHMARKS.md`` (between ``<!-- bad-input:begin -->`` and
   ``<!-- bad-input:end -->``).

Everything it starts is stopped on the way out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCHMARKS_MD,
    PROJECT_ROOT,
    OtherLoad,
    Sandbox,
    child_env,
    command_line,
    jira_sandbox,
    machine,
    machine_line,
    markers,
    ms,
    package_version,
    pct,
    publish,
    redis_server,
    report,
    run_main,
    utc_now_text,
)
from tests.reliability.hostile import (
    BASELINES,
    CASES,
    EMAIL_TOKEN,
    TELEGRAM_SECRET,
    Case,
    HookRequest,
    as_json,
    ordinary_update,
    telegram_request,
)

SECTION = "bad-input"
TIME_TARGET_S = 2.0
MEMORY_TARGET_MIB = 200.0
CHANNELS = {"email": "E-mail: `POST /hooks/email`", "telegram": "Telegram: `POST /hooks/telegram`"}
CHANNELS["form"] = "Web form: `POST /hooks/forms/support`"


@dataclass
class Result:
    """One case measured in its own process."""

    id: str
    channel: str
    what: str
    size: int
    expected: str
    status: int = 0
    answer: str = ""
    matches: bool = False
    answer_ms: list[float] = field(default_factory=list)
    parser_ms: list[float] = field(default_factory=list)
    rss_growth_kib: int = 0
    tracemalloc_peak_kib: int = 0
    delivery: str = ""
    delivery_ms: float = float("nan")
    delivery_rss_growth_kib: int = 0
    other_load: float = float("nan")
    error: str = ""

    @property
    def answer_median_ms(self) -> float:
        return statistics.median(self.answer_ms) if self.answer_ms else float("nan")

    @property
    def parser_median_ms(self) -> float:
        return statistics.median(self.parser_ms) if self.parser_ms else float("nan")

    @property
    def worst_ms(self) -> float:
        times = [*self.answer_ms, self.delivery_ms]
        return max((t for t in times if t == t), default=float("nan"))

    @property
    def peak_mib(self) -> float:
        return max(self.rss_growth_kib, self.tracemalloc_peak_kib, self.delivery_rss_growth_kib) / 1024


# -- the child: one case in one process -------------------------------------------------------------------


def _status_kib(name: str) -> int:
    found = re.search(rf"^{name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


def _reset_peak() -> None:
    """Reset the kernel's high-water mark of this process's RSS (Linux 4.0+)."""
    Path("/proc/self/clear_refs").write_text("5")


def _rss_growth(run: Any) -> tuple[Any, int, float]:
    """Run ``run()``; return its result, the peak RSS growth (KiB) during it, and its time (ms)."""
    gc.collect()
    before = _status_kib("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    value = run()
    elapsed = (time.perf_counter() - start) * 1000
    return value, max(_status_kib("VmHWM") - before, 0), elapsed


def _describe_answer(status: int, body: Any) -> str:
    if not isinstance(body, dict):
        return str(status)
    if status >= 400:
        return f"{status} {body.get('error', '')}"
    return f"{status} {body.get('status', '')}"


def _parse_only(request: HookRequest, channel: str) -> None:
    """The channel's parser alone, on the request body (bad input raises a mapper error: fine)."""
    from mappers.email import parse_email
    from mappers.errors import MapperError
    from mappers.telegram import parse_update

    now = dt.datetime.now(dt.UTC)
    try:
        if channel == "email":
            parse_email(request.body, received_at=now, own_domain="hub.example.com")
        else:
            parse_update(json.loads(request.body), received_at=now)
    except (MapperError, ValueError, RecursionError):
        pass


def run_child(
    case_id: str, runs: int, redis_url: str, database_url: str, jira_url: str, sandbox_pid: int
) -> Result:
    from redis import Redis

    from config.settings import Settings
    from jobs.context import build_context
    from jobs.deliver import deliver_with
    from routes import create_app
    from store import journal
    from tests.reliability.hostile import send

    case = _find(case_id)
    settings = Settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JIRA_URL=jira_url,
        JIRA_TOKEN="bench-token",
        TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
        HUB_INBOUND_TOKEN=EMAIL_TOKEN,
        HUB_EMAIL_FROM="support@hub.example.com",
        HUB_FORM_RATE_PER_MINUTE=1_000_000,  # every run comes from one address
        HUB_LOG_LEVEL="ERROR",
    )
    Redis.from_url(redis_url).flushdb()
    app = create_app(settings)
    client = app.test_client()
    ctx = build_context(settings)
    numbers = iter(range(1, 1_000_000))
    result = Result(case.id, case.channel, case.what, case.build(0).size, case.expect.describe())
    load = OtherLoad([sandbox_pid])  # the sandbox Jira serves the delivery: not "other" load

    # Warm-up: imports, caches, the journal file, and the tracker client, whose first call reads Jira's
    # metadata. A Telegram warm-up writes from another chat, so the measured message opens its own issue.
    warm = BASELINES[case.channel](next(numbers))
    if case.channel == "telegram":
        warm = telegram_request(as_json(ordinary_update(next(numbers), chat={"id": 7, "type": "private"})))
    deliver_with(ctx, send(client, warm).get_json()["id"])

    request = case.build(next(numbers))
    response, result.rss_growth_kib, first_ms = _rss_growth(lambda: send(client, request))
    body = response.get_json(silent=True)
    result.status = response.status_code
    result.answer = _describe_answer(response.status_code, body)
    accepted_id = body.get("id") if response.status_code == 202 and isinstance(body, dict) else None
    del request, response

    request = case.build(next(numbers))
    tracemalloc.start()
    send(client, request)
    result.tracemalloc_peak_kib = tracemalloc.get_traced_memory()[1] // 1024
    tracemalloc.stop()
    del request

    for _ in range(runs):
        request = case.build(next(numbers))
        gc.collect()
        start = time.perf_counter()
        send(client, request)
        result.answer_ms.append((time.perf_counter() - start) * 1000)
        del request
    result.answer_ms = result.answer_ms or [first_ms]

    if case.channel in ("email", "telegram") and result.status != 413:  # a 413 is never parsed
        request = case.build(next(numbers))
        if not request.chunked:
            for _ in range(runs):
                start = time.perf_counter()
                _parse_only(request, case.channel)
                result.parser_ms.append((time.perf_counter() - start) * 1000)
        del request

    if accepted_id:
        status, result.delivery_rss_growth_kib, result.delivery_ms = _rss_growth(
            lambda: deliver_with(ctx, accepted_id)
        )
        entry = journal.get(ctx.engine, accepted_id)
        reason = f" ({entry.reason})" if entry is not None and entry.reason and status != "delivered" else ""
        result.delivery = f"{status}{reason}"
    result.other_load = load.share()
    result.matches = _matches(case, result)
    return result


def _matches(case: Case, result: Result) -> bool:
    """Whether the answer is what the test suite expects (status, error text, final journal status)."""
    expect = case.expect
    if result.status != expect.status:
        return False
    if expect.error and expect.error not in result.answer:
        return False
    return not expect.journal or result.delivery.startswith(expect.journal)


def _find(case_id: str) -> Case:
    for case in CASES:
        if case.id == case_id:
            return case
    for channel, build in BASELINES.items():
        if case_id == f"baseline-{channel}":
            return Case(case_id, channel, "an ordinary message (baseline)", build, _baseline_expect())
    raise SystemExit(f"unknown case {case_id!r}")


def _baseline_expect() -> Any:
    from tests.reliability.hostile import Expect

    return Expect(202, journal="delivered")


# -- the parent: every case, then the report ----------------------------------------------------------------


def measure_all(
    case_ids: list[str], runs: int, workdir: Path, redis_url: str, sandbox: Sandbox
) -> list[Result]:
    results = []
    for index, case_id in enumerate(case_ids, start=1):
        database_url = f"sqlite:///{workdir / f'journal-{index}.sqlite3'}"
        args = [sys.executable, str(Path(__file__).resolve()), "--child", case_id, "--runs", str(runs)]
        args += ["--redis-url", redis_url, "--database-url", database_url]
        args += ["--jira-url", sandbox.url, "--sandbox-pid", str(sandbox.pid)]
        proc = subprocess.run(
            args,
            cwd=PROJECT_ROOT,
            env=child_env({}),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            case = _find(case_id)
            result = Result(case.id, case.channel, case.what, 0, case.expect.describe())
            result.error = (proc.stderr.strip().splitlines() or ["no result"])[-1][:300]
        else:
            result = Result(**json.loads(line.removeprefix("RESULT ")))
        results.append(result)
        report(
            f"[{index}/{len(case_ids)}] {case_id}: {result.answer or result.error}, "
            f"{ms(result.answer_median_ms)}, RSS +{result.rss_growth_kib / 1024:.1f} MiB, "
            f"delivery {result.delivery or '-'}"
        )
    return results


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} B"


def mib_text(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def render_section(results: list[Result], runs: int, info: dict[str, str], command: str) -> str:
    begin, end = markers(SECTION)
    baselines = {r.channel: r for r in results if r.id.startswith("baseline-")}
    cases = [r for r in results if not r.id.startswith("baseline-")]
    slow = [r for r in cases if not r.worst_ms < TIME_TARGET_S * 1000]
    heavy = [r for r in cases if not r.peak_mib < MEMORY_TARGET_MIB]
    wrong = [r for r in results if not r.matches]
    lines = [
        begin,
        "## Bad input: hostile messages at the inbound hooks",
        "",
        "What each hostile input of the test corpus (`tests/reliability/hostile.py`, asserted by "
        "`tests/reliability/test_bad_input.py`) costs the hub, next to an ordinary message of the same "
        "channel measured the same way in the same run. Targets (issue 6): under "
        f"{TIME_TARGET_S:g} s and under {MEMORY_TARGET_MIB:g} MB of memory growth per message.",
        "",
        f"- Date: {utc_now_text()}",
        f"- Command: `{command}`",
        f"- Machine: {machine_line(info)}",
        f"- Software: Python {info['python']}, Flask {package_version('flask')}, "
        f"redis-server {info['redis']}; journal: SQLite, a fresh file per case",
        "- Method: each case runs in a fresh Python process with the app (`create_app`) on a private "
        "redis-server and the sandbox Jira in its own process; requests go through Flask's test client "
        "in-process, so the times are the hub's own work (verify, read the body, parse, journal, enqueue), "
        "with no HTTP server or client. One ordinary message warms the process up first.",
        f"- Answer: median of {runs} runs, each a new message. Parser: `parse_email`, or `json.loads` + "
        f"`parse_update`, alone, median of {runs} (not for chunked bodies or forms, whose parsing is "
        "Werkzeug's). RSS growth: the peak RSS during the first run (`VmHWM`, reset through "
        "`/proc/self/clear_refs`) minus the RSS before it; it includes the request body the test client "
        "hands over. tracemalloc: peak of Python allocations during one run. Delivery: one `deliver_with` "
        "attempt against the sandbox Jira (issue, attachments), its time and RSS growth, and the journal "
        "status it ends in. Other load: the share of the machine's CPU time that processes other than "
        "this case's used while it ran (other test suites on a shared machine); where it is high, the "
        "times are inflated.",
    ]
    for channel, title in CHANNELS.items():
        base = baselines.get(channel)
        lines += [
            "",
            f"### {title}",
            "",
            "| input | size | answer | answer time | × ordinary | parser | RSS growth | tracemalloc "
            "| delivery | delivery time | delivery RSS | other load |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for r in [*([base] if base else []), *(c for c in cases if c.channel == channel)]:
            ratio = (
                r.answer_median_ms / base.answer_median_ms if base and base.answer_median_ms else float("nan")
            )
            label = "ordinary message (baseline)" if r is base else f"`{r.id}`: {r.what}"
            answer = r.answer if r.matches else f"**{r.answer or r.error}** (expected {r.expected})"
            lines.append(
                f"| {label} | {size_text(r.size)} | {answer} | {ms(r.answer_median_ms)} | "
                f"{ratio:.1f} | {ms(r.parser_median_ms)} | {mib_text(r.rss_growth_kib)} | "
                f"{mib_text(r.tracemalloc_peak_kib)} | {r.delivery or '–'} | "
                f"{ms(r.delivery_ms) if r.delivery else '–'} | "
                f"{mib_text(r.delivery_rss_growth_kib) if r.delivery else '–'} | {pct(r.other_load)} |"
            )
    loads = [r.other_load for r in results if r.other_load == r.other_load]
    lines += [
        "",
        "### Targets and checks",
        "",
        f"- Time under {TIME_TARGET_S:g} s (the answer's median and the delivery attempt): "
        + (
            f"met by all {len(cases)} inputs."
            if not slow
            else f"**not met** by {', '.join(f'`{r.id}` ({ms(r.worst_ms)})' for r in slow)}."
        ),
        f"- Memory growth under {MEMORY_TARGET_MIB:g} MB (the largest of RSS growth, tracemalloc peak and "
        "delivery RSS growth): "
        + (
            f"met by all {len(cases)} inputs."
            if not heavy
            else f"**not met** by {', '.join(f'`{r.id}` ({r.peak_mib:.0f} MiB)' for r in heavy)}."
        ),
        "- Answers as the test suite expects (status, error, journal status after delivery): "
        + ("all." if not wrong else "**not** " + ", ".join(f"`{r.id}`" for r in wrong) + "."),
        f"- Other processes' share of the machine while a case ran: median {statistics.median(loads):.0%}, "
        f"at most {max(loads):.0%}."
        if loads
        else "- Other load: not measured.",
        end,
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--only", action="append", help="measure only this case id (repeatable)")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--jira-url", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox-pid", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        result = run_child(
            args.child, args.runs, args.redis_url, args.database_url, args.jira_url, args.sandbox_pid
        )
        print("RESULT " + json.dumps(asdict(result)), flush=True)
        return
    case_ids = [f"baseline-{channel}" for channel in CHANNELS] + [case.id for case in CASES]
    if args.only:
        case_ids = [c for c in case_ids if c in args.only or c.startswith("baseline-")]
    info = machine()
    report(f"bad-input benchmark: {len(case_ids)} cases, {info['cpus']} CPUs, Python {info['python']}")
    with tempfile.TemporaryDirectory(prefix="trackerhub-bench-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url, jira_sandbox(workdir) as sandbox:
            results = measure_all(case_ids, args.runs, workdir, redis_url, sandbox)
    command = command_line("bad_input.py", argv)
    section = render_section(results, args.runs, info, command)
    publish(section, args.output, SECTION, write=not (args.no_write or args.only))


if __name__ == "__main__":
    run_main(main)
