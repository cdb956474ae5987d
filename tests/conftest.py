"""Shared fixtures: a real redis-server per test session, a fresh SQLite journal per test, the app.

Redis is started from the Debian package (``make test`` installs it); each test gets its own logical
database, flushed before use, so tests never see each other's queues or locks.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from redis import Redis
from redis.exceptions import RedisError

from config.loading import load_config
from config.rules import HubConfig
from config.settings import Settings
from tests.postgres import PostgresServer, PostgresUnavailable, start_postgres

pytest_plugins = ["tests.browser"]  # the chromium fixtures: `browser` (one per session) and `phone`

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = REPO_ROOT.parent / "shared"
_redis_db = itertools.count(1)

# Property tests judge what a parser does, never how fast: Hypothesis's default 200 ms deadline per
# example is a timing assertion, and it failed a pure rendering test on a loaded machine (281 ms).
hypothesis_settings.register_profile("hub", deadline=None)
hypothesis_settings.load_profile("hub")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 30) -> Any:
    """``check()``'s first truthy result, asked every 0.3 s; the test fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    pytest.fail("condition not met in time")


def start_redis_server(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A real redis-server on a free port, answering PING; the caller stops it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `make test` installs it")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--databases",
            "64",
        ],
        stdout=subprocess.DEVNULL,
    )
    client = Redis(port=port, socket_timeout=1)
    for _ in range(100):
        try:
            client.ping()
            return process, port
        except RedisError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    pytest.fail(
        f"redis-server ({binary}) did not answer PING on 127.0.0.1:{port} "
        f"(exit code {process.returncode}); the tests need a real Redis"
    )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the session; yields its base URL."""
    process, port = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A flushed logical database of the session's Redis."""
    url = f"{redis_server}/{next(_redis_db) % 63 + 1}"
    Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    """Settings for a test: its own SQLite journal and Redis database, secrets set."""
    return Settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'hub.sqlite3'}",
        REDIS_URL=redis_url,
        JIRA_URL="http://jira.test",
        JIRA_TOKEN="jira-token",
        TELEGRAM_BOT_TOKEN="123:telegram-token",
        TELEGRAM_WEBHOOK_SECRET="tg-secret",
        TELEGRAM_API_URL="http://telegram.test",
        HUB_INBOUND_TOKEN="inbound-token",
        HUB_EMAIL_FROM="support@hub.example.com",
        HUB_PUBLIC_URL="http://hub.test",
    )


@pytest.fixture
def hub_config(settings: Settings) -> HubConfig:
    """The shipped rule file, loaded with the test settings."""
    return load_config(settings)


_postgres_db = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL cluster for the session (see tests/postgres.py); fails when it is not installed."""
    try:
        server = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL of the session's PostgreSQL for one test: an empty schema of its own, dropped afterwards."""
    name = f"test_{next(_postgres_db)}"
    url = postgres_server.new_schema(name)
    yield url
    postgres_server.drop_schema(name)
