"""The fault suite's traffic: a known, mixed set of customer messages and a sender that never gives up.

``mixed_messages(n)`` builds Telegram updates (two per chat: a first message and a follow-up), e-mails
(new threads and replies to earlier ones) and web-form submissions, interleaved. The ``Sender`` posts them
at a steady rate from several threads, as the channels would: a 5xx, a 429 or a refused connection is
retried (Telegram and mail servers retry for hours), so a message counts as accepted once the hub
answered 2xx with its id; any other 4xx is a test failure, since every message here is valid.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from itertools import count

import requests

from tests.reliability.harness import INBOUND_TOKEN, TELEGRAM_SECRET

_update_ids = count(int(time.time() * 1000) % 10**9)


@dataclass(frozen=True)
class Outgoing:
    """One customer message as its channel would post it to the hub."""

    key: str
    channel: str  # telegram / email / form
    path: str
    body: bytes
    headers: dict[str, str]


def telegram_update(chat_id: int, text: str) -> Outgoing:
    """A private-chat text message update with a fresh ``update_id``."""
    update_id = next(_update_ids)
    update = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": f"Chat{chat_id}"},
            "from": {"id": chat_id, "is_bot": False, "first_name": f"Chat{chat_id}", "language_code": "en"},
            "text": text,
        },
    }
    return Outgoing(
        key=f"tg-{update_id}",
        channel="telegram",
        path="/hooks/telegram",
        body=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )


def email(
    sender: str, subject: str, text: str, *, in_reply_to: str | None = None, **headers: str
) -> Outgoing:
    """A plain-text mail from ``sender`` to the support address, optionally a reply in a thread."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "support@hub.example.com"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(_now())
    mail["Message-ID"] = make_msgid(domain="customer.example")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return Outgoing(
        key=f"mail-{mail['Message-ID']}",
        channel="email",
        path="/hooks/email",
        body=mail.as_bytes(),
        headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {INBOUND_TOKEN}"},
    )


def form(number: int, run: str) -> Outgoing:
    """A support-form submission with its page's submission id."""
    submission = {
        "name": f"Form User {number}",
        "email": f"form{number}@customer.example",
        "subject": f"Form request {number}",
        "message": f"Form message {number} of run {run}",
        "submission_id": f"{run}-form-{number:05d}",
    }
    return Outgoing(
        key=f"form-{submission['submission_id']}",
        channel="form",
        path="/hooks/forms/support",
        body=json.dumps(submission).encode(),
        headers={"Content-Type": "application/json"},
    )


def mixed_messages(n: int, run: str) -> list[Outgoing]:
    """``n`` messages, per ten: 4 Telegram (2 chats × first + follow-up), 4 e-mails (one a reply), 2 forms."""
    messages: list[Outgoing] = []
    sent_mail: list[str] = []
    block = 0
    base_chat = abs(hash(run)) % 10**6 * 100
    while len(messages) < n:
        chats = [base_chat + 2 * block, base_chat + 2 * block + 1]
        batch = [telegram_update(chat, f"Hello from chat {chat} ({run})") for chat in chats]
        for number in range(3):
            mail = email(
                f"Customer {block}-{number} <c{block}x{number}@customer.example>",
                f"Problem {block}-{number}",
                f"Mail {block}-{number} of run {run}",
            )
            sent_mail.append(_message_id(mail))
            batch.append(mail)
        if len(sent_mail) > 6:  # a reply to a mail sent a couple of blocks ago
            original = sent_mail[-7]
            batch.append(
                email(
                    "Replier <replier@customer.example>", "Re: earlier", "More details", in_reply_to=original
                )
            )
        else:
            batch.append(email(f"Early {block} <early{block}@customer.example>", "Question", "Early mail"))
        batch += [form(2 * block, run), form(2 * block + 1, run)]
        batch += [telegram_update(chat, f"Follow-up from chat {chat} ({run})") for chat in chats]
        messages += batch
        block += 1
    return messages[:n]


def telegram_chats(n: int, chats: int, run: str) -> list[Outgoing]:
    """``n`` Telegram messages over ``chats`` private chats, interleaved: the first of each chat opens an
    issue, the rest follow it up while the earlier ones may still be on their way."""
    base_chat = abs(hash(run)) % 10**6 * 100 + 50_000_000
    return [
        telegram_update(base_chat + i % chats, f"Message {i // chats + 1} from chat {i % chats} ({run})")
        for i in range(n)
    ]


def _message_id(message: Outgoing) -> str:
    return message.key.removeprefix("mail-")


def _now():  # type: ignore[no-untyped-def]

    return dt.datetime.now(dt.UTC)


@dataclass
class SendLog:
    """What the sender saw: each message's accepted id, and every answer it got."""

    accepted: dict[str, str] = field(default_factory=dict)  # Outgoing.key → hub message id
    answers: Counter[str] = field(default_factory=Counter)  # "202", "200", "503", "error" …
    conflicts: list[str] = field(default_factory=list)  # keys that got two different ids
    rejected: list[tuple[str, int, str]] = field(default_factory=list)  # unexpected 4xx
    last_sent_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, key: str, answer: str, message_id: str | None = None) -> None:
        with self._lock:
            self.answers[answer] += 1
            if message_id is None:
                return
            known = self.accepted.setdefault(key, message_id)
            if known != message_id:
                self.conflicts.append(key)


class Sender:
    """Posts messages at ``rate`` per second from ``threads`` threads, retrying until accepted.

    Given several nodes' URLs it spreads the messages over them in turn, as a load balancer would, and a
    message whose node does not answer is tried on the next one (a balancer's health check)."""

    def __init__(
        self,
        hub_url: str | Sequence[str],
        *,
        rate: float = 20.0,
        threads: int = 8,
        give_up_after: float = 300,
    ) -> None:
        self.urls = [hub_url] if isinstance(hub_url, str) else list(hub_url)
        self.hub_url = self.urls[0]
        self.rate = rate
        self.threads = threads
        self.give_up_after = give_up_after
        self.log = SendLog()
        self._local = threading.local()

    def send_all(self, messages: list[Outgoing], *, copies: int = 1) -> SendLog:
        """Send each message ``copies`` times at once (a duplicate storm when > 1); wait for all."""
        started = time.monotonic()
        with ThreadPoolExecutor(self.threads * copies) as pool:
            futures = []
            for index, message in enumerate(messages):
                delay = started + index / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures += [pool.submit(self.send, message, start=index) for _ in range(copies)]
            for future in futures:
                future.result()
        self.log.last_sent_at = time.monotonic()
        return self.log

    def send(self, message: Outgoing, *, timeout: float = 10.0, start: int = 0) -> None:
        """Post one message until the hub accepts it (2xx) or rejects it (4xx other than 429), to node
        ``start`` first and then to each next one in turn."""
        deadline = time.monotonic() + self.give_up_after
        pause = 0.2
        attempt = start
        while time.monotonic() < deadline:
            answer = self._post(message, timeout, self.urls[attempt % len(self.urls)])
            if answer is not None:
                return
            attempt += 1
            time.sleep(pause)
            pause = min(pause * 2, 3.0)
        self.log.record(message.key, "gave-up")

    def post_once(self, message: Outgoing, *, timeout: float) -> int | None:
        """Post once, as a client that may stop waiting for the answer; the status, if it came."""
        return self._post(message, timeout, self.hub_url)

    def _post(self, message: Outgoing, timeout: float, url: str) -> int | None:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        try:
            response = session.post(
                url + message.path, data=message.body, headers=message.headers, timeout=timeout
            )
        except requests.RequestException as exc:
            self.log.record(message.key, f"error:{type(exc).__name__}")
            return None
        status = response.status_code
        if 200 <= status < 300:
            self.log.record(message.key, str(status), response.json()["id"])
            return status
        self.log.record(message.key, str(status))
        if status == 429 or status >= 500:
            return None
        self.log.rejected.append((message.key, status, response.text[:200]))
        return status
