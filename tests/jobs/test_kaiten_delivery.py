"""The inbound spine with Kaiten as the target: cards, comments, done and archived cards, autoreplies,
a mixed Jira + Kaiten deployment, round-robin across a real worker restart, and `trackerhub check`.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config.loading import load_config
from config.settings import Settings
from connector.kaiten import KaitenTracker
from jobs.check import check_config
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.replies import send_autoreply_with
from sandbox.server import RunningSandbox
from sandbox.server import RunningSandbox as KaitenSandbox
from store import journal
from tests.conftest import REPO_ROOT
from tests.jobs.conftest import journal_message, sandbox_issues
from tests.mappers.factories import email_message, telegram_message
from tests.sandboxes import CONTROL, run_kaiten

KAITEN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kaiten"


@pytest.fixture
def kaiten_sandbox(tmp_path: Path) -> Iterator[KaitenSandbox]:
    with run_kaiten(tmp_path / "sandbox-kaiten.sqlite3") as running:
        yield running


def kaiten_settings(settings: Settings, sandbox: KaitenSandbox, **extra: object) -> Settings:
    return settings.model_copy(
        update={
            "JIRA_URL": None,
            "KAITEN_URL": sandbox.url,
            "KAITEN_TOKEN": "kaiten-token",
            "KAITEN_BOARD_ID": 10,
            "KAITEN_COLUMN_ID": 101,
            "HUB_MAX_ATTEMPTS": 3,
            **extra,
        }
    )


@pytest.fixture
def kctx(
    settings: Settings, kaiten_sandbox: KaitenSandbox, telegram_sandbox: str, mail_sink: tuple[str, Path]
) -> Context:
    """Env-only Kaiten: KAITEN_URL + KAITEN_TOKEN + KAITEN_BOARD_ID + KAITEN_COLUMN_ID, the shipped rule file."""
    return build_context(
        kaiten_settings(settings, kaiten_sandbox, TELEGRAM_API_URL=telegram_sandbox, SMTP_URL=mail_sink[0])
    )


def kaiten(sandbox: KaitenSandbox) -> KaitenTracker:
    return KaitenTracker(sandbox.url, "t")


def delivered(ctx: Context, message) -> journal.Entry:  # type: ignore[no-untyped-def]
    message_id = journal_message(ctx, message)
    assert deliver_with(ctx, message_id) == "delivered"
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None
    return entry


def test_env_only_kaiten_telegram_message_becomes_a_card(
    kctx: Context, kaiten_sandbox: KaitenSandbox
) -> None:
    entry = delivered(kctx, telegram_message("Принтер горит. [click](http://evil) @admin <b>x</b>"))
    card = kaiten(kaiten_sandbox).get_card(entry.issue_key or "")
    assert (card["board_id"], card["column_id"], card["external_id"]) == (10, 101, f"hub-{entry.id}")
    assert card["title"] == "Принтер горит. [click](http://evil) @admin <b>x</b>"  # a title is plain text
    assert [t["name"] for t in card["tags"]] == ["telegram"]
    description = card["description"]
    assert "\\[click\\]\\(http://evil\\)" in description.replace("\\.", ".").replace("\\:", ":")
    assert "\\@admin" in description and "\\<b\\>" in description
    assert entry.issue_url == f"{kaiten_sandbox.url}/{entry.issue_key}"


def test_a_greeting_is_not_the_title_of_the_card_or_the_jira_issue(
    ctx: Context, kctx: Context, kaiten_sandbox: KaitenSandbox, jira_sandbox: RunningSandbox
) -> None:
    """Issue 11: this Telegram message became an issue and a card titled "Здравствуйте!"."""
    text = "Здравствуйте! Не запускается прокторинг на экзамене у группы 301…"
    card = delivered(kctx, telegram_message(text, chat_id=301))
    issue = delivered(ctx, telegram_message(text, chat_id=302))
    title = "Не запускается прокторинг на экзамене у группы 301…"
    assert kaiten(kaiten_sandbox).get_card(card.issue_key or "")["title"] == title
    [jira_issue] = [i for i in sandbox_issues(jira_sandbox) if i["key"] == issue.issue_key]
    assert jira_issue["fields"]["summary"] == title


def test_follow_up_is_a_comment_and_a_done_or_archived_card_ends_the_conversation(
    kctx: Context, kaiten_sandbox: KaitenSandbox
) -> None:
    client = kaiten(kaiten_sandbox)
    first = delivered(kctx, telegram_message("first"))
    follow = delivered(kctx, telegram_message("more details"))
    assert (follow.outcome, follow.issue_key) == ("comment", first.issue_key)
    [comment] = client.request("GET", f"/cards/{first.issue_key}/comments")
    assert "more details" in comment["text"] and f"hub-{follow.id}" in comment["text"]
    client.move_card(first.issue_key or "", board_id=10, column_id=103)  # the Done column
    second = delivered(kctx, telegram_message("new problem"))
    assert second.outcome == "issue" and second.issue_key != first.issue_key
    assert client.get_card(second.issue_key or "")["parents_ids"] == [int(first.issue_key or 0)]
    client.archive_card(second.issue_key or "")
    third = delivered(kctx, telegram_message("another problem"))
    assert third.outcome == "issue" and third.issue_key not in (first.issue_key, second.issue_key)


def test_autoreplies_name_the_card_and_replies_thread_back(
    kctx: Context, mail_sink: tuple[str, Path], telegram_sandbox: str
) -> None:
    import requests

    tg = delivered(kctx, telegram_message("hello"))
    assert send_autoreply_with(kctx, tg.id) == "sent"
    [sent] = requests.get(f"{telegram_sandbox}/_sandbox/sent", headers=CONTROL, timeout=5).json()
    assert tg.issue_key in sent["text"]
    mail = delivered(kctx, email_message(subject="Invoice"))
    assert send_autoreply_with(kctx, mail.id) == "sent"
    [out] = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(mail_sink[1].glob("*.eml"))
    ]  # type: ignore[misc]
    assert out["Subject"] == f"[#{mail.issue_key}] We have registered your request"
    # a reply from another client that kept only the subject threads by the card tag (requester only)
    reply = delivered(kctx, email_message(subject=f"RE: {out['Subject']}", text="any news?"))
    assert (reply.outcome, reply.issue_key) == ("comment", mail.issue_key)


MIXED = """
rules:
  - name: form-bugs
    when: {channel: form, category: bug}
    target: {tracker: jira, project: SUP, issue_type: Bug}
  - name: telegram-support
    when: {channel: telegram}
    target: {tracker: kaiten, board: 10, column: 101, lane: 112, type: 3}
    fields: {labels: [support], asap: true, properties: {id_501: [602], id_502: "VIP"}}
  - name: rest
    target: {tracker: jira, project: SUP}
"""


def test_mixed_deployment_telegram_to_kaiten_form_bugs_to_jira(
    settings: Settings, tmp_path: Path, kaiten_sandbox: KaitenSandbox, jira_sandbox: RunningSandbox
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(MIXED)
    ctx = build_context(
        kaiten_settings(settings, kaiten_sandbox, JIRA_URL=jira_sandbox.url, JIRA_TOKEN="t", HUB_CONFIG=path)
    )
    tg = delivered(ctx, telegram_message("printer"))
    bug = delivered(
        ctx,
        email_message(subject="Crash on save", channel="form", form="support", category="bug", email=None),
    )
    assert (tg.tracker, bug.tracker) == ("kaiten", "jira")
    card = kaiten(kaiten_sandbox).get_card(tg.issue_key or "")
    assert (card["lane_id"], card["type_id"], card["asap"]) == (112, 3, True)
    assert card["properties"] == {"id_501": [602], "id_502": "VIP"}
    assert sorted(t["name"] for t in card["tags"]) == ["support", "telegram"]
    [issue] = sandbox_issues(jira_sandbox)
    assert issue["key"] == bug.issue_key and issue["fields"]["summary"] == "Crash on save"


ROUND_ROBIN = """
rules:
  - name: support
    target: {tracker: kaiten, board: 10, column: 101}
    fields: {assignees: [2, 3, 4]}
"""


def responsible(sandbox: KaitenSandbox, key: str) -> int:
    card = kaiten(sandbox).get_card(key)
    return next(m["id"] for m in card["members"] if m["type"] == 2)


def test_round_robin_survives_a_worker_restart(
    settings: Settings, tmp_path: Path, kaiten_sandbox: KaitenSandbox
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(ROUND_ROBIN)
    wired = kaiten_settings(settings, kaiten_sandbox, HUB_CONFIG=path)
    ctx = build_context(wired)
    first = [delivered(ctx, telegram_message(f"m{n}", chat_id=500 + n)) for n in range(2)]
    # a fresh worker process takes the next two from the queue
    later = [journal_message(ctx, telegram_message(f"m{n}", chat_id=600 + n)) for n in range(2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "KAITEN_", "HUB_", "TELEGRAM_"))}
    env.update(
        REDIS_URL=wired.REDIS_URL or "",
        DATABASE_URL=wired.DATABASE_URL,
        KAITEN_URL=kaiten_sandbox.url,
        KAITEN_TOKEN="kaiten-token",
        HUB_CONFIG=str(path),
        HUB_LOG_LEVEL="WARNING",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"], cwd=REPO_ROOT, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while not all(journal.get(ctx.engine, i).status == "delivered" for i in later):  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail("the worker did not deliver")
            time.sleep(0.1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    keys = [e.issue_key for e in first] + [journal.get(ctx.engine, i).issue_key for i in later]  # type: ignore[union-attr]
    assert [responsible(kaiten_sandbox, k or "") for k in keys] == [2, 3, 4, 2]


BROKEN_KAITEN = """
rules:
  - name: no-board
    when: {channel: telegram}
    target: {tracker: kaiten, board: 99}
  - name: wrong-column-lane-type
    when: {channel: email}
    target: {tracker: kaiten, board: 10, column: 201, lane: 211, type: 77}
  - name: wrong-property-and-value
    when: {channel: form, category: bug}
    target: {tracker: kaiten, board: 10}
    fields: {properties: {id_999: x, id_501: [699]}}
  - name: wrong-user
    target: {tracker: kaiten, board: 10}
    fields: {assignees: [2, 42]}
"""


def test_check_catches_each_kind_of_wrong_kaiten_name(
    settings: Settings, tmp_path: Path, kaiten_sandbox: KaitenSandbox
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(BROKEN_KAITEN)
    wired = kaiten_settings(settings, kaiten_sandbox, HUB_CONFIG=path)
    errors = check_config(wired, load_config(wired)).errors
    joined = "\n".join(errors)
    assert (
        "rules[0] 'no-board': board 99 does not exist; there are ['10 Support desk', '20 Development']"
        in joined
    )
    assert "rules[1] 'wrong-column-lane-type': column 201 is not on board 10; it has ['101 To do'" in joined
    assert "rules[1] 'wrong-column-lane-type': lane 211 is not on board 10" in joined
    assert "rules[1] 'wrong-column-lane-type': card type 77 does not exist" in joined
    assert "rules[2] 'wrong-property-and-value': property id_999 does not exist" in joined
    assert (
        "rules[2] 'wrong-property-and-value': property id_501 (Severity) has no value [699]; allowed: ['601 Critical'"
        in joined
    )
    assert "rules[3] 'wrong-user': user 42 does not exist" in joined
    assert len(errors) == 7


def test_check_passes_the_env_only_kaiten_config(settings: Settings, kaiten_sandbox: KaitenSandbox) -> None:
    wired = kaiten_settings(settings, kaiten_sandbox)
    assert check_config(wired, load_config(wired)).errors == []


def kaiten_comment_webhook(card_id: str, comment: dict, event: str = "comment:add") -> dict:
    """The documented webhook shape (tests/fixtures/kaiten/comment-add.docs-shape.json), re-pointed."""
    payload = json.loads((KAITEN_FIXTURES / "comment-add.docs-shape.json").read_text())
    payload["event"] = event
    payload["data"].update(
        id=comment["id"],
        card_id=int(card_id),
        text=comment["text"],
        internal=comment["internal"],
        author_id=comment["author_id"],
        author=comment["author"],
        updated=comment["updated"],
    )
    return payload


def test_kaiten_comment_reply_reaches_the_customer_once(
    kctx: Context, kaiten_sandbox: KaitenSandbox, telegram_sandbox: str
) -> None:
    import requests

    from routes import create_app

    hooked = build_context(kctx.settings.model_copy(update={"KAITEN_WEBHOOK_SECRET": "k-secret"}))
    card = delivered(hooked, telegram_message("printer"))
    engineer = {"Authorization": "Bearer t", "X-Sandbox-User": "2"}
    api = f"{kaiten_sandbox.url}/api/latest/cards/{card.issue_key}/comments"
    internal = requests.post(api, json={"text": "internal thought"}, headers=engineer, timeout=5).json()
    reply = requests.post(
        api, json={"text": "/reply Switch it **off**, please"}, headers=engineer, timeout=5
    ).json()
    client = create_app(hooked.settings, hooked.config).test_client()
    assert (
        client.post("/hooks/kaiten", json=kaiten_comment_webhook(card.issue_key or "", reply)).status_code
        == 401
    )
    for comment in (internal, reply, reply):
        response = client.post(
            "/hooks/kaiten?token=k-secret", json=kaiten_comment_webhook(card.issue_key or "", comment)
        )
        assert response.status_code in (200, 202)
        if response.status_code == 202:
            deliver_with(hooked, response.get_json()["id"])
    sent = requests.get(f"{telegram_sandbox}/_sandbox/sent", headers=CONTROL, timeout=5).json()
    texts = [m["text"] for m in sent if "Switch" in m["text"] or "internal" in m["text"]]
    assert texts == ["Switch it off, please"]


@pytest.fixture
def foreign_host() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A server on another origin that records every request it gets: an attacker's, for the test."""
    hits: list[dict[str, str]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            hits.append({"path": self.path, **dict(self.headers)})
            body = b"%PDF-whatever-the-link-serves"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_a_reply_never_fetches_a_link_added_to_the_card_as_a_file(
    kctx: Context,
    kaiten_sandbox: KaitenSandbox,
    telegram_sandbox: str,
    foreign_host: tuple[str, list[dict[str, str]]],
) -> None:
    import requests

    from routes import create_app

    hooked = build_context(kctx.settings.model_copy(update={"KAITEN_WEBHOOK_SECRET": "k-secret"}))
    card = delivered(hooked, telegram_message("printer"))
    engineer = {"Authorization": "Bearer t", "X-Sandbox-User": "2"}
    api = f"{kaiten_sandbox.url}/api/latest/cards/{card.issue_key}"
    stored = requests.put(
        f"{api}/files", files={"file": ("driver.pdf", b"%PDF-driver")}, headers=engineer, timeout=5
    )
    stored.raise_for_status()
    elsewhere, hits = foreign_host
    for name, kind in (("report.pdf", 1), ("logs.zip", 2)):  # an "attachment" elsewhere; a Google Drive link
        link = {"url": f"{elsewhere}/{name}", "name": name, "type": kind}
        requests.post(f"{api}/files", json=link, headers=engineer, timeout=5).raise_for_status()
    text = "/reply Install driver.pdf, then see report.pdf and logs.zip"
    reply = requests.post(f"{api}/comments", json={"text": text}, headers=engineer, timeout=5).json()
    client = create_app(hooked.settings, hooked.config).test_client()
    response = client.post(
        "/hooks/kaiten?token=k-secret", json=kaiten_comment_webhook(card.issue_key or "", reply)
    )
    assert response.status_code == 202 and deliver_with(hooked, response.get_json()["id"]) == "delivered"
    assert hits == []  # the link was never requested, so neither the token nor the customer saw it
    sent = requests.get(f"{telegram_sandbox}/_sandbox/sent", headers=CONTROL, timeout=5).json()
    assert [m["document"] for m in sent if m.get("document")] == ["driver.pdf"]


def test_kaiten_ls_lists_ids(kaiten_sandbox: KaitenSandbox) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAITEN_", "HUB_"))}
    env.update(KAITEN_URL=kaiten_sandbox.url, KAITEN_TOKEN="t")
    run = subprocess.run(
        [sys.executable, "-m", "cli", "kaiten", "ls"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    for line in (
        "board 10  Support desk",
        "column 103  Done  (done)",
        "lane 111",
        "type 3",
        "property 501",
        "value 602  Major",
        "user 2  Alice Example",
    ):
        assert line in run.stdout, line
