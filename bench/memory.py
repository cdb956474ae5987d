"""Memory benchmark: peak RSS of a gunicorn web worker of the hub, against a bare Flask app's.

Why: the hub's web workers are long-lived processes that parse whatever senders post (Telegram updates,
raw e-mail up to 25 MB, forms with files); issue 6 sets a budget of 80 MB of RSS per web worker. The
baseline is ``bench/bare_app.py`` (Flask, one Redis ``LPUSH`` per request) under the same gunicorn
settings, served the same requests, in the same run.

What it does (``.venv/bin/python bench/memory.py``, or ``make bench``):

1. starts a private ``redis-server``, a fresh SQLite journal, and gunicorn serving the hub (``wsgi:app``)
   and the bare app with the settings of ``bench/ingest.py`` (2 workers × 4 threads, no access log);
2. reads each worker's RSS after start-up, then sends each server, from 8 keep-alive connections:
   (a) a typical mix of a few thousand requests: Telegram updates, e-mails (some with a 200 KB
   attachment) and form submissions (the bare app gets the same number of requests and bytes, all to
   its one route);
   (b) large e-mails close to ``HUB_MAX_EMAIL_BYTES``, one at a time;
   (c) the same large e-mails, as many at once as the server has threads;
   and reads each worker's peak RSS (VmHWM, /proc) after each phase;
3. rewrites its own section of ``BENCHMARKS.md`` (``<!-- memory:begin -->`` … ``<!-- memory:end -->``).

``--node`` measures a whole node instead (every process, RSS and PSS, idle and under load, in the layout
before issue 18 and the light one, and the floors of an interpreter and its libraries): bench/node.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import secrets
import sys
import tempfile
import threading
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from bench.common import (
    BENCH_DIR,
    BENCHMARKS_MD,
    PROJECT_ROOT,
    Server,
    ServerSettings,
    allocator_env,
    child_env,
    command_line,
    describe_db,
    gunicorn,
    machine,
    machine_line,
    markers,
    memory_kb,
    mib,
    package_version,
    publish,
    redis_server,
    report,
    run_main,
    utc_now_text,
)
from config.settings import Settings
from store.db import create_db_engine

SECTION = "memory"
TARGET_MB = 80
Request = tuple[str, dict[str, str], bytes]


# -- the requests ----------------------------------------------------------------------------------------


def raw_email(seq: int, attachment: bytes | None = None, filename: str = "invoice.pdf") -> bytes:
    """A plain customer mail in Russian, optionally with one attachment."""
    mail = EmailMessage()
    mail["From"] = f"Анна Петрова <anna{seq % 500}@customer.example>"
    mail["To"] = "support@trackerhub.localhost"
    mail["Subject"] = f"Не приходит счёт за ноябрь, заказ {seq}"
    mail["Message-ID"] = make_msgid(f"m{seq}", "customer.example")
    mail["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    mail.set_content(
        "Здравствуйте!\n\nНе приходит счёт за ноябрь по заказу "
        f"{seq}. Проверьте, пожалуйста.\n\n" + "Подробности во вложении. " * 40 + "\n\n--\nАнна\n"
    )
    if attachment is not None:
        mail.add_attachment(attachment, maintype="application", subtype="pdf", filename=filename)
    return mail.as_bytes()


def telegram_update(update_id: int, seq: int) -> bytes:
    """A Telegram text-message update with its own ``update_id``."""
    chat_id = 900_000 + seq % 1000
    update = {
        "update_id": update_id,
        "message": {
            "message_id": seq,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "first_name": "Анна", "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Анна", "language_code": "ru"},
            "text": f"Здравствуйте! Не приходит счёт за ноябрь, заказ {update_id}. Проверьте, пожалуйста.",
        },
    }
    return json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()


def form_body(seq: int) -> bytes:
    return json.dumps(
        {
            "name": "Анна Петрова",
            "email": f"anna{seq % 500}@customer.example",
            "subject": f"Счёт за ноябрь, заказ {seq}",
            "message": "Не приходит счёт за ноябрь. Проверьте, пожалуйста. " * 5,
            "submission_id": f"bench-{seq:08d}-{secrets.token_hex(4)}",
        },
        ensure_ascii=False,
    ).encode()


def typical_mix(count: int, secrets_: dict[str, str], base: int) -> list[Request]:
    """Telegram : e-mail : form = 6 : 3 : 1; one e-mail in ten carries a 200 KB attachment."""
    telegram = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secrets_["telegram"]}
    mail = {"Content-Type": "message/rfc822", "Authorization": f"Bearer {secrets_['inbound']}"}
    form = {"Content-Type": "application/json"}
    pdf = os.urandom(200 * 1024)
    requests: list[Request] = []
    for i in range(count):
        kind = i % 10
        if kind < 6:
            requests.append(("/hooks/telegram", telegram, telegram_update(base + i, i)))
        elif kind < 9:
            body = raw_email(base + i, pdf if i % 30 == 6 else None)
            requests.append(("/hooks/email", mail, body))
        else:
            requests.append(("/hooks/forms/support", form, form_body(base + i)))
    return requests


def big_emails(count: int, limit: int, secrets_: dict[str, str], base: int) -> list[Request]:
    """E-mails whose size is 95% of ``limit``: one base64 attachment makes up almost all of it."""
    mail = {"Content-Type": "message/rfc822", "Authorization": f"Bearer {secrets_['inbound']}"}
    attachment = int(limit * 0.95 / 1.37)  # base64 with line breaks: 4/3 and 2 bytes per 76
    return [
        ("/hooks/email", mail, raw_email(base + i, os.urandom(attachment), "scan.pdf")) for i in range(count)
    ]


def as_bare(requests: list[Request]) -> list[Request]:
    """The same bodies, to the bare app's one route."""
    return [
        ("/hooks/telegram", {"Content-Type": "application/octet-stream"}, body) for _, _, body in requests
    ]


def send_all(port: int, requests: list[Request], connections: int) -> Counter[int]:
    """Send every request from ``connections`` keep-alive connections; count the answers' statuses."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    position = iter(range(len(requests)))

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                path, headers, body = requests[index]
                status = 0
                for _attempt in range(2):  # a keep-alive connection the server closed: reconnect once
                    try:
                        conn.request("POST", path, body=body, headers=headers)
                        answer = conn.getresponse()
                        answer.read()
                        status = answer.status
                        break
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                with lock:
                    statuses[status] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


# -- measuring -------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int
    megabytes: float
    statuses: Counter[int]
    hwm_kb: list[int]  # each worker's VmHWM after the phase


@dataclass
class ServerMemory:
    name: str
    boot_rss_kb: list[int]
    master_hwm_kb: int | None = None
    phases: list[Phase] = field(default_factory=list)


def worker_memory(server: Server, field_name: str = "VmHWM") -> list[int]:
    return sorted((memory_kb(pid, field_name) or 0) for pid in server.worker_pids())


def measure(
    name: str, server: Server, phases: list[tuple[str, list[Request], int]], connections: int
) -> ServerMemory:
    result = ServerMemory(name, worker_memory(server, "VmRSS"))
    for phase, requests, conns in phases:
        size = sum(len(body) for _, _, body in requests) / 1e6
        statuses = send_all(server.port, requests, conns or connections)
        result.phases.append(Phase(phase, len(requests), size, statuses, worker_memory(server)))
        report(
            f"  {name}: {phase}: {len(requests)} requests ({size:.1f} MB), answers {dict(statuses)}, "
            f"worker peak RSS {', '.join(mib(k) for k in result.phases[-1].hwm_kb)}"
        )
    result.master_hwm_kb = memory_kb(server.pid)
    return result


# -- the report ------------------------------------------------------------------------------------------


def render_section(
    hub: ServerMemory,
    bare: ServerMemory,
    settings: ServerSettings,
    info: dict[str, str],
    command: str,
    database: str,
    limit: int,
) -> str:
    begin, end = markers(SECTION)
    lines = [
        begin,
        "## Memory: gunicorn web worker",
        "",
        "Peak resident memory (VmHWM from /proc) of each gunicorn worker of the hub, after serving each "
        "phase of requests, against a bare Flask app (`bench/bare_app.py`: read the body, one Redis "
        "`LPUSH`) under the same gunicorn settings and the same request bodies, in the same run. VmHWM only "
        "rises, so each row includes the phases above it. The RQ worker's memory is in the pipeline "
        "section.",
        "",
        f"- Date: {utc_now_text()}",
        f"- Command: `{command}`",
        f"- Machine: {machine_line(info)}",
        f"- Software: Python {info['python']}, gunicorn {info['gunicorn']}, Flask "
        f"{package_version('flask')}, SQLAlchemy {package_version('SQLAlchemy')}, redis-server "
        f"{info['redis']}",
        f"- gunicorn: `{' '.join(settings.args())}` (gthread) for both, with `trackerhub web`'s "
        f"allocator settings ({allocator_env()}); hub journal: {database}",
        "- Requests: 8 keep-alive client connections; the typical mix is Telegram : e-mail : form = "
        "6 : 3 : 1, one e-mail in ten with a 200 KB attachment; the large e-mails are 95% of "
        f"`HUB_MAX_EMAIL_BYTES` ({limit / 1024 / 1024:.0f} MiB), almost all of it one base64 attachment",
        "",
        "| phase | requests | MB sent | hub: answers | hub worker peak RSS (largest) "
        "| bare worker peak RSS (largest) | ratio hub/bare |",
        "|---|---:|---:|---|---:|---:|---:|",
        f"| after start-up (RSS) | – | – | – | {mib(max(hub.boot_rss_kb))} | {mib(max(bare.boot_rss_kb))} "
        f"| {max(hub.boot_rss_kb) / max(bare.boot_rss_kb):.2f} |",
    ]
    for h, b in zip(hub.phases, bare.phases, strict=True):
        answers = ", ".join(f"{count} × {status or 'error'}" for status, count in sorted(h.statuses.items()))
        lines.append(
            f"| {h.name} | {h.requests:,} | {h.megabytes:,.1f} | {answers} | {mib(max(h.hwm_kb))} "
            f"| {mib(max(b.hwm_kb))} | {max(h.hwm_kb) / max(b.hwm_kb):.2f} |"
        )
    typical = hub.phases[0]
    worst = hub.phases[-1]
    typical_mb = max(typical.hwm_kb) / 1024
    lines += [
        "",
        "Each phase, every hub worker's peak: "
        + "; ".join(f"{p.name}: {', '.join(mib(k) for k in p.hwm_kb)}" for p in hub.phases)
        + f". The gunicorn master's: {mib(hub.master_hwm_kb)}.",
        "",
        "### Targets and checks",
        "",
        f"- Web worker peak RSS at most {TARGET_MB} MB after the typical mix: {typical_mb:.1f} MiB — "
        f"{'met' if typical_mb * 1.048576 <= TARGET_MB else '**not met**'}.",
        f"- After the large e-mails: {max(worst.hwm_kb) / 1024:.1f} MiB — "
        f"{'within' if max(worst.hwm_kb) / 1024 * 1.048576 <= TARGET_MB else '**over**'} the "
        f"{TARGET_MB} MB budget.",
        end,
    ]
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--requests", type=int, default=4000, help="requests in the typical mix (default 4000)"
    )
    parser.add_argument("--big", type=int, default=3, help="large e-mails sent one at a time (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_MD, help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    if "--node" in (
        sys.argv[1:] if argv is None else argv
    ):  # a whole node, idle and under load: bench/node.py
        from bench import node

        node.main(argv)
        return
    args = parse_args(argv)
    info = machine()
    report(f"memory benchmark: {info['cpus']} CPUs, {info['cpu']}")
    settings = ServerSettings(args.workers, args.threads, worker_connections=max(1, 8 // args.workers))
    limit = int(Settings.model_fields["HUB_MAX_EMAIL_BYTES"].default)  # the children get no HUB_ variables
    keys = {"telegram": secrets.token_urlsafe(24), "inbound": secrets.token_urlsafe(24)}
    concurrent = args.workers * args.threads
    typical = typical_mix(args.requests, keys, 7_000_000_000)
    big = big_emails(args.big + concurrent, limit, keys, 8_000_000_000)
    hub_phases = [
        ("typical mix", typical, 8),
        ("large e-mails, one at a time", big[: args.big], 1),
        (f"large e-mails, {concurrent} at once", big[args.big :], concurrent),
    ]
    bare_phases = [(name, as_bare(reqs), conns) for name, reqs, conns in hub_phases]
    with tempfile.TemporaryDirectory(prefix="trackerhub-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'journal.sqlite3'}"
        create_db_engine(database_url).dispose()  # the schema at head before the workers start, as `web` does
        redis_url = stack.enter_context(redis_server(workdir))
        hub_env = child_env(
            {
                "REDIS_URL": redis_url,
                "DATABASE_URL": database_url,
                "TELEGRAM_WEBHOOK_SECRET": keys["telegram"],
                "HUB_INBOUND_TOKEN": keys["inbound"],
                "HUB_FORM_RATE_PER_MINUTE": "1000000",
                "HUB_LOG_LEVEL": "WARNING",
            }
        )
        with gunicorn("wsgi:app", PROJECT_ROOT, hub_env, settings, workdir, "hub", "/healthz") as server:
            hub = measure("hub", server, hub_phases, 8)
        bare_env = child_env({"REDIS_URL": redis_url})
        with gunicorn("bare_app:app", BENCH_DIR, bare_env, settings, workdir, "bare") as server:
            bare = measure("bare", server, bare_phases, 8)
    command = command_line("memory.py", argv)
    section = render_section(hub, bare, settings, info, command, describe_db(database_url), limit)
    publish(section, args.output, SECTION, write=not args.no_write)


if __name__ == "__main__":
    run_main(main)
