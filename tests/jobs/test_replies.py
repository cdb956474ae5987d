"""Autoreplies: the key reaches the customer in their channel, once, in their language, without loops."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import requests
from rq import Queue

from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.queues import REPLY_QUEUE
from jobs.replies import send_autoreply_with
from mappers.models import EmailMeta, InboundMessage, Sender
from store import journal, outbound
from tests.jobs.conftest import journal_message
from tests.mappers.factories import email_message, telegram_message
from tests.sandboxes import CONTROL


def read_outbox(folder: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]  # type: ignore[misc]


def delivered(ctx: Context, message) -> str:  # type: ignore[no-untyped-def]
    message_id = journal_message(ctx, message)
    assert deliver_with(ctx, message_id) == "delivered"
    return message_id


def test_telegram_autoreply_names_the_key_in_the_sender_s_language(
    ctx: Context, telegram_sandbox: str
) -> None:
    message = telegram_message("Принтер горит", sender=Sender(name="Аня", telegram_user_id=42, language="ru"))
    message_id = delivered(ctx, message)
    assert send_autoreply_with(ctx, message_id) == "sent"
    key = journal.get(ctx.engine, message_id).issue_key  # type: ignore[union-attr]
    [sent] = requests.get(f"{telegram_sandbox}/_sandbox/sent", headers=CONTROL, timeout=5).json()
    assert sent["chat_id"] == 42 and f"Номер обращения: {key}" in sent["text"]
    assert sent["reply_parameters"]["message_id"] == message.telegram.message_id  # type: ignore[union-attr]
    # a retried job does not send again
    assert send_autoreply_with(ctx, message_id) == "sent"
    assert len(requests.get(f"{telegram_sandbox}/_sandbox/sent", headers=CONTROL, timeout=5).json()) == 1


def test_email_autoreply_threads_and_is_marked_auto_submitted(
    ctx: Context, mail_sink: tuple[str, Path]
) -> None:
    message = email_message(
        subject="Re: Fwd: Invoice is wrong",
        message_id="<orig@customer.example>",
        email_meta={"references": ["<older@customer.example>"]},
    )
    message_id = delivered(ctx, message)
    assert send_autoreply_with(ctx, message_id) == "sent"
    key = journal.get(ctx.engine, message_id).issue_key  # type: ignore[union-attr]
    [mail] = read_outbox(mail_sink[1])
    assert mail["Subject"] == f"[{key}] We have registered your request"
    assert mail["To"] == "bob@customer.example" and mail["From"] == "support@hub.example.com"
    assert mail["In-Reply-To"] == "<orig@customer.example>"
    assert mail["References"] == "<older@customer.example> <orig@customer.example>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"
    assert str(mail["Message-ID"]).endswith("@hub.example.com>")
    assert key in mail.get_content()
    # the customer's reply to the autoreply threads back into the issue
    reply = email_message(
        subject=f"Re: {mail['Subject']}", text="Thanks", email_meta={"in_reply_to": [str(mail["Message-ID"])]}
    )
    reply_id = journal_message(ctx, reply)
    deliver_with(ctx, reply_id)
    assert journal.get(ctx.engine, reply_id).issue_key == key  # type: ignore[union-attr]


SPAM = "Cheap meds at http://spam.example"


def spam_form(victim: str) -> InboundMessage:
    """A form filled in by a spammer: their text as name and subject, someone else's address."""
    return email_message(
        subject=SPAM,
        text=f"{SPAM} {SPAM}",
        channel="form",
        form="support",
        email=None,
        sender=Sender(name=SPAM, email=victim, language="ru"),
    )


def test_a_form_autoreply_repeats_nothing_the_sender_typed(ctx: Context, mail_sink: tuple[str, Path]) -> None:
    message_id = delivered(ctx, spam_form("victim@elsewhere.example"))
    assert send_autoreply_with(ctx, message_id) == "sent"
    key = journal.get(ctx.engine, message_id).issue_key  # type: ignore[union-attr]
    [path] = sorted(mail_sink[1].glob("*.eml"))
    [mail] = read_outbox(mail_sink[1])
    assert mail["To"] == "victim@elsewhere.example"
    assert mail["Subject"] == f"[{key}] Мы зарегистрировали ваше обращение"
    assert key in mail.get_content()
    seen = str(mail) + mail.get_content()  # headers decoded, and the decoded body
    for echo in ("spam.example", "Cheap meds"):
        assert echo not in seen and echo.encode() not in path.read_bytes()


def test_an_email_autoreply_keeps_the_thread_but_not_the_sender_s_words(
    ctx: Context, mail_sink: tuple[str, Path]
) -> None:
    forged = email_message(
        subject=SPAM,
        text=SPAM,
        sender=Sender(name=SPAM, email="victim@elsewhere.example"),
        message_id="<spam-1@elsewhere.example>",
    )
    assert send_autoreply_with(ctx, delivered(ctx, forged)) == "sent"
    [mail] = read_outbox(mail_sink[1])
    assert mail["In-Reply-To"] == "<spam-1@elsewhere.example>"
    assert "spam.example" not in str(mail) + mail.get_content() and "Cheap" not in str(mail["Subject"])


def test_form_autoreplies_are_capped_for_the_whole_hub(ctx: Context, mail_sink: tuple[str, Path]) -> None:
    capped = ctx.settings.model_copy(update={"HUB_FORM_AUTOREPLY_PER_HOUR": 2, "HUB_AUTOREPLY_PER_HOUR": 50})
    workers = [build_context(capped), build_context(capped)]  # two processes, one Redis
    sent = [
        send_autoreply_with(
            workers[n % 2], delivered(workers[n % 2], spam_form(f"victim{n}@elsewhere.example"))
        )
        for n in range(3)
    ]
    assert sent == ["sent", "sent", "skipped"]
    capped_id = delivered(workers[0], spam_form("victim9@elsewhere.example"))
    assert send_autoreply_with(workers[1], capped_id) == "skipped"
    record = outbound.find(ctx.engine, capped_id, "autoreply")
    assert record is not None and record.status == "skipped"
    assert "HUB_FORM_AUTOREPLY_PER_HOUR" in (record.reason or "")
    # the cap is for form senders: someone who mailed the hub is still answered
    assert send_autoreply_with(workers[0], delivered(workers[0], email_message(subject="Invoice"))) == "sent"
    assert len(read_outbox(mail_sink[1])) == 3


def test_no_form_autoreplies_at_all_is_recorded_at_delivery(
    ctx: Context, mail_sink: tuple[str, Path]
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"HUB_FORM_AUTOREPLY_PER_HOUR": 0})
    message_id = delivered(ctx, spam_form("victim@elsewhere.example"))
    record = outbound.find(ctx.engine, message_id, "autoreply")
    assert record is not None and record.status == "skipped" and "=0" in (record.reason or "")
    assert reply_jobs(ctx) == [] and send_autoreply_with(ctx, message_id) == "skipped"
    assert read_outbox(mail_sink[1]) == []


def test_email_autoreplies_are_rate_limited_per_recipient(ctx: Context, mail_sink: tuple[str, Path]) -> None:
    limit = ctx.settings.HUB_AUTOREPLY_PER_HOUR
    results = [
        send_autoreply_with(ctx, delivered(ctx, email_message(subject=f"n{n}"))) for n in range(limit + 2)
    ]
    assert results == ["sent"] * limit + ["skipped"] * 2
    assert len(read_outbox(mail_sink[1])) == limit


def test_no_autoreply_to_robots(ctx: Context, mail_sink: tuple[str, Path]) -> None:
    robot = email_message(sender=Sender(name="Mailer", email="no-reply@shop.example"))
    message_id = delivered(ctx, robot)
    assert send_autoreply_with(ctx, message_id) == "skipped"
    assert outbound.find(ctx.engine, message_id, "autoreply").reason == "no address to answer"  # type: ignore[union-attr]
    assert read_outbox(mail_sink[1]) == []


def reply_jobs(ctx: Context) -> list[str]:
    return list(Queue(REPLY_QUEUE, connection=ctx.redis).get_job_ids())


def test_a_reply_that_cannot_be_sent_is_recorded_at_delivery_without_a_job(
    ctx: Context, mail_sink: tuple[str, Path]
) -> None:
    robot = delivered(ctx, email_message(sender=Sender(name="Mailer", email="no-reply@shop.example")))
    assert outbound.find(ctx.engine, robot, "autoreply").status == "skipped"  # type: ignore[union-attr]
    ctx.settings = ctx.settings.model_copy(update={"SMTP_URL": None})
    no_smtp = delivered(ctx, email_message(subject="no smtp"))
    assert outbound.find(ctx.engine, no_smtp, "autoreply").reason == "SMTP_URL is not set"  # type: ignore[union-attr]
    assert reply_jobs(ctx) == []


def test_a_reply_that_can_be_sent_gets_its_job(ctx: Context, mail_sink: tuple[str, Path]) -> None:
    message_id = delivered(ctx, email_message())
    assert outbound.find(ctx.engine, message_id, "autoreply") is None
    assert reply_jobs(ctx) == [f"send_autoreply-{message_id}"]


def test_reply_to_header_is_answered(ctx: Context, mail_sink: tuple[str, Path]) -> None:
    message = email_message(email=EmailMeta(message_id="<rt@x>", reply_to="helpdesk@customer.example"))
    send_autoreply_with(ctx, delivered(ctx, message))
    [mail] = read_outbox(mail_sink[1])
    assert "helpdesk@customer.example" in str(mail["To"])


def test_follow_ups_get_no_autoreply(ctx: Context, telegram_sandbox: str) -> None:
    delivered(ctx, telegram_message("first"))
    follow_up = delivered(ctx, telegram_message("second"))
    assert send_autoreply_with(ctx, follow_up) == "skipped"


def test_blocked_bot_is_recorded_not_retried_forever(ctx: Context, telegram_sandbox: str) -> None:
    requests.post(
        f"{telegram_sandbox}/_sandbox/blocked", json={"chat_id": 42}, headers=CONTROL, timeout=5
    ).raise_for_status()
    message_id = delivered(ctx, telegram_message("hi"))
    assert send_autoreply_with(ctx, message_id) == "failed"
    assert "blocked" in (outbound.find(ctx.engine, message_id, "autoreply").reason or "")  # type: ignore[union-attr]
