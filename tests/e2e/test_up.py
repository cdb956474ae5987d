"""End to end: `trackerhub up`'s real processes (managed redis-server, the node: web under gunicorn, the
delivery slots and the scheduler; the sandbox Jira, Telegram stand-in and SMTP sink), driven only over
HTTP.

One Telegram update, one e-mail and one form become three issues; the autoreplies arrive in the Telegram
stand-in and the SMTP sink; a Telegram follow-up and an e-mail reply land as comments; the same update
sent three times at once is one issue; with both look-alikes at once, a Jira issue routes to a Kaiten
card.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from cli.up import SANDBOX_SUPERVISORS_CHAT, SANDBOX_TEAM_CHAT
from tests.conftest import REPO_ROOT, free_port, wait_for
from tests.sandboxes import CONTROL, CONTROL_TOKEN

pytestmark = pytest.mark.e2e

SECRET = "e2e-telegram-secret"
TOKEN = "e2e-inbound-token"
JIRA_AUTH = {"Authorization": "Bearer e2e"}


def start_up(var_dir: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """`trackerhub up` in a clean environment plus ``settings``, its output in ``var_dir/up.log``,
    leading its own process group as a shell job does."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("JIRA_", "KAITEN_", "TELEGRAM_", "SMTP_", "IMAP_", "REDIS_", "DATABASE_", "HUB_")
        )
    }
    env.update(
        HUB_VAR_DIR=str(var_dir),
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        SANDBOX_CONTROL_TOKEN=CONTROL_TOKEN,
        **settings,
    )
    with (var_dir / "up.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "up", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture(scope="module", params=["jira", "kaiten"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var_dir = tmp_path_factory.mktemp("var")
    port = free_port()
    process = start_up(
        var_dir,
        port,
        HUB_INBOUND_TOKEN=TOKEN,
        HUB_EMAIL_FROM="support@hub.example.com",
        HUB_LOG_LEVEL="WARNING",
        HUB_SANDBOX=request.param,
    )
    yield wait_started(process, var_dir)
    stop_up(process)


def wait_started(process: subprocess.Popen[bytes], var_dir: Path) -> dict[str, Any]:
    """``var/up.json`` once `up` has written it (everything listens), with the process and its folder."""
    state_file = var_dir / "up.json"
    deadline = time.monotonic() + 90
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(
                "trackerhub up did not start:\n" + (var_dir / "up.log").read_text(errors="replace")[-4000:]
            )
        time.sleep(0.2)
    state = json.loads(state_file.read_text())
    return {**state, "process": process, "var_dir": var_dir}


def stop_up(process: subprocess.Popen[bytes]) -> None:
    """Stop `up` as Ctrl-C would its shell job; kill its group if it lingers."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def telegram_update(update_id: int, text: str, chat_id: int = 777) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": text,
        },
    }


def post_update(hub: dict[str, Any], update: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{hub['hub_url']}/hooks/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        timeout=10,
    )


def accepted_now(hub: dict[str, Any], update: dict[str, Any]) -> requests.Response | None:
    """The hook's 202 for ``update``, or None while no web server takes it (Telegram would resend it)."""
    try:
        answer = post_update(hub, update)
    except requests.ConnectionError:
        return None
    return answer if answer.status_code == 202 else None


def post_mail(hub: dict[str, Any], raw: bytes) -> requests.Response:
    return requests.post(
        f"{hub['hub_url']}/hooks/email", data=raw, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )


def wait_delivered(hub: dict[str, Any], message_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(f"{hub['hub_url']}/api/messages/{message_id}", timeout=5).json()
        if status["status"] != "queued":
            return status  # type: ignore[no-any-return]
        time.sleep(0.3)
    pytest.fail(f"message {message_id} still queued after {timeout} s: {status}")


class Issue:
    """An issue or card as the test reads it back from whichever sandbox tracker runs."""

    def __init__(self, hub: dict[str, Any], key: str) -> None:
        if hub["kaiten_url"]:
            api = f"{hub['kaiten_url']}/api/latest/cards/{key}"
            card = requests.get(api, headers=JIRA_AUTH, timeout=5).json()
            self.summary, self.description = card["title"], card["description"]
            self.labels = [t["name"] for t in card["tags"]] + [card["external_id"]]
            self.comments = [
                c["text"] for c in requests.get(f"{api}/comments", headers=JIRA_AUTH, timeout=5).json()
            ]
        else:
            issue = requests.get(
                f"{hub['jira_url']}/rest/api/2/issue/{key}", headers=JIRA_AUTH, timeout=5
            ).json()
            fields = issue["fields"]
            self.summary, self.description, self.labels = (
                fields["summary"],
                fields["description"],
                fields["labels"],
            )
            self.comments = [c["body"] for c in fields["comment"]["comments"]]


def subject_tag(key: str) -> str:
    return f"[#{key}]" if key.isdigit() else f"[{key}]"


def find_by_idempotency_key(hub: dict[str, Any], key: str) -> int:
    if hub["kaiten_url"]:
        cards = requests.get(
            f"{hub['kaiten_url']}/api/latest/cards", params={"external_id": key}, headers=JIRA_AUTH, timeout=5
        )
        return len(cards.json())
    found = requests.get(
        f"{hub['jira_url']}/rest/api/2/search",
        params={"jql": f'labels = "{key}"'},
        headers=JIRA_AUTH,
        timeout=5,
    )
    return int(found.json()["total"])


def outbox(hub: dict[str, Any]) -> list[email.message.EmailMessage]:
    folder = Path(hub["outbox"])
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


def test_three_channels_become_three_issues_with_autoreplies_and_follow_ups(hub: dict[str, Any]) -> None:
    tg = post_update(hub, telegram_update(1001, "My printer is on fire. Please help."))
    assert tg.status_code == 202
    mail = (
        b"From: Bob Smith <bob@customer.example>\r\nTo: support@hub.example.com\r\n"
        b"Subject: =?utf-8?B?0KHRh9GR0YIg0L3QtSDQv9GA0LjRiNGR0Ls=?=\r\nMessage-ID: <e2e-1@customer.example>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "Добрый день, счёт не пришёл.".encode() + b"\r\n"
    )
    em = post_mail(hub, mail)
    assert em.status_code == 202
    form = requests.post(
        f"{hub['hub_url']}/hooks/forms/support",
        json={
            "name": "Carol",
            "email": "carol@customer.example",
            "subject": "Cannot log in",
            "message": "The login page says {html}<b>error</b>{html}",
            "category": "bug",
            "submission_id": "e2e-form-0001",
        },
        timeout=10,
    )
    assert form.status_code == 202

    statuses = [wait_delivered(hub, r.json()["id"]) for r in (tg, em, form)]
    assert [s["status"] for s in statuses] == ["delivered"] * 3
    assert [s["outcome"] for s in statuses] == ["issue"] * 3
    keys = [s["issue_key"] for s in statuses]
    assert len(set(keys)) == 3
    issues = {key: Issue(hub, key) for key in keys}
    assert issues[keys[0]].summary == "My printer is on fire."
    assert issues[keys[1]].summary == "Счёт не пришёл"
    assert "\\{html\\}" in issues[keys[2]].description and "{html}" not in issues[keys[2]].description
    assert "hub-" + tg.json()["id"] in issues[keys[0]].labels

    # autoreplies: Telegram through the stand-in, e-mail and form through SMTP into the sink
    sent = wait_for(lambda: telegram_sent(hub, 777, ""))  # the customer's chat (the team chat gets cards)
    assert keys[0] in sent[0]["text"]
    mails = wait_for(lambda: len(outbox(hub)) >= 2 and outbox(hub))
    by_recipient = {str(m["To"]): m for m in mails}
    bob = next(m for to, m in by_recipient.items() if "bob@customer.example" in to)
    carol = next(m for to, m in by_recipient.items() if "carol@customer.example" in to)
    assert bob["Subject"] == f"{subject_tag(keys[1])} We have registered your request"
    assert bob["In-Reply-To"] == "<e2e-1@customer.example>" and bob["Auto-Submitted"] == "auto-replied"
    assert carol["Subject"] == f"{subject_tag(keys[2])} We have registered your request"

    # follow-ups: Telegram in the same chat, and an e-mail reply to the autoreply
    follow = post_update(hub, telegram_update(1002, "Now it is smoking too"))
    assert wait_delivered(hub, follow.json()["id"])["outcome"] == "comment"
    reply = (
        b"From: Bob Smith <bob@customer.example>\r\nTo: support@hub.example.com\r\n"
        b"Subject: Re: " + str(bob["Subject"]).encode() + b"\r\nMessage-ID: <e2e-2@customer.example>\r\n"
        b"In-Reply-To: " + str(bob["Message-ID"]).encode() + b"\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nThanks, any news?\r\n\r\n> quoted autoreply text\r\n"
    )
    reply_status = wait_delivered(hub, post_mail(hub, reply).json()["id"])
    assert (reply_status["outcome"], reply_status["issue_key"]) == ("comment", keys[1])
    assert "Now it is smoking too" in Issue(hub, keys[0]).comments[-1]
    mail_comment = Issue(hub, keys[1]).comments[-1]
    assert "Thanks, any news" in mail_comment and "quoted autoreply" not in mail_comment


def test_up_prints_the_sandbox_control_token_and_the_telegram_login_link(hub: dict[str, Any]) -> None:
    log_path = hub["var_dir"] / "up.log"
    printed = wait_for(lambda: "Sandbox control token" in log_path.read_text() and log_path.read_text())
    assert f"Sandbox control token: {CONTROL_TOKEN}" in printed
    login = f"{hub['telegram_api_url']}/_sandbox/login?token={CONTROL_TOKEN}&next=/_sandbox/chats"
    assert f"Telegram chats:   {login}" in printed
    assert f"Team chat:        {login}/{SANDBOX_TEAM_CHAT}" in printed  # the team's side is on the page too
    assert f"Supervisors chat: {login}/{SANDBOX_SUPERVISORS_CHAT}" in printed
    # the welcome's commands for another shell work there, with nothing but var/cli.env (owner-only)
    cli_env = hub["var_dir"] / "cli.env"
    account = "jsmith" if hub["jira_url"] else "2"  # a Jira user name, a Kaiten user id
    assert f". {cli_env}; set +a; .venv/bin/trackerhub staff invite {account}" in printed
    assert cli_env.stat().st_mode & 0o077 == 0
    listed = subprocess.run(
        ["bash", "-c", f"set -a; . {cli_env}; set +a; exec {sys.executable} -m cli staff ls"],
        env={"PATH": os.environ["PATH"]},
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr.decode()
    assert requests.get(f"{hub['telegram_api_url']}/_sandbox/chats", timeout=5).status_code == 401
    browser = requests.Session()
    page = browser.get(login, timeout=5)
    assert page.status_code == 200 and "Write as a customer" in page.text
    assert isinstance(browser.get(f"{hub['telegram_api_url']}/_sandbox/sent", timeout=5).json(), list)


def test_a_customer_writing_in_the_telegram_chat_page_gets_an_issue_and_the_answer(
    hub: dict[str, Any],
) -> None:
    """What a newcomer does in `make run`: writes as a customer on the Telegram look-alike's page; the
    look-alike sends the update to the hub's webhook (as Telegram does, with the secret), the issue is
    made, and the chat page shows the bot's answer naming it."""
    browser = requests.Session()
    browser.get(f"{hub['telegram_api_url']}/_sandbox/login", params={"token": CONTROL_TOKEN}, timeout=5)
    written = browser.post(
        f"{hub['telegram_api_url']}/_sandbox/chats/write",
        data={"chat_id": 7007, "first_name": "Ann", "text": "The label printer prints blank pages."},
        timeout=10,
    )
    assert written.status_code == 200 and "The label printer prints blank pages." in written.text
    chat = f"{hub['telegram_api_url']}/_sandbox/chats/7007.json"

    def answered() -> list[dict[str, Any]]:
        return [m for m in browser.get(chat, timeout=5).json() if m["side"] == "bot"]

    (answer,) = wait_for(answered)
    key = next(
        word.strip(".,:;()[]") for word in answer["text"].split() if word.strip(".,:;()[]") in _keys(hub)
    )
    assert Issue(hub, key).summary == "The label printer prints blank pages."
    # and without any setting, the team's chat on the same page shows the new issue's card with Take
    team = f"{hub['telegram_api_url']}/_sandbox/chats/{SANDBOX_TEAM_CHAT}.json"
    (card,) = wait_for(lambda: [m for m in browser.get(team, timeout=5).json() if key in m["text"]])
    assert card["buttons"][0]["text"] == "Take"


def run_cli(hub: dict[str, Any], *args: str) -> str:
    """``trackerhub ARGS`` against the running hub's database, Redis, tracker and Telegram look-alike;
    its standard output (a failure fails the test with its standard error)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "TELEGRAM_", "HUB_", "REDIS_"))},
        "DATABASE_URL": f"sqlite:///{hub['var_dir'] / 'trackerhub.sqlite3'}",
        "REDIS_URL": hub["redis_url"],
        "TELEGRAM_API_URL": hub["telegram_api_url"],
        "TELEGRAM_BOT_TOKEN": "1000:sandbox",
        "HUB_VAR_DIR": str(hub["var_dir"]),
        **(
            {"JIRA_URL": hub["jira_url"]}
            if hub["jira_url"]
            else {"KAITEN_URL": hub["kaiten_url"], "KAITEN_BOARD_ID": "10", "KAITEN_COLUMN_ID": "101"}
        ),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, cwd=REPO_ROOT, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_a_team_member_links_through_an_invite_opened_in_telegram(hub: dict[str, Any]) -> None:
    """`trackerhub staff invite` prints a t.me link; the person opens it (the look-alike sends `/start
    <code>` to the hub as Telegram would), is told they are linked, and `staff ls` lists them."""
    link = run_cli(hub, "staff", "invite", "ann.lee").strip()
    found = re.fullmatch(r"https://t\.me/trackerhub_sandbox_bot\?start=([A-Za-z0-9_-]{24})", link)
    assert found, link  # the bot's name from the look-alike's getMe
    person = {"id": 8101, "first_name": "Ann", "language_code": "en"}
    opened = requests.post(
        f"{hub['telegram_api_url']}/_sandbox/users/start",
        json={"from": person, "payload": found.group(1)},
        headers=CONTROL,
        timeout=10,
    )
    assert opened.json()["delivered"] is True
    chat = f"{hub['telegram_api_url']}/_sandbox/chats/8101.json"
    answer = wait_for(
        lambda: [
            m["text"] for m in requests.get(chat, headers=CONTROL, timeout=5).json() if m["side"] == "bot"
        ]
    )
    tracker = "jira" if hub["jira_url"] else "kaiten"  # the default tracker, as the hub's settings say
    assert answer == [f"You are linked to the support team as ann.lee ({tracker})."]
    assert run_cli(hub, "staff", "ls").startswith(f"8101\tAnn\t{tracker}:ann.lee\t")


def _keys(hub: dict[str, Any]) -> set[str]:
    """The keys of the issues (ids of the cards) the sandbox tracker holds."""
    if hub["kaiten_url"]:
        cards = requests.get(f"{hub['kaiten_url']}/api/latest/cards", headers=JIRA_AUTH, timeout=5).json()
        return {str(card["id"]) for card in cards}
    found = requests.get(
        f"{hub['jira_url']}/rest/api/2/search", params={"maxResults": 1000}, headers=JIRA_AUTH, timeout=5
    )
    return {issue["key"] for issue in found.json()["issues"]}


def test_up_prints_a_routing_link_and_an_issue_routes_through_the_api(hub: dict[str, Any]) -> None:
    """`make run`'s welcome: the first issue's signed routing link (with the key kept in var/), and the
    routing API with its token; on the Jira sandbox a new issue routes to the database team."""
    from config.settings import Settings
    from mappers.route_links import read_route_link

    log_path = hub["var_dir"] / "up.log"
    printed = wait_for(lambda: "  page: " in log_path.read_text() and log_path.read_text())
    link = re.search(r"page: (\S+/route/(\S+))", printed)
    token = re.search(r"/api/routes/\S+ -H 'Authorization: Bearer ([^']+)'", printed)
    assert link is not None and token is not None
    key_file = hub["var_dir"] / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0  # the owner's alone
    signed = Settings(HUB_SECRET_KEY=key_file.read_text().strip())
    first = "SUP-1" if hub["jira_url"] else "1001"
    assert read_route_link(signed, link.group(2), max_age=60) == (
        "jira" if hub["jira_url"] else "kaiten",
        first,
    )
    api = f"{hub['hub_url']}/api/routes"
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    assert requests.post(f"{api}/database/{first}", json={}, timeout=10).status_code == 401
    message = post_update(hub, telegram_update(1500, "Database is slow", chat_id=1500))
    key = wait_delivered(hub, message.json()["id"])["issue_key"]
    answer = requests.post(f"{api}/database/{key}", json={"fields": {}}, headers=auth, timeout=30)
    if not hub["jira_url"]:
        assert answer.status_code == 409  # the shipped routes are offered on Jira issues only
        return
    assert answer.status_code == 202, answer.text
    done = wait_for(
        lambda: (
            (s := requests.get(f"{api}/{answer.json()['id']}", timeout=5).json())["status"] == "done" and s
        )
    )
    assert done["target"]["key"].startswith("DB-")


def test_both_look_alikes_at_once_route_a_jira_issue_to_a_kaiten_card(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``HUB_SANDBOX=jira,kaiten``: Jira takes the customer's issue, and the shipped ``to-kaiten-queue``
    route moves it to a card on the Kaiten look-alike's board 10, column 101."""
    var_dir = tmp_path_factory.mktemp("var")
    process = start_up(var_dir, free_port(), HUB_LOG_LEVEL="WARNING", HUB_SANDBOX="jira,kaiten")
    try:
        hub = wait_started(process, var_dir)
        assert hub["jira_url"] and hub["kaiten_url"]
        log_path = var_dir / "up.log"
        printed = wait_for(lambda: "  page: " in log_path.read_text() and log_path.read_text())
        token = re.search(r"/api/routes/\S+ -H 'Authorization: Bearer ([^']+)'", printed)
        assert token is not None and f"Sandbox Kaiten:   {hub['kaiten_url']}/" in printed
        message = post_update(hub, telegram_update(1700, "Please queue my request in Kaiten", chat_id=1700))
        key = wait_delivered(hub, message.json()["id"])["issue_key"]
        assert key.startswith("SUP-")  # Jira is the default tracker
        api = f"{hub['hub_url']}/api/routes"
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        answer = requests.post(f"{api}/to-kaiten-queue/{key}", json={"fields": {}}, headers=auth, timeout=30)
        assert answer.status_code == 202, answer.text
        done = wait_for(
            lambda: (
                (s := requests.get(f"{api}/{answer.json()['id']}", timeout=5).json())["status"] == "done"
                and s
            ),
            timeout=60,
        )
        card_url = f"{hub['kaiten_url']}/api/latest/cards/{done['target']['key']}"
        card = requests.get(card_url, headers=JIRA_AUTH, timeout=5).json()
        assert (card["board_id"], card["column_id"]) == (10, 101)
        assert "Please queue my request in Kaiten" in card["description"]
    finally:
        stop_up(process)


def test_same_update_three_times_at_once_is_one_issue(hub: dict[str, Any]) -> None:
    update = telegram_update(2001, "Duplicate storm", chat_id=888)
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: post_update(hub, update), range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 202]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    status = wait_delivered(hub, ids.pop())
    assert status["status"] == "delivered"
    assert find_by_idempotency_key(hub, f"hub-{status['id']}") == 1


def telegram_sent(hub: dict[str, Any], chat_id: int, containing: str) -> list[dict[str, Any]]:
    """What the Telegram stand-in sent to ``chat_id`` that mentions ``containing`` (any case)."""
    url = f"{hub['telegram_api_url']}/_sandbox/sent?chat_id={chat_id}"
    sent = requests.get(url, headers=CONTROL, timeout=5).json()
    return [m for m in sent if containing in m["text"].lower()]


def engineer_comment(hub: dict[str, Any], key: str, body: str) -> None:
    requests.post(
        f"{hub['jira_url']}/rest/api/2/issue/{key}/comment",
        json={"body": body},
        auth=("engineer", "pw"),
        timeout=5,
    ).raise_for_status()


@pytest.mark.parametrize("hub", ["jira"], indirect=True)
def test_engineer_replies_from_jira_reach_telegram_and_email_and_answers_thread_back(
    hub: dict[str, Any],
) -> None:
    # 1. a Telegram message creates an issue
    first = wait_delivered(
        hub, post_update(hub, telegram_update(3001, "The app crashes on start.", chat_id=999)).json()["id"]
    )
    key = first["issue_key"]
    # 2. an engineer's `/reply ::logs-request` comment, posted to the sandbox, comes back as Jira's webhook
    engineer_comment(hub, key, "/reply ::logs-request")
    # 3. the customer's chat receives the expanded text, and Jira shows what was sent
    sent = wait_for(lambda: telegram_sent(hub, 999, containing="log"))
    assert "::" not in sent[0]["text"] and key in sent[0]["text"]
    assert any("::logs-request" not in c and "log" in c.lower() for c in Issue(hub, key).comments)
    # 4. the customer's answer lands as a comment on the same issue
    answer = wait_delivered(
        hub, post_update(hub, telegram_update(3002, "Here are the logs.", chat_id=999)).json()["id"]
    )
    assert (answer["outcome"], answer["issue_key"]) == ("comment", key)

    # the same round trip by e-mail
    mail = (
        b"From: Dana <dana@customer.example>\r\nSubject: VPN is down\r\nMessage-ID: <vpn-1@customer.example>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe VPN does not connect.\r\n"
    )
    mail_key = wait_delivered(hub, post_mail(hub, mail).json()["id"])["issue_key"]
    engineer_comment(hub, mail_key, "/reply Please restart the VPN client.")
    reply = wait_for(
        lambda: [
            m for m in outbox(hub) if "Please restart the VPN client." in m.get_body(("plain",)).get_content()
        ]
    )[0]
    assert reply["Subject"] == f"{subject_tag(mail_key)} Re: VPN is down"
    assert reply["In-Reply-To"] == "<vpn-1@customer.example>"
    answer_mail = (
        b"From: Dana <dana@customer.example>\r\nSubject: Re: " + str(reply["Subject"]).encode() + b"\r\n"
        b"Message-ID: <vpn-2@customer.example>\r\nIn-Reply-To: " + str(reply["Message-ID"]).encode() + b"\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nRestarted, works now.\r\n"
    )
    threaded = wait_delivered(hub, post_mail(hub, answer_mail).json()["id"])
    assert (threaded["outcome"], threaded["issue_key"]) == ("comment", mail_key)


@pytest.mark.parametrize("hub", ["kaiten"], indirect=True)
def test_engineer_replies_from_kaiten_reach_telegram_through_its_webhook(hub: dict[str, Any]) -> None:
    """Nothing here posts a webhook: the sandbox Kaiten sends its own to the hub, as `up` wired it."""
    first = wait_delivered(
        hub, post_update(hub, telegram_update(6001, "The scanner jams.", chat_id=6006)).json()["id"]
    )
    card = first["issue_key"]
    requests.post(
        f"{hub['kaiten_url']}/api/latest/cards/{card}/comments",
        json={"text": "/reply ::logs-request"},
        headers={**JIRA_AUTH, "X-Sandbox-User": "2"},  # an engineer, not the hub's user
        timeout=5,
    ).raise_for_status()
    sent = wait_for(lambda: telegram_sent(hub, 6006, containing="log"))
    assert len(sent) == 1 and "::" not in sent[0]["text"] and card in sent[0]["text"]
    answer = wait_delivered(
        hub, post_update(hub, telegram_update(6002, "Here are the logs.", chat_id=6006)).json()["id"]
    )
    assert (answer["outcome"], answer["issue_key"]) == ("comment", card)


def child_pids(parent: int, command_part: str) -> list[int]:
    """Pids of ``parent``'s children whose command line contains ``command_part``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and command_part in cmdline:
            found.append(int(stat.parent.name))
    return found


def test_up_restarts_a_node_that_dies(hub: dict[str, Any]) -> None:
    """The whole node SIGKILLed (its web server and slots follow it, PR_SET_PDEATHSIG): `up` starts it
    again, and the next message is taken and delivered."""
    up_pid = hub["process"].pid
    [node] = child_pids(up_pid, "cli node")
    os.kill(node, signal.SIGKILL)
    [replacement] = wait_for(lambda: [p for p in child_pids(up_pid, "cli node") if p != node])
    assert replacement != node and hub["process"].poll() is None
    update = telegram_update(4001, "after the node died", chat_id=4242)
    accepted = wait_for(lambda: accepted_now(hub, update), timeout=90)  # the new node's web, once it listens
    assert wait_delivered(hub, accepted.json()["id"])["status"] == "delivered"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize(
    "stop",
    ["ctrl-c", "sigterm"],
    ids=["ctrl-c-to-the-terminal-group", "sigterm-to-up"],
)
def test_up_stops_its_children_in_reverse_order_without_tracebacks(
    stop: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Ctrl-C in `make run` (SIGINT to the whole foreground group) or a SIGTERM to `up` alone: the
    hub's processes stop before the sandbox and Redis, so none of them prints a connection traceback."""
    var_dir = tmp_path_factory.mktemp("var-stop")
    log_path = var_dir / "up.log"
    process = start_up(var_dir, free_port(), HUB_LOG_LEVEL="INFO")  # INFO: `up` reports each stop
    try:
        wait_for(lambda: (var_dir / "up.json").exists() or process.poll() is not None, timeout=90)
        assert process.poll() is None, log_path.read_text(errors="replace")[-4000:]
        hub = json.loads((var_dir / "up.json").read_text())
        # the whole pipeline runs (so the slots and the scheduler are busy with Redis) before the stop
        accepted = post_update(hub, telegram_update(5001, "before the stop", chat_id=5005))
        assert wait_delivered(hub, accepted.json()["id"])["status"] == "delivered"
        children = child_pids(process.pid, "")
        assert len(children) >= 5  # redis, sandbox tracker, telegram, smtp, the node (+ its children)
        if stop == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=120) == 0
        wait_for(lambda: not any(process_alive(pid) for pid in children), timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = log_path.read_text(errors="replace")
    assert "Traceback" not in output, output[-6000:]
    assert "Error 111" not in output and "Connection refused" not in output, output[-6000:]
    # Ctrl-C reaches `up` alone: no child was interrupted by it (click's "Aborted!" after a
    # KeyboardInterrupt, Redis's and gunicorn's own SIGINT lines)
    assert "Aborted!" not in output and "Received SIGINT" not in output, output[-6000:]
    assert "Handling signal: int" not in output, output[-6000:]
    stopped = [line.split("process=")[1].split()[0] for line in output.splitlines() if "up.stopped " in line]
    started_last = ["node", "sandbox-smtp", "sandbox-telegram", "sandbox-jira", "redis"]
    assert stopped == started_last, output[-6000:]
