"""The hub's web app on a real port, as a tracker's webhooks reach it, with what it was sent; and the
worker's part, run in the test until nothing is left: the tracker-event jobs, then the firings.

The look-alikes send their webhooks here themselves (the Jira one signed), so an event rule is driven
by exactly what the tracker would post. ``replay`` posts one of those requests again, as a tracker
retrying a delivery does.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from rq import Queue
from werkzeug.serving import make_server

from config.settings import Settings
from jobs.automations.queue import firing_job_id
from jobs.automations.run import run_firing_with
from jobs.context import Context, build_context
from jobs.queues import DELIVERY_QUEUE, PERIODIC_QUEUE
from routes import create_app
from sandbox.server import RunningSandbox
from tests.jobs.conftest import drain
from tests.jobs.test_events import SECRET
from tests.jobs.test_kaiten_delivery import kaiten_settings
from tests.sandboxes import flush, run_jira, run_kaiten

KAITEN_SECRET = "kaiten-hook-secret"


@dataclass(frozen=True)
class Delivery:
    """One webhook request the hub received."""

    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    def changelog(self) -> dict[str, str | None]:
        """A Jira ``jira:issue_updated``'s changelog: each field's name → its new text."""
        items = (self.payload.get("changelog") or {}).get("items") or []
        return {item["field"]: item.get("toString") for item in items}


@dataclass
class Hub:
    """The hub's URL and the webhooks it received, oldest first; while ``losing``, a webhook is lost on
    the way (recorded, answered 200, never seen by the hub: ``replay`` brings it late)."""

    url: str
    received: list[Delivery] = field(default_factory=list)
    losing: bool = False

    def jira_hook(self) -> str:
        return f"{self.url}/hooks/jira"

    def kaiten_hook(self) -> str:
        return f"{self.url}/hooks/kaiten?token={KAITEN_SECRET}"


HOOK_SECRETS = {"JIRA_WEBHOOK_SECRET": SECRET, "KAITEN_WEBHOOK_SECRET": KAITEN_SECRET}
"""The webhook secrets the hub and its worker share."""


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    app = create_app(settings.model_copy(update=HOOK_SECRETS))
    found = Hub("")

    def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith("/hooks/"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            headers = {
                name[5:].replace("_", "-").title(): value
                for name, value in environ.items()
                if name.startswith("HTTP_")
            }
            headers["Content-Type"] = environ.get("CONTENT_TYPE", "application/json")
            found.received.append(
                Delivery(environ["PATH_INFO"], environ.get("QUERY_STRING", ""), headers, body)
            )
            if found.losing:
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"lost"]
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_port}"
    yield found
    server.shutdown()


def replay(hub: Hub, delivery: Delivery, body: bytes | None = None, **headers: str) -> requests.Response:
    """Post a delivery again (``body`` and ``headers`` changed if given), as a tracker's retry does."""
    query = f"?{delivery.query}" if delivery.query else ""
    return requests.post(
        f"{hub.url}{delivery.path}{query}",
        data=delivery.body if body is None else body,
        headers={**delivery.headers, **headers},
        timeout=10,
    )


def settle(ctx: Context, *sandboxes: RunningSandbox, rounds: int = 10) -> list[str]:
    """Let the webhooks arrive and the worker run the event jobs and the firings they store, until
    nothing new comes (at most ``rounds``: a loop would go on); returns how each firing ended."""
    ended: list[str] = []
    delivery = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    for _ in range(rounds):
        for sandbox in sandboxes:
            flush(sandbox)
        if not delivery.count and not _firing_jobs(ctx):
            return ended
        drain(ctx)
        for firing_id in _firing_jobs(ctx):
            ctx.redis.lrem(Queue(PERIODIC_QUEUE, connection=ctx.redis).key, 0, firing_job_id(firing_id))
            ended.append(run_firing_with(ctx, firing_id))
            ctx.redis.delete(f"rq:job:{firing_job_id(firing_id)}")
    raise AssertionError(f"still busy after {rounds} rounds: a loop")


def _firing_jobs(ctx: Context) -> list[str]:
    prefix = firing_job_id("")
    job_ids = Queue(PERIODIC_QUEUE, connection=ctx.redis).get_job_ids()
    return [job_id.removeprefix(prefix) for job_id in job_ids if job_id.startswith(prefix)]


@pytest.fixture
def hooked_jira(tmp_path: Path, hub: Hub) -> Iterator[RunningSandbox]:
    """The Jira look-alike, sending its webhooks to the hub, signed."""
    with run_jira(
        tmp_path / "hooked-jira.sqlite3", webhook_url=hub.jira_hook(), webhook_secret=SECRET
    ) as running:
        yield running


@pytest.fixture
def hooked_kaiten(tmp_path: Path, hub: Hub) -> Iterator[RunningSandbox]:
    """The Kaiten look-alike, sending its webhooks to the hub (the secret in the URL)."""
    with run_kaiten(tmp_path / "hooked-kaiten.sqlite3", webhook_url=hub.kaiten_hook()) as running:
        yield running


@pytest.fixture
def jira_hub(
    settings: Settings, hooked_jira: RunningSandbox, telegram_sandbox: str, mail_sink: tuple[str, Path]
) -> Context:
    """The worker's context on the hooked Jira, the shipped rule file."""
    wired = {"JIRA_URL": hooked_jira.url, "TELEGRAM_API_URL": telegram_sandbox, "SMTP_URL": mail_sink[0]}
    return build_context(settings.model_copy(update={**wired, **HOOK_SECRETS}))


@pytest.fixture
def kaiten_hub(
    settings: Settings, hooked_kaiten: RunningSandbox, telegram_sandbox: str, mail_sink: tuple[str, Path]
) -> Context:
    """The worker's context on the hooked Kaiten (env-only: board 10, column 101), the shipped rule file."""
    wired = {"TELEGRAM_API_URL": telegram_sandbox, "SMTP_URL": mail_sink[0], **HOOK_SECRETS}
    return build_context(kaiten_settings(settings, hooked_kaiten, **wired))
