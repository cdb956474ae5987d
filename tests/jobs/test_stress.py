"""Under load, the sweep and RQ's own cleanup never trip over a job another path removed (issue 21).

Four real ``trackerhub worker`` processes drain 2,000 messages (new conversations, opened with Jira's
bulk create, and follow-ups) into the Jira look-alike in its own process, while the sweep runs every
100 ms instead of every 5 s, so it keeps looking at rows whose jobs are being popped, run, taken by a
bulk leader and cleaned up by RQ at that moment. Nothing may log at ERROR (a traceback of RQ's success
cleanup, a failed sweep row), no tick may fail, and every message must be one issue or one comment.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from rq import Worker

from cli.waits import wait_for_http
from config.settings import Settings
from jobs.context import Context, build_context
from jobs.intake import accept
from jobs.periodic import sweep
from store import journal
from tests.conftest import REPO_ROOT, free_port
from tests.jobs.conftest import make_due
from tests.mappers.factories import telegram_message
from tests.reliability.ledger import tracker_effects
from tests.sandboxes import CONTROL, CONTROL_TOKEN

MESSAGES = 2000
CHATS = 1200  # the first 1,200 open a conversation each (bulk creates), the other 800 follow up on one
WORKERS = 4
SWEEP_PERIOD = 0.1
TRACKER_LATENCY_MS = 20
TAKEOVERS = ("sweep.worker-gone", "sweep.unseen-job-replaced")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def jira(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The Jira look-alike in its own process; its URL and database file."""
    port, db = free_port(), tmp_path / "sandbox-jira.sqlite3"
    log = (tmp_path / "sandbox-jira.log").open("ab")
    args = [sys.executable, "-m", "sandbox.jira", "--port", str(port), "--db", str(db)]
    args += ["--latency-ms", str(TRACKER_LATENCY_MS)]
    env = {**os.environ, "SANDBOX_CONTROL_TOKEN": CONTROL_TOKEN}
    process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/rest/api/2/serverInfo", timeout=60)
        yield url, db
    finally:
        process.terminate()
        process.wait(timeout=20)


def start_workers(settings: Settings, folder: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "TELEGRAM_", "SMTP_", "HUB_"))}
    env.update(
        REDIS_URL=settings.REDIS_URL or "",
        DATABASE_URL=settings.DATABASE_URL,
        JIRA_URL=settings.JIRA_URL or "",
        JIRA_TOKEN="sandbox",
        HUB_LOG_LEVEL="WARNING",
    )
    workers = []
    for n in range(WORKERS):
        log = (folder / f"worker-{n}.log").open("ab")
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "cli", "worker"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return workers


class Sweeper:
    """The scheduler's sweep, every ``SWEEP_PERIOD`` seconds, counting the ticks that raised."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ticks = 0  # ticks that ran while messages were on their way
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sweeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(SWEEP_PERIOD):
            in_flight = bool(journal.count_by_status(self.ctx.engine).get(journal.QUEUED))
            try:
                sweep(self.ctx)
            except Exception as exc:
                self.failed.append(repr(exc))
            self.ticks += 1 if in_flight else 0


def test_two_thousand_messages_under_a_fast_sweep_log_no_error_and_arrive_once(
    settings: Settings,
    jira: tuple[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, jira_db = jira
    settings = settings.model_copy(
        update={"JIRA_URL": url, "JIRA_TOKEN": "sandbox", "TELEGRAM_BOT_TOKEN": None}
    )
    ctx = build_context(settings)
    ids: list[str] = []
    for n in range(MESSAGES):
        chat = n if n < CHATS else (n * 7) % CHATS
        ids.append(accept(ctx.engine, ctx.redis, telegram_message(f"message {n}", chat_id=10_000 + chat)).id)
    make_due(ctx)  # the backlog has waited longer than the sweep's grace: all due
    workers = start_workers(settings, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while Worker.count(connection=ctx.redis) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.05)
        # the sweep starts as the workers do: it looks at the rows the workers are popping and running
        with caplog.at_level(logging.WARNING), Sweeper(ctx) as sweeper:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and journal.count_by_status(ctx.engine).get(journal.QUEUED):
                time.sleep(0.5)
        still_queued = journal.count_by_status(ctx.engine).get(journal.QUEUED, 0)
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
        for worker in workers:
            worker.wait(timeout=30)

    assert still_queued == 0
    statuses = journal.count_by_status(ctx.engine)
    assert statuses == {journal.DELIVERED: MESSAGES}
    effects = tracker_effects(jira_db)
    assert sorted(effects) == sorted(ids) and set(effects.values()) == {1}  # 0 lost, 0 duplicated
    assert sweeper.failed == [] and sweeper.ticks >= 3  # (a tick waits 2 s when it sees a job mid-pop)
    requests_made = requests.get(f"{url}/_sandbox/stats", headers=CONTROL, timeout=10).json()["requests"]
    assert requests_made.get("POST /rest/api/2/issue/bulk", 0) > 0  # bulk create was on, and used
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    takeovers = [r.getMessage() for r in caplog.records if r.getMessage().startswith(TAKEOVERS)]
    assert takeovers == []  # no worker died: the sweep never took a job from a live one
    for log in sorted(tmp_path.glob("worker-*.log")):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "ERROR" not in text, f"{log.name}:\n{text[-3000:]}"
