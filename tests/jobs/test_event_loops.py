"""The hub must never feed on itself or flood a customer: its own edits come back as webhooks, a
customer can put canned codes where a template will echo them, a leaked webhook secret can replay
status changes, and Kaiten may refuse to let the hub edit an engineer's comment.

The loop test runs the real hub app behind a real HTTP server, and the sandbox Jira sends it the
webhooks Data Center would send (each comment event twice), signed.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis
from rq import Queue
from werkzeug.serving import make_server

from config.settings import Settings
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.queues import DELIVERY_QUEUE
from mappers.canned import CODE
from routes import create_app
from sandbox.server import RunningSandbox
from sandbox.server import RunningSandbox as KaitenSandbox
from store import journal, outbound
from tests.jobs.conftest import drain, tracker_calls
from tests.jobs.test_events import (
    ENGINEER,
    SECRET,
    comment_webhook,
    engineer_comment,
    move,
    open_issue,
    post_hook,
    run_event,
    sent_messages,
    transition_webhook,
)
from tests.jobs.test_kaiten_delivery import delivered, kaiten_comment_webhook, kaiten_settings
from tests.mappers.factories import email_message, telegram_message
from tests.sandboxes import CONTROL, run_kaiten
from tests.sandboxes import run_jira as run_in_thread

HUB = {"Authorization": "Bearer t"}  # the sandbox Jira's "hub" user, whom the hub's token acts as


@pytest.fixture
def ectx(ctx: Context) -> Context:
    return build_context(ctx.settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))


# -- 1. a leaked secret cannot flood the customer with status mail ----------------------------------------


def test_replayed_transitions_notify_the_customer_once(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    move(jira_sandbox, key, "In Progress")
    statuses = []
    for n in range(3):  # three bodies as a forger with the secret would send them: new changelog ids
        payload = transition_webhook(key, "In Progress")
        payload["changelog"]["id"] = f"forged-{n}"
        response = post_hook(ectx, payload)
        statuses.append(run_event(ectx, response))
        last = response.get_json()["id"]
    assert statuses == ["delivered", "ignored", "ignored"]
    assert len(sent_messages(telegram_sandbox)) == 1
    entry = journal.get(ectx.engine, last)
    assert entry is not None and (entry.reason or "").startswith("status notification rate limit")


def test_a_customer_gets_at_most_the_hourly_cap_of_status_notifications(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    limits = {"HUB_STATUS_NOTIFY_PER_HOUR": 2, "HUB_STATUS_NOTIFY_REPEAT_MINUTES": 0}
    capped = build_context(ectx.settings.model_copy(update=limits))
    key = open_issue(capped, telegram_message("x"))
    outcomes = []
    for n, status in enumerate(("In Progress", "Waiting for customer", "In Progress")):
        move(jira_sandbox, key, status)
        payload = transition_webhook(key, status)
        payload["changelog"]["id"] = f"change-{n}"
        outcomes.append(run_event(capped, post_hook(capped, payload)))
    assert outcomes == ["delivered", "delivered", "ignored"]
    assert len(sent_messages(telegram_sandbox)) == 2


# -- 2. the canned-code loop ------------------------------------------------------------------------------


@pytest.fixture
def hub_url(settings: Settings) -> Iterator[str]:
    """The hub's web app on a real port, as the sandbox Jira's webhooks reach it."""
    app = create_app(settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def hooked_jira(tmp_path: Path, hub_url: str) -> Iterator[RunningSandbox]:
    """A sandbox Jira that sends its webhooks to the hub, signed."""
    with run_in_thread(
        tmp_path / "hooked-jira.sqlite3", webhook_url=f"{hub_url}/hooks/jira", webhook_secret=SECRET
    ) as running:
        yield running


def run_until_quiet(ctx: Context, sandbox: RunningSandbox, rounds: int = 15) -> int:
    """Let webhooks arrive and the worker handle them until nothing new comes (or ``rounds`` pass: a
    loop would go on for ever). Returns the rounds it took."""
    queue = Queue(DELIVERY_QUEUE, connection=ctx.redis)
    for n in range(rounds):
        requests.post(
            f"{sandbox.url}/_sandbox/webhooks/flush", headers=CONTROL, timeout=30
        ).raise_for_status()
        if not Redis.from_url(ctx.settings.REDIS_URL or "").llen(queue.key):
            return n
        drain(ctx)
    return rounds


def comment_url(sandbox: RunningSandbox, key: str, comment_id: str) -> str:
    return f"{sandbox.url}/rest/api/2/issue/{key}/comment/{comment_id}"


def comment_body(sandbox: RunningSandbox, key: str, comment_id: str) -> str:
    return str(requests.get(comment_url(sandbox, key, comment_id), auth=ENGINEER, timeout=5).json()["body"])


def edit_comment(
    sandbox: RunningSandbox, key: str, comment_id: str, body: str, **auth: Any
) -> dict[str, Any]:
    """Edit a comment as the engineer (``auth=ENGINEER``) or as the hub (``headers=HUB``)."""
    response = requests.put(comment_url(sandbox, key, comment_id), json={"body": body}, timeout=5, **auth)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def comment_edits(sandbox: RunningSandbox) -> int:
    return sum(
        n for route, n in tracker_calls(sandbox).items() if route.startswith("PUT") and "comment" in route
    )


def test_a_canned_code_in_the_customer_s_subject_is_expanded_once_end_to_end(
    settings: Settings, hooked_jira: RunningSandbox, mail_sink: tuple[str, Path]
) -> None:
    ctx = build_context(
        settings.model_copy(
            update={"JIRA_URL": hooked_jira.url, "SMTP_URL": mail_sink[0], "JIRA_WEBHOOK_SECRET": SECRET}
        )
    )
    key = open_issue(ctx, email_message(subject="Export fails ::logs-request", text="see subject"))
    issue = requests.get(f"{hooked_jira.url}/rest/api/2/issue/{key}", auth=ENGINEER, timeout=5).json()
    assert "::logs-request" in issue["fields"]["summary"]  # what the customer chose
    comment = engineer_comment(hooked_jira, key, "/reply ::logs-request")
    assert run_until_quiet(ctx, hooked_jira) < 15
    assert comment_edits(hooked_jira) == 1
    stored = comment_body(hooked_jira, key, comment["id"])
    assert CODE.search(stored) is None and len(stored) < 2000
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(mail_sink[1].glob("*.eml"))
    ]
    replies = [m for m in mails if "logs" in m.get_body(("plain",)).get_content()]  # type: ignore[union-attr]
    assert len(replies) == 1
    # the customer reads their subject as they wrote it, not a character reference
    assert '("Export fails ::logs-request")' in replies[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_hub_s_own_edit_of_an_engineer_s_comment_is_dropped(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    comment = engineer_comment(jira_sandbox, key, "/reply hello")
    # the hub's account edits it, as the in-place expansion does
    edited = edit_comment(jira_sandbox, key, comment["id"], "/reply ::logs-request", headers=HUB)
    payload = comment_webhook(key, edited, "comment_updated")
    payload["comment"]["updateAuthor"] = {"name": "hub", "key": "hub", "displayName": "Trackerhub"}
    response = post_hook(ectx, payload)
    assert run_event(ectx, response) == "ignored"
    entry = journal.get(ectx.engine, response.get_json()["id"])
    assert entry is not None and entry.reason == "the hub's own change"
    assert sent_messages(telegram_sandbox) == []
    assert tracker_calls(jira_sandbox).get("PUT /rest/api/2/issue/<ref>/comment/<comment_id>") == 1  # its own


def test_a_comment_is_expanded_in_place_at_most_once(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    comment = engineer_comment(jira_sandbox, key, "/reply ::logs-request")
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, comment))) == "delivered"
    # the engineer puts another code into the same comment: it is not edited again, nor sent again
    again = edit_comment(jira_sandbox, key, comment["id"], "/reply ::resolved", auth=ENGINEER)
    run_event(ectx, post_hook(ectx, comment_webhook(key, again, "comment_updated")))
    stored = comment_body(jira_sandbox, key, comment["id"])
    assert stored == "/reply ::resolved"
    assert len(sent_messages(telegram_sandbox)) == 1
    assert outbound.find_kind(ectx.engine, f"canned:jira:{comment['id']}") is not None


# -- 9. Kaiten lets only a comment's author edit it ---------------------------------------------------------


def kaiten_engineer_reply(sandbox: KaitenSandbox, card: str, text: str) -> dict[str, Any]:
    engineer = {"Authorization": "Bearer t", "X-Sandbox-User": "2"}
    api = f"{sandbox.url}/api/latest/cards/{card}/comments"
    return requests.post(api, json={"text": text}, headers=engineer, timeout=5).json()  # type: ignore[no-any-return]


def kaiten_comments(sandbox: KaitenSandbox, card: str) -> list[dict[str, Any]]:
    api = f"{sandbox.url}/api/latest/cards/{card}/comments"
    return requests.get(api, headers={"Authorization": "Bearer t"}, timeout=5).json()  # type: ignore[no-any-return]


def test_when_kaiten_refuses_the_edit_the_expansion_is_the_hub_s_own_comment(
    settings: Settings, tmp_path: Path, telegram_sandbox: str
) -> None:
    with run_kaiten(tmp_path / "kaiten.sqlite3") as kaiten_sandbox:
        requests.post(
            f"{kaiten_sandbox.url}/_sandbox/settings",
            json={"author_only_comment_edits": True},
            headers=CONTROL,
            timeout=5,
        ).raise_for_status()
        kctx = build_context(
            kaiten_settings(
                settings, kaiten_sandbox, TELEGRAM_API_URL=telegram_sandbox, KAITEN_WEBHOOK_SECRET="k-secret"
            )
        )
        refused_edit_becomes_own_comment(kctx, kaiten_sandbox, telegram_sandbox)


def refused_edit_becomes_own_comment(
    kctx: Context, kaiten_sandbox: KaitenSandbox, telegram_sandbox: str
) -> None:
    card = delivered(kctx, telegram_message("printer")).issue_key or ""
    reply = kaiten_engineer_reply(kaiten_sandbox, card, "/reply ::logs-request")
    client = create_app(kctx.settings, kctx.config).test_client()
    statuses = []
    for _ in range(2):  # Kaiten may deliver it twice: still one comment from the hub, one message
        response = client.post("/hooks/kaiten?token=k-secret", json=kaiten_comment_webhook(card, reply))
        if response.status_code == 202:
            statuses.append(deliver_with(kctx, response.get_json()["id"]))
    assert statuses == ["delivered"]
    comments = kaiten_comments(kaiten_sandbox, card)
    original = next(c for c in comments if c["id"] == reply["id"])
    assert original["text"] == "/reply ::logs-request"  # refused: left as the engineer wrote it
    [note] = [c for c in comments if c["author_id"] == 1 and f"comment {reply['id']}" in c["text"]]
    assert "Alice Example" in note["text"] and "Hello" in note["text"]
    [sent] = [m for m in sent_messages(telegram_sandbox) if "log" in m["text"].lower()]
    assert "::" not in sent["text"]
    # the hub's own comment comes back as a webhook and is dropped, nothing is sent again
    own = client.post("/hooks/kaiten?token=k-secret", json=kaiten_comment_webhook(card, note))
    assert deliver_with(kctx, own.get_json()["id"]) == "ignored"
    # a later event for the original comment neither posts nor sends again
    reply_edit = {**reply, "updated": "2030-01-01T00:00:00.000Z"}
    later = client.post(
        "/hooks/kaiten?token=k-secret", json=kaiten_comment_webhook(card, reply_edit, "comment:add")
    )
    deliver_with(kctx, later.get_json()["id"])
    hub_notes = [c for c in kaiten_comments(kaiten_sandbox, card) if f"comment {reply['id']}" in c["text"]]
    assert len(hub_notes) == 1
    assert len([m for m in sent_messages(telegram_sandbox) if "log" in m["text"].lower()]) == 1
