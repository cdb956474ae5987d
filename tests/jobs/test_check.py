"""`trackerhub check`: every project, issue type and custom field a rule names is checked on the live Jira."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from redis import Redis

from config.loading import load_config
from config.settings import Settings
from connector.kaiten import KaitenTracker
from connector.kaiten.client import RATE_LIMIT, RATE_PERIOD
from connector.ratelimit import RedisRateLimiter, limiter_key
from jobs.check import check_config
from sandbox.server import RunningSandbox
from sandbox.server import RunningSandbox as KaitenSandbox
from tests.conftest import REPO_ROOT
from tests.sandboxes import CONTROL, run_kaiten

BROKEN = """
rules:
  - name: wrong-project
    when: {channel: telegram}
    target: {tracker: jira, project: NOPE}
  - name: wrong-type
    when: {channel: email}
    target: {tracker: jira, project: SUP, issue_type: Epic}
  - name: wrong-field
    target: {tracker: jira, project: SUP}
    fields: {custom_fields: {customfield_99999: x}}
"""


def settings_for(sandbox: RunningSandbox, config: Path | None = None) -> Settings:
    values: dict[str, object] = {"JIRA_URL": sandbox.url, "JIRA_TOKEN": "t"}
    if config is not None:
        values["HUB_CONFIG"] = config
    return Settings(**values)  # type: ignore[arg-type]


def test_shipped_config_passes(jira_sandbox: RunningSandbox) -> None:
    settings = settings_for(jira_sandbox)
    problems = check_config(settings, load_config(settings))
    assert problems.errors == []
    assert problems.report()[-1] == "OK: the rule file matches the tracker"


def test_each_wrong_name_is_reported_with_what_exists(jira_sandbox: RunningSandbox, tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BROKEN)
    settings = settings_for(jira_sandbox, path)
    errors = check_config(settings, load_config(settings)).errors
    assert len(errors) == 3
    assert (
        errors[0].startswith("rules[0] 'wrong-project': project 'NOPE' is not available")
        and "'SUP'" in errors[0]
    )
    assert errors[1].startswith("rules[1] 'wrong-type': issue type 'Epic' is not in project SUP; it has [")
    assert "'Task'" in errors[1]
    assert errors[2].startswith("rules[2] 'wrong-field': custom field customfield_99999 does not exist")


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``trackerhub check`` in its own process with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_exits_non_zero_on_errors(jira_sandbox: RunningSandbox, tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BROKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "HUB_"))}
    env.update(JIRA_URL=jira_sandbox.url, JIRA_TOKEN="t", HUB_CONFIG=str(path))
    run = run_check(env)
    assert run.returncode == 1
    assert "ERROR rules[1] 'wrong-type'" in run.stdout and run.stdout.strip().endswith("3 error(s)")
    env["HUB_CONFIG"] = str(REPO_ROOT / "config" / "hub.yaml")
    ok = run_check(env)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_cli_refuses_sqlite_when_told_it_is_one_of_several_nodes(jira_sandbox: RunningSandbox) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "HUB_", "DATABASE_", "REDIS_"))}
    env.update(JIRA_URL=jira_sandbox.url, JIRA_TOKEN="t", HUB_NODES="2", REDIS_URL="redis://127.0.0.1:9/0")
    env["DATABASE_URL"] = "sqlite:////tmp/one-machine.sqlite3"
    run = run_check(env)
    assert run.returncode == 1
    assert "ERROR DATABASE_URL: SQLite is a file on one machine; HUB_NODES=2 nodes" in run.stdout
    assert "note  HUB_SECRET_KEY is not set" in run.stdout


def test_several_nodes_on_postgresql_and_one_redis_pass(jira_sandbox: RunningSandbox) -> None:
    settings = settings_for(jira_sandbox).model_copy(
        update={
            "HUB_NODES": 3,
            "DATABASE_URL": "postgresql+psycopg://hub@db.internal/trackerhub",
            "REDIS_URL": "redis://redis.internal:6379/0",
            "HUB_SECRET_KEY": "s",
        }
    )
    problems = check_config(settings, load_config(settings))
    assert problems.errors == [] and not any("HUB_SECRET_KEY" in note for note in problems.notes)
    single = check_config(settings_for(jira_sandbox), load_config(settings_for(jira_sandbox)))
    assert not any("DATABASE_URL" in e for e in single.errors)  # one node on SQLite is the default


NAMED = """
trackers:
  jira-two: {{kind: jira, url: "{url}", token_env: SECOND_JIRA_TOKEN}}
  jira-down: {{kind: jira, url: "http://127.0.0.1:9", token_env: SECOND_JIRA_TOKEN}}
targets:
  odd: {{tracker: jira-two, project: SUP, issue_type: Epic}}
  fine: {{tracker: jira-two, project: DEV}}
rules:
  - name: two
    when: {{channel: email}}
    target: {{tracker: jira-two, project: NOPE}}
  - name: fine
    when: {{channel: form}}
    target: fine
  - name: default
    target: {{tracker: jira, project: SUP}}
"""


def test_each_tracker_instance_is_reached_and_its_targets_checked(
    jira_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECOND_JIRA_TOKEN", "t2")
    path = tmp_path / "hub.yaml"
    path.write_text(NAMED.format(url=jira_sandbox.url))
    settings = settings_for(jira_sandbox, path)
    problems = check_config(settings, load_config(settings))

    assert len(problems.errors) == 3  # the rule on the named target "fine" and the default Jira pass
    assert problems.errors[0].startswith("rules[0] 'two': project 'NOPE' is not available")
    assert problems.errors[1].startswith("targets.odd: issue type 'Epic' is not in project SUP")
    assert problems.errors[2].startswith("cannot reach Jira 'jira-down' at http://127.0.0.1:9: ")
    assert any(note.startswith("Jira 'jira-two' ") for note in problems.notes)
    assert any(note.startswith("Jira ") and f"at {jira_sandbox.url}" in note for note in problems.notes)


# -- Kaiten's 5 requests/s: `check` and `kaiten ls` take turns like the workers -------------------------

KAITEN_TOKEN = "shared-kaiten-token"


@pytest.fixture
def limited_kaiten(tmp_path: Path) -> Iterator[KaitenSandbox]:
    """The Kaiten look-alike answering 429 past 5 requests/s per token, as Kaiten does."""
    with run_kaiten(tmp_path / "kaiten.sqlite3", rate_limit=True) as sandbox:
        yield sandbox


def kaiten_cli(
    sandbox: KaitenSandbox, args: list[str], redis_url: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "KAITEN_", "HUB_", "REDIS_"))}
    env.update(
        KAITEN_URL=sandbox.url, KAITEN_TOKEN=KAITEN_TOKEN, KAITEN_BOARD_ID="10", KAITEN_COLUMN_ID="101"
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def rate_limited(sandbox: KaitenSandbox) -> int:
    return int(
        requests.get(f"{sandbox.url}/_sandbox/stats", headers=CONTROL, timeout=5).json()["rate_limited"]
    )


@pytest.mark.parametrize("shared", [False, True], ids=["own-limiter", "redis-limiter"])
def test_check_and_kaiten_ls_stay_under_kaitens_rate_limit(
    limited_kaiten: KaitenSandbox, redis_url: str, shared: bool
) -> None:
    listing = kaiten_cli(limited_kaiten, ["kaiten", "ls"], redis_url if shared else None)
    assert listing.returncode == 0, listing.stderr
    assert "board 10" in listing.stdout and "column 101" in listing.stdout and "user " in listing.stdout
    check = kaiten_cli(limited_kaiten, ["check"], redis_url if shared else None)
    assert check.returncode == 0, check.stdout + check.stderr
    assert rate_limited(limited_kaiten) == 0


def test_kaiten_ls_shares_the_workers_budget(limited_kaiten: KaitenSandbox, redis_url: str) -> None:
    """While a worker uses the token flat out through the shared limiter, `kaiten ls` takes turns with
    it instead of adding its own five requests a second."""
    stop = threading.Event()
    worker_errors: list[BaseException] = []

    def worker() -> None:
        limiter = RedisRateLimiter(
            Redis.from_url(redis_url),
            limiter_key("kaiten", KAITEN_TOKEN),
            rate=RATE_LIMIT,
            period=RATE_PERIOD,
        )
        client = KaitenTracker(limited_kaiten.url, KAITEN_TOKEN, limiter=limiter, read_retries=0)
        try:
            while not stop.is_set():
                client.list_spaces()
        except BaseException as exc:
            worker_errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        listing = kaiten_cli(limited_kaiten, ["kaiten", "ls"], redis_url)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert worker_errors == []
    assert rate_limited(limited_kaiten) == 0
