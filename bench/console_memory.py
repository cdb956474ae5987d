"""Memory benchmark of the admin console: peak RSS of a gunicorn web worker of the hub while people use
the console, against the 80 MB web-worker budget of issue 6 (BENCHMARKS.md, "Memory").

Why: the console runs in the hub's web workers (issue 16 asks that its pages do not push a worker past
the budget). Its dear parts are a login (an 8 MiB scrypt hash), a page of 100 journal rows, a search
by sender (it reads the bodies that match the text), and a message whose raw source is a large e-mail
(the page reads only its first 256 KiB; the download sends it 1 MiB at a time).

What it does (``.venv/bin/python bench/console_memory.py``):

1. starts a private ``redis-server`` and a fresh SQLite journal holding ``--messages`` Telegram and
   e-mail rows (a tenth of them dead letters) and ``--large`` e-mails of 20 MB each, routing-audit
   lines and automation firings (``--messages`` / 10 of each), and one account;
2. serves the hub with gunicorn (2 workers × 4 threads, ``trackerhub web``'s allocator settings), and
   reads each worker's RSS after start-up;
3. from 8 sessions: (a) logs each in; (b) opens the overview (its charts over 24 hours and 7 days),
   Messages pages with and without filters, message pages, Dead letters, the routing log, automation
   firings and the audit, ``--pages`` requests in all; (c) opens each large
   message's page, then downloads its source, one at a time (``--kinds`` picks the page kinds of (b),
   ``--preload`` serves as ``trackerhub web`` does by default); reading each worker's peak RSS (VmHWM)
   after each phase;
4. rewrites its section of ``BENCHMARKS.md`` (``<!-- console-memory:begin -->`` … ``:end -->``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCHMARKS_MD,
    PROJECT_ROOT,
    Server,
    ServerSettings,
    allocator_env,
    child_env,
    command_line,
    gunicorn,
    machine,
    machine_line,
    markers,
    memory_kb,
    mib,
    publish,
    redis_server,
    report,
    run_main,
    utc_now_text,
)
from store import accounts, automations, journal
from store.db import create_db_engine, route_audit

SECTION = "console-memory"
TARGET_MB = 80
SECRET = "bench-console-secret"
PASSWORD = "bench-console-password"
LARGE_BYTES = 20 * 1024 * 1024
SESSIONS = 8
LOGIN_ATTEMPTS = 30  # a login answered 503 (another one's hash is running) is sent again after Retry-After


# -- the journal ---------------------------------------------------------------------------------


def seed(database_url: str, count: int, large: int) -> list[str]:
    """``count`` ordinary rows and ``large`` 20 MB e-mails in the journal, and the account; the large
    rows' ids."""
    engine = create_db_engine(database_url)
    accounts.add_user(engine, "bench", "admin", PASSWORD)
    for n in range(count):
        channel = "telegram" if n % 2 else "email"
        body = {
            "channel": channel,
            "sender": {"name": f"Анна Петрова {n % 300}", "email": f"anna{n % 300}@customer.example"},
            "subject": f"Не приходит счёт за ноябрь, заказ {n}",
            "text": "Здравствуйте! Проверьте, пожалуйста. " * 20,
        }
        entry = journal.NewEntry(
            channel=channel,
            external_id=f"bench-{n}",
            conversation_key=f"bench-{n}",
            kind="new",
            body=json.dumps(body, ensure_ascii=False),
            status=journal.FAILED if n % 10 == 0 else journal.DELIVERED,
            reason="tracker rejected the message: 400" if n % 10 == 0 else None,
            raw=json.dumps(body, ensure_ascii=False).encode(),
        )
        journal.record(engine, entry)
    seed_operations(engine, count // 10)
    ids = []
    for n in range(large):
        raw = (f"Subject: large {n}\r\nMessage-ID: <large-{n}@bench>\r\n\r\n").encode()
        raw += (f"{n:04d} " * 20 + "\r\n").encode() * (LARGE_BYTES // 102)
        entry = journal.NewEntry(
            channel="email",
            external_id=f"large-{n}",
            conversation_key=f"large-{n}",
            kind="new",
            body=json.dumps({"channel": "email", "subject": f"large {n}"}),
            raw=raw,
        )
        ids.append(journal.record(engine, entry)[0])
    engine.dispose()
    return ids


def seed_operations(engine: Engine, count: int) -> None:
    """``count`` routing-audit lines and as many automation firings (a third of them failed), for the
    routing log's and the automations page's lists."""
    now = journal.utcnow()
    with engine.begin() as conn:
        conn.execute(
            route_audit.insert(),
            [
                {
                    "request_id": f"{n:032x}",
                    "at": now - dt.timedelta(minutes=n),
                    "actor": f"Анна Петрова {n % 30}",
                    "via": "console",
                    "route": "hardware",
                    "source_tracker": "jira",
                    "source_key": f"SUP-{n}",
                    "target_tracker": "kaiten",
                    "target_key": f"HW-{n}",
                    "field_values": json.dumps({"Запчасти": "блок питания", "Priority": "High"}),
                    "result": "done",
                    "reason": None,
                }
                for n in range(count)
            ],
        )
    new = [automations.NewFiring(f"rule-{n % 7}", "jira", f"SUP-{n}", f"due-{n}") for n in range(count)]
    for firing_id in automations.insert(engine, new, now, dt.timedelta(0))[::3]:
        automations.fail(engine, firing_id, "jira refused: the assignee is not in the project", now)


# -- the sessions ---------------------------------------------------------------------------------


def log_in(base: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base}/admin/login", timeout=60)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    for _attempt in range(LOGIN_ATTEMPTS):  # a 503 is "busy with another login's hash": come back
        answer = session.post(
            f"{base}/admin/login",
            data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=60,
        )
        if answer.status_code != 503:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    if answer.status_code != 303:
        raise RuntimeError(f"login answered {answer.status_code}")
    return session


# The console's list pages by kind (``--kinds`` picks some); "message" is a message's page.
LIST_PAGES = (
    ("overview", "/admin/"),
    ("messages", "/admin/messages"),
    ("messages", "/admin/messages?channel=telegram&status=delivered"),
    ("messages", "/admin/messages?sender=anna17"),
    ("messages", "/admin/messages?page=1"),
    ("dead-letters", "/admin/dead-letters"),
    ("overview", "/admin/?window=7d"),
    ("routing", "/admin/routing"),
    ("routing", "/admin/routing?outcome=done&actor=anna"),
    ("automations", "/admin/automations"),
    ("automations", "/admin/automations?outcome=failed"),
    ("audit", "/admin/audit"),
    ("canned", "/admin/config/canned/"),
    ("canned", "/admin/config/canned/fixed.en.md"),
)
KINDS = ("message", *dict.fromkeys(kind for kind, _ in LIST_PAGES))


def page_paths(base: str, session: requests.Session, count: int, kinds: tuple[str, ...] = KINDS) -> list[str]:
    """``count`` console paths of ``kinds``: every other one a message's page, the rest cycling through
    the overview (24 hours and 7 days), Messages (plain, by channel, status, sender, page 2), Dead letters,
    the routing log, automation firings and the audit."""
    listing = session.get(f"{base}/admin/messages", timeout=60).text
    message_ids = re.findall(r'href="/admin/messages/([0-9a-f]+)"', listing)
    messages = [f"/admin/messages/{message_id}" for message_id in message_ids] if "message" in kinds else []
    lists = [path for kind, path in LIST_PAGES if kind in kinds]
    paths = []
    for n in range(count):
        if messages and (n % 2 or not lists):
            paths.append(messages[n % len(messages)])
        else:
            paths.append(lists[(n // 2) % len(lists)])
    return paths


def run(base: str, sessions: list[requests.Session], paths: list[str]) -> dict[int, int]:
    """Get ``paths`` from the sessions in parallel; the count of each status."""
    statuses: dict[int, int] = {}

    def get(n: int) -> int:
        answer = sessions[n % len(sessions)].get(f"{base}{paths[n]}", timeout=120)
        return answer.status_code

    with ThreadPoolExecutor(len(sessions)) as pool:
        for status in pool.map(get, range(len(paths))):
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def peak(server: Server) -> int:
    """The largest peak RSS (VmHWM, KiB) of the server's workers."""
    return max(memory_kb(pid) or 0 for pid in server.worker_pids())


def report_smaps(server: Server, phase: str) -> None:
    """Each worker's peak RSS and, of its RSS now, what is private to it and what it shares (with the
    master and the other worker: what ``--preload`` shares copy-on-write), on stdout."""
    for pid in server.worker_pids():
        figures = smaps_rollup(pid)
        shared = figures.get("Shared_Clean", 0) + figures.get("Shared_Dirty", 0)
        private = figures.get("Private_Clean", 0) + figures.get("Private_Dirty", 0)
        report(
            f"{phase}: worker {pid} peak {mib(memory_kb(pid))}, RSS {mib(figures.get('Rss'))} "
            f"(private {mib(private)}, shared {mib(shared)}, PSS {mib(figures.get('Pss'))})"
        )


def smaps_rollup(pid: int) -> dict[str, int]:
    """/proc/<pid>/smaps_rollup's figures in KiB (empty when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    return {name: int(value) for name, value in re.findall(r"^(\w+):\s+(\d+) kB", text, re.MULTILINE)}


def rss(server: Server) -> int:
    return max(memory_kb(pid, "VmRSS") or 0 for pid in server.worker_pids())


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5000, help="journal rows (default 5000)")
    parser.add_argument("--large", type=int, default=2, help="20 MB e-mails in the journal (default 2)")
    parser.add_argument("--pages", type=int, default=800, help="console pages requested (default 800)")
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"page kinds requested, comma-separated (default all: {','.join(KINDS)})",
    )
    parser.add_argument(
        "--preload", action="store_true", help="gunicorn --preload, as `trackerhub web` runs by default"
    )
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = machine()
    report(f"console memory benchmark: {info['cpus']} CPUs, {info['cpu']}")
    kinds = tuple(kind.strip() for kind in args.kinds.split(",") if kind.strip())
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"unknown page kinds: {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    settings = ServerSettings(2, 4, worker_connections=4, preload=args.preload)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="trackerhub-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'journal.sqlite3'}"
        large_ids = seed(database_url, args.messages, args.large)
        redis_url = stack.enter_context(redis_server(workdir))
        env = child_env(
            {
                "REDIS_URL": redis_url,
                "DATABASE_URL": database_url,
                "HUB_SECRET_KEY": SECRET,
                "HUB_LOG_LEVEL": "WARNING",
                "HUB_ADMIN_LOGIN_FAILURES": "1000",
            }
        )
        with gunicorn("wsgi:app", PROJECT_ROOT, env, settings, workdir, "hub", "/healthz") as server:
            base = f"http://127.0.0.1:{server.port}"
            rows.append(("after start-up (RSS)", "–", mib(rss(server))))
            report_smaps(server, "start-up")
            with ThreadPoolExecutor(SESSIONS) as pool:
                sessions = list(pool.map(lambda _: log_in(base), range(SESSIONS)))
            rows.append(
                (f"{SESSIONS} logins at once (503 busy: sent again)", f"{SESSIONS} × 303", mib(peak(server)))
            )
            report_smaps(server, "logins")
            statuses = run(base, sessions, page_paths(base, sessions[0], args.pages, kinds))
            rows.append((f"{args.pages} pages, 8 sessions at once", _statuses(statuses), mib(peak(server))))
            report_smaps(server, "pages")
            large_pages = [f"/admin/messages/{i}" for i in large_ids]
            statuses = run(base, sessions[:1], large_pages)
            rows.append((f"{args.large} pages of a 20 MB e-mail", _statuses(statuses), mib(peak(server))))
            downloads = run(base, sessions[:1], [f"/admin/messages/{i}/raw" for i in large_ids])
            rows.append(
                (f"{args.large} downloads of a 20 MB source", _statuses(downloads), mib(peak(server)))
            )
    section = render(rows, info, command_line("console_memory.py", argv), args)
    publish(section, args.output, SECTION, write=not args.no_write)


def _statuses(counts: dict[int, int]) -> str:
    return ", ".join(f"{count} × {status}" for status, count in sorted(counts.items()))


def render(
    rows: list[tuple[str, str, str]], info: dict[str, str], command: str, args: argparse.Namespace
) -> str:
    begin, end = markers(SECTION)
    budget_rows = rows[:3]
    worst = max(float(row[2].split()[0]) for row in budget_rows)
    verdict = "met" if worst <= TARGET_MB else "**over** the budget"
    lines = [
        begin,
        "### The admin console's pages",
        "",
        f"Measured {utc_now_text()} by `{command}`. Machine: {machine_line(info)}.",
        f"gunicorn 2 workers × 4 threads{' with `--preload`' if args.preload else ''}, "
        f"{allocator_env()}; a SQLite journal of {args.messages} rows "
        f"(a tenth dead letters, all in the overview's window) and {args.large} e-mails of 20 MB, "
        f"{args.messages // 10} routing-audit lines and as many automation firings; 8 logged-in sessions. "
        "The pages: the overview (24 h and 7 d), Messages (filtered and not), messages, Dead letters, "
        "the routing log, automation firings, the audit and the canned responses (the list and one entry)"
        + (f" (only these kinds: {args.kinds})." if set(args.kinds.split(",")) != set(KINDS) else "."),
        "",
        "| phase | answers | web worker peak RSS (largest) |",
        "|---|---|---|",
        *(f"| {phase} | {answers} | {value} |" for phase, answers, value in rows),
        "",
        f"- Peak RSS after logins and ordinary pages at most {TARGET_MB} MB: {worst:.1f} MiB — {verdict}.",
        "- A large message's page reads only the first 256 KiB of its source (`journal.blob_head`) and its "
        "download sends the source 1 MiB at a time (`journal.blob_chunks`), both through SQLite's "
        "incremental blob I/O, so neither holds the whole source in the worker.",
        f"- Measured on {dt.date.today().isoformat()}; the numbers move with the machine's other load.",
        end,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_main(main)
