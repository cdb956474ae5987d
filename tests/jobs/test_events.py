"""Engineers answer from the tracker: Jira webhooks in (real payload shapes), replies out to the
customer's channel, canned codes expanded in place, transition messages and status notifications.

The comment is written into the sandbox Jira as an engineer (Basic auth) and the webhook Jira would send
is posted to the hub's /hooks/jira, shaped like tests/fixtures/jira/zulip__comment_created.json.
"""

from __future__ import annotations

import copy
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from config.settings import Settings
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from mappers.models import Sender
from routes import create_app
from sandbox.server import RunningSandbox
from store import journal
from tests.jobs.conftest import journal_message, transition_to_done
from tests.mappers.factories import email_message, telegram_message
from tests.sandboxes import CONTROL

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jira"
SECRET = "jira-hook-secret"
ENGINEER = ("engineer", "engineer-password")


@pytest.fixture
def ectx(ctx: Context) -> Context:
    return build_context(ctx.settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))


def open_issue(ctx: Context, message) -> str:  # type: ignore[no-untyped-def]
    message_id = journal_message(ctx, message)
    assert deliver_with(ctx, message_id) == "delivered"
    return journal.get(ctx.engine, message_id).issue_key  # type: ignore[union-attr,return-value]


def engineer_comment(
    sandbox: RunningSandbox, key: str, body: str, *, internal: bool | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"body": body}
    if internal is not None:
        payload["properties"] = [{"key": "sd.public.comment", "value": {"internal": internal}}]
    response = requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/comment", json=payload, auth=ENGINEER, timeout=5
    )
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def comment_webhook(key: str, comment: dict[str, Any], event: str = "comment_created") -> dict[str, Any]:
    payload = copy.deepcopy(json.loads((FIXTURES / "zulip__comment_created.json").read_text()))
    payload["webhookEvent"] = event
    payload["comment"].update(id=comment["id"], body=comment["body"], updated=comment["updated"])
    payload["comment"].pop("jsdPublic", None)
    payload["issue"].update(key=key, id=key.split("-")[1])
    return payload


def post_hook(ctx: Context, payload: dict[str, Any], *, delivery: str | None = None, sign: bool = True):  # type: ignore[no-untyped-def]
    # sent now, as Jira would: the hub refuses a webhook outside JIRA_WEBHOOK_MAX_AGE_MINUTES
    body = json.dumps({**payload, "timestamp": int(time.time() * 1000)}).encode()
    headers = {"Content-Type": "application/json"}
    if delivery:
        headers["X-Atlassian-Webhook-Identifier"] = delivery
    url = "/hooks/jira"
    if sign:
        headers["X-Hub-Signature"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    else:
        url += f"?token={SECRET}"
    return create_app(ctx.settings, ctx.config).test_client().post(url, data=body, headers=headers)


def run_event(ctx: Context, response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 202, response.get_data(as_text=True)
    return deliver_with(ctx, response.get_json()["id"])


def sent_messages(telegram: str) -> list[dict[str, Any]]:
    return requests.get(f"{telegram}/_sandbox/sent", headers=CONTROL, timeout=5).json()  # type: ignore[no-any-return]


def test_marker_reply_reaches_telegram_and_unmarked_comments_stay_internal(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("printer on fire"))
    internal = engineer_comment(jira_sandbox, key, "Looks like the fuser. *Do not* tell them yet.")
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, internal))) == "ignored"
    reply = engineer_comment(jira_sandbox, key, "/reply Please switch the printer *off* and wait [~admin].")
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, reply))) == "delivered"
    [sent] = sent_messages(telegram_sandbox)
    assert sent["chat_id"] == 42 and sent["text"] == "Please switch the printer off and wait."


def test_url_token_works_only_when_opted_in_and_bad_secrets_are_refused(
    ectx: Context, jira_sandbox: RunningSandbox
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    payload = comment_webhook(key, engineer_comment(jira_sandbox, key, "/reply hi"))
    refused = post_hook(ectx, payload, sign=False)
    assert refused.status_code == 403 and "JIRA_WEBHOOK_URL_TOKEN" in refused.get_json()["error"]
    opted = build_context(ectx.settings.model_copy(update={"JIRA_WEBHOOK_URL_TOKEN": True}))
    assert post_hook(opted, payload, sign=False).status_code == 202
    client = create_app(opted.settings, opted.config).test_client()
    assert client.post("/hooks/jira?token=wrong", json=payload).status_code == 403
    assert client.post("/hooks/jira", json=payload).status_code == 401
    bad = client.post("/hooks/jira", json=payload, headers={"X-Hub-Signature": "sha256=" + "0" * 64})
    assert bad.status_code == 403


def test_public_mode_sends_public_comments_only(
    settings: Settings, tmp_path: Path, ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("replies: {mode: public}\nrules:\n  - name: default\n    target: {tracker: default}\n")
    pctx = build_context(ectx.settings.model_copy(update={"HUB_CONFIG": config}))
    key = open_issue(pctx, telegram_message("x"))
    for body, internal in (("internal note", True), ("no visibility given", None), ("Public answer", False)):
        comment = engineer_comment(jira_sandbox, key, body, internal=internal)
        run_event(pctx, post_hook(pctx, comment_webhook(key, comment)))
    assert [m["text"] for m in sent_messages(telegram_sandbox)] == ["Public answer"]


def test_canned_code_is_expanded_in_place_and_sent(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("it crashes"))
    comment = engineer_comment(jira_sandbox, key, "/reply ::logs-request")
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, comment))) == "delivered"
    stored = requests.get(
        f"{jira_sandbox.url}/rest/api/2/issue/{key}/comment/{comment['id']}", auth=ENGINEER, timeout=5
    ).json()
    assert "::logs-request" not in stored["body"] and stored["body"].startswith("/reply ")
    [sent] = sent_messages(telegram_sandbox)
    assert "log" in sent["text"].lower() and "::" not in sent["text"]
    assert stored["body"].removeprefix("/reply ").strip() == sent["text"]


def test_unknown_canned_code_is_not_sent_and_the_team_gets_suggestions(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    comment = engineer_comment(jira_sandbox, key, "/reply ::logs-reqest")
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, comment))) == "ignored"
    assert sent_messages(telegram_sandbox) == []
    comments = requests.get(
        f"{jira_sandbox.url}/rest/api/2/issue/{key}/comment", auth=ENGINEER, timeout=5
    ).json()["comments"]
    assert "::logs-reqest is not a canned response. Did you mean: ::logs-request?" in comments[-1]["body"]


def test_same_webhook_twice_sends_once_and_data_center_double_report_dedupes(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    comment = engineer_comment(jira_sandbox, key, "/reply once")
    payload = comment_webhook(key, comment)
    first = post_hook(ectx, payload, delivery="delivery-1")
    again = post_hook(ectx, payload, delivery="delivery-1")
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    run_event(ectx, first)
    double = json.loads(
        (FIXTURES / "mattermost-plugin-jira__webhook-server-issue-updated-commented-2.json").read_text()
    )
    double["issue"].update(key=key, id=key.split("-")[1])
    double["comment"].update(id=comment["id"], body=comment["body"], updated=comment["updated"])
    response = post_hook(ectx, double, delivery="delivery-2")
    if response.status_code == 202:  # a different event id: the comment's outbound key still dedupes
        deliver_with(ectx, response.get_json()["id"])
    assert [m["text"] for m in sent_messages(telegram_sandbox)] == ["once"]


def test_telegram_429_is_retried_after_retry_after(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    requests.post(
        f"{telegram_sandbox}/_sandbox/faults",
        json={"status": 429, "retry_after": 37, "count": 1},
        headers=CONTROL,
        timeout=5,
    ).raise_for_status()
    response = post_hook(
        ectx, comment_webhook(key, engineer_comment(jira_sandbox, key, "/reply after the flood"))
    )
    before = journal.utcnow()
    assert run_event(ectx, response) == "queued"
    entry = journal.get(ectx.engine, response.get_json()["id"])
    assert entry is not None and entry.next_attempt_at is not None
    assert entry.next_attempt_at >= before + dt.timedelta(seconds=36)
    assert deliver_with(ectx, entry.id) == "delivered"
    assert [m["text"] for m in sent_messages(telegram_sandbox)] == ["after the flood"]


def test_email_reply_threads_and_an_smtp_failure_ends_as_an_internal_comment(
    ectx: Context, jira_sandbox: RunningSandbox, mail_sink: tuple[str, Path]
) -> None:
    key = open_issue(ectx, email_message(subject="Invoice", message_id="<inv-1@customer.example>"))
    response = post_hook(
        ectx, comment_webhook(key, engineer_comment(jira_sandbox, key, "/reply The invoice is fixed."))
    )
    assert run_event(ectx, response) == "delivered"
    [mail] = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(mail_sink[1].glob("*.eml"))
    ]  # type: ignore[misc]
    assert mail["Subject"] == f"[{key}] Re: Invoice" and mail["In-Reply-To"] == "<inv-1@customer.example>"
    assert mail.get_body(("plain",)).get_content().strip() == "The invoice is fixed."
    assert "<p>The invoice is fixed.</p>" in mail.get_body(("html",)).get_content()
    # the customer's answer threads back into the issue
    answer_id = journal_message(
        ectx,
        email_message(subject="Re: x", text="thanks!", email_meta={"in_reply_to": [str(mail["Message-ID"])]}),
    )
    deliver_with(ectx, answer_id)
    assert journal.get(ectx.engine, answer_id).issue_key == key  # type: ignore[union-attr]
    # SMTP down: after the last attempt the team is told on the issue
    broken = build_context(ectx.settings.model_copy(update={"SMTP_URL": "smtp://127.0.0.1:1"}))
    response = post_hook(
        broken, comment_webhook(key, engineer_comment(jira_sandbox, key, "/reply Second answer"))
    )
    message_id = response.get_json()["id"]
    for _ in range(broken.settings.HUB_MAX_ATTEMPTS):
        status = deliver_with(broken, message_id)
        with broken.engine.begin() as conn:  # time passes
            conn.exec_driver_sql("UPDATE messages SET next_attempt_at = '2000-01-01 00:00:00'")
    assert status == "failed"
    entry = journal.get(broken.engine, message_id)
    assert entry is not None and (entry.reason or "").startswith(
        "reply not delivered: gave up after 3 attempts"
    )
    comments = requests.get(
        f"{jira_sandbox.url}/rest/api/2/issue/{key}/comment", auth=ENGINEER, timeout=5
    ).json()["comments"]
    assert "could not be delivered to the customer" in comments[-1]["body"]
    status_api = (
        create_app(broken.settings, broken.config).test_client().get(f"/api/messages/{message_id}").get_json()
    )
    assert status_api["status"] == "failed" and "reply not delivered" in status_api["reason"]


def transition_webhook(key: str, to_status: str, category: str = "indeterminate") -> dict[str, Any]:
    payload = copy.deepcopy(json.loads((FIXTURES / "zulip__issue_updated__status.json").read_text()))
    payload["issue"].update(key=key, id=key.split("-")[1])
    payload["changelog"]["id"] = f"{key}-{to_status}"
    for item in payload["changelog"]["items"]:
        if item.get("field") == "status":
            item.update(toString=to_status, fromString="To Do")
    return payload


def move(sandbox: RunningSandbox, key: str, status: str) -> None:
    transitions = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{key}/transitions", auth=ENGINEER, timeout=5
    ).json()
    target = next(t for t in transitions["transitions"] if t["to"]["name"] == status)
    requests.post(
        f"{sandbox.url}/rest/api/2/issue/{key}/transitions",
        json={"transition": {"id": target["id"]}},
        auth=ENGINEER,
        timeout=5,
    ).raise_for_status()


@pytest.mark.parametrize(("language", "expected"), [("ru", "работ"), ("en", "work")])
def test_status_notification_in_the_customer_s_language(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str, language: str, expected: str
) -> None:
    sender = Sender(name="Ann", telegram_user_id=42, language=language)
    key = open_issue(ectx, telegram_message("x", sender=sender))
    move(jira_sandbox, key, "In Progress")
    assert run_event(ectx, post_hook(ectx, transition_webhook(key, "In Progress"))) == "delivered"
    [sent] = sent_messages(telegram_sandbox)
    assert key in sent["text"] and expected in sent["text"].lower()


def test_transition_bound_canned_message(
    settings: Settings, tmp_path: Path, ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "replies: {transitions: {'Waiting for customer': logs-request}, notify_statuses: []}\n"
        "rules:\n  - name: default\n    target: {tracker: default}\n"
    )
    (tmp_path / "canned").symlink_to(Path(__file__).resolve().parents[2] / "config" / "canned")
    tctx = build_context(ectx.settings.model_copy(update={"HUB_CONFIG": config}))
    key = open_issue(tctx, telegram_message("x"))
    move(jira_sandbox, key, "Waiting for customer")
    assert run_event(tctx, post_hook(tctx, transition_webhook(key, "Waiting for customer"))) == "delivered"
    [sent] = sent_messages(telegram_sandbox)
    assert "log" in sent["text"].lower()


def test_the_hub_s_own_comments_are_ignored(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    own = requests.post(
        f"{jira_sandbox.url}/rest/api/2/issue/{key}/comment",
        json={"body": "/reply by the hub"},
        headers={"Authorization": "Bearer t"},
        timeout=5,
    ).json()
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, own))) == "ignored"
    assert sent_messages(telegram_sandbox) == []


def test_resolving_ends_the_conversation(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    first = open_issue(ectx, telegram_message("first"))
    transition_to_done(jira_sandbox, first)
    run_event(ectx, post_hook(ectx, transition_webhook(first, "Done", "done")))
    second = open_issue(ectx, telegram_message("second"))
    assert second != first


def test_files_named_in_a_reply_are_sent_as_documents(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    upload = requests.post(
        f"{jira_sandbox.url}/rest/api/2/issue/{key}/attachments",
        files={"file": ("driver-setup.pdf", b"%PDF-1.7 driver")},
        headers={"X-Atlassian-Token": "no-check"},
        auth=ENGINEER,
        timeout=5,
    )
    upload.raise_for_status()
    comment = engineer_comment(jira_sandbox, key, "/reply Please install the driver: [^driver-setup.pdf]")
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, comment))) == "delivered"
    sent = sent_messages(telegram_sandbox)
    assert [m.get("document") for m in sent] == [None, "driver-setup.pdf"]
    assert sent[1]["size"] == len(b"%PDF-1.7 driver")


def test_a_reply_carries_only_the_files_it_names_exactly(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    for name in ("log.txt", "changelog.txt", "screen.png"):
        requests.post(
            f"{jira_sandbox.url}/rest/api/2/issue/{key}/attachments",
            files={"file": (name, name.encode())},
            headers={"X-Atlassian-Token": "no-check"},
            auth=ENGINEER,
            timeout=5,
        ).raise_for_status()
    comment = engineer_comment(
        jira_sandbox, key, "/reply What changed: [^changelog.txt], and !screen.png|thumbnail!"
    )
    assert run_event(ectx, post_hook(ectx, comment_webhook(key, comment))) == "delivered"
    documents = [m["document"] for m in sent_messages(telegram_sandbox) if m.get("document")]
    assert sorted(documents) == ["changelog.txt", "screen.png"]  # not log.txt, a substring of changelog.txt


def test_form_sender_is_answered_by_email(
    ectx: Context, jira_sandbox: RunningSandbox, mail_sink: tuple[str, Path]
) -> None:
    form = email_message(subject="Cannot log in", channel="form", form="support", email=None)
    key = open_issue(ectx, form)
    assert (
        run_event(
            ectx,
            post_hook(ectx, comment_webhook(key, engineer_comment(jira_sandbox, key, "/reply Reset it."))),
        )
        == "delivered"
    )
    [mail] = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(mail_sink[1].glob("*.eml"))
    ]  # type: ignore[misc]
    assert mail["Subject"] == f"[{key}] Re: Cannot log in" and "bob@customer.example" in str(mail["To"])


def test_a_status_notification_to_a_form_sender_repeats_nothing_the_sender_wrote(
    ectx: Context, jira_sandbox: RunningSandbox, mail_sink: tuple[str, Path]
) -> None:
    # A stranger can submit the form with someone else's address: what the hub sends by itself must not
    # carry the stranger's text (subject, summary, name) to that address.
    spam = "Cheap meds at http://spam.example"
    sender = Sender(name="Buy now http://spam.example", email="victim@customer.example")
    form = email_message(subject=spam, channel="form", form="support", email=None, sender=sender)
    key = open_issue(ectx, form)
    for path in mail_sink[1].glob("*.eml"):
        path.unlink()  # the autoreply (tested in tests/jobs/test_replies.py)
    move(jira_sandbox, key, "In Progress")
    assert run_event(ectx, post_hook(ectx, transition_webhook(key, "In Progress"))) == "delivered"
    [mail] = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(mail_sink[1].glob("*.eml"))
    ]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert key in text and mail["Subject"] == f"[{key}] In Progress"
    assert "spam.example" not in mail.as_string() and "victim@customer.example" in str(mail["To"])


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        ("UTC", "2026-11-23T23:30:00+00:00", 8.5 * 3600),  # inside 22:00–08:00 UTC, before midnight
        ("UTC", "2026-11-23T03:00:00+00:00", 5 * 3600),  # inside, after midnight
        ("UTC", "2026-11-23T12:00:00+00:00", 0.0),  # outside
        # the night Berlin moves its clocks forward: 23:00 CET to 08:00 CEST is eight hours, not nine
        ("Europe/Berlin", "2027-03-27T23:00:00+01:00", 8 * 3600),
        ("Europe/Berlin", "2027-10-30T23:00:00+02:00", 10 * 3600),  # and back: 23:00 CEST to 08:00 CET
    ],
)
def test_quiet_hours_delay(zone: str, now: str, expected: float) -> None:
    from config.rules import QuietHours
    from jobs.events import seconds_until_quiet_hours_end

    quiet = QuietHours(start="22:00", end="08:00", timezone=zone)
    assert seconds_until_quiet_hours_end(quiet, dt.datetime.fromisoformat(now)) == expected


def quiet_config(tmp_path: Path, extra: str) -> Path:
    config = tmp_path / "hub.yaml"
    config.write_text(f"replies: {{{extra}}}\nrules:\n  - name: default\n    target: {{tracker: default}}\n")
    (tmp_path / "canned").symlink_to(Path(__file__).resolve().parents[2] / "config" / "canned")
    return config


def test_notifications_wait_for_quiet_hours_to_end(
    tmp_path: Path, ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    hour = journal.utcnow().hour
    window = f"quiet_hours: {{start: '{hour:02d}:00', end: '{(hour + 2) % 24:02d}:00', timezone: UTC}}"
    qctx = build_context(ectx.settings.model_copy(update={"HUB_CONFIG": quiet_config(tmp_path, window)}))
    key = open_issue(qctx, telegram_message("x"))
    move(jira_sandbox, key, "In Progress")
    response = post_hook(qctx, transition_webhook(key, "In Progress"))
    assert run_event(qctx, response) == "queued"
    entry = journal.get(qctx.engine, response.get_json()["id"])
    assert entry is not None and entry.reason == "quiet hours" and entry.next_attempt_at is not None
    assert entry.next_attempt_at > journal.utcnow() + dt.timedelta(minutes=59)
    assert sent_messages(telegram_sandbox) == []


def test_opted_out_issue_gets_no_status_notifications(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("x"))
    requests.put(
        f"{jira_sandbox.url}/rest/api/2/issue/{key}",
        json={"update": {"labels": [{"add": "hub-no-notify"}]}},
        auth=ENGINEER,
        timeout=5,
    ).raise_for_status()
    move(jira_sandbox, key, "In Progress")
    assert run_event(ectx, post_hook(ectx, transition_webhook(key, "In Progress"))) == "ignored"
    assert sent_messages(telegram_sandbox) == []


def test_canned_library_api_and_preview(ectx: Context, jira_sandbox: RunningSandbox) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    listing = create_app(ectx.settings, ectx.config).test_client().get("/api/canned").get_json()
    entries = {e["key"]: e for e in listing["canned"]}
    assert listing["errors"] == [] and set(entries["logs-request"]["languages"]) == {"en", "ru"}
    key = open_issue(
        ectx,
        telegram_message("The app crashes", sender=Sender(name="Ann", telegram_user_id=42, language="ru")),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "HUB_", "REDIS_", "DATABASE_"))}
    env.update(
        JIRA_URL=jira_sandbox.url,
        JIRA_TOKEN="t",
        REDIS_URL=ectx.settings.REDIS_URL or "",
        DATABASE_URL=ectx.settings.DATABASE_URL,
    )
    run = subprocess.run(
        [sys.executable, "-m", "cli", "canned", "preview", "logs-request", "--issue", key],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert key in run.stdout and "Ann" in run.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "cli", "canned", "preview", "logs-reqest", "--issue", key],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "logs-request" in missing.stderr
