"""``/start``: a customer is greeted, a team member with an invite is linked, and each is answered once
in their chat (the Telegram look-alike receives the answer)."""

from __future__ import annotations

import datetime as dt

import requests
from rq import Queue

from jobs.context import Context
from jobs.queues import REPLY_QUEUE
from jobs.staff import answer_start, send_text_with
from mappers.telegram_commands import StartCommand
from store import staff
from tests.sandboxes import CONTROL

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def start(
    payload: str | None, *, update_id: int = 1, user_id: int = 501, language: str = "en"
) -> StartCommand:
    return StartCommand(update_id, user_id, user_id, "Ann Lee", "ann", language, payload)


def answered(ctx: Context, telegram_sandbox: str, update_id: int) -> list[str]:
    """Run the answer job queued for the update; what the person's chat then shows."""
    job = Queue(REPLY_QUEUE, connection=ctx.redis).fetch_job(f"start-{update_id}")
    assert job is not None, "no answer was queued"
    chat_id, _text = job.args
    send_text_with(ctx, *job.args)
    sent = requests.get(
        f"{telegram_sandbox}/_sandbox/sent", params={"chat_id": chat_id}, headers=CONTROL, timeout=5
    )
    return [m["text"] for m in sent.json()]


def test_a_plain_start_is_greeted_in_the_persons_language(ctx: Context, telegram_sandbox: str) -> None:
    assert answer_start(ctx.engine, ctx.redis, start(None, language="ru"), NOW) == "welcome"
    assert answered(ctx, telegram_sandbox, 1) == [
        "Здравствуйте! Напишите ваш вопрос здесь, и мы ответим вам в этом чате."
    ]
    assert staff.members(ctx.engine) == []


def test_an_invite_links_and_says_as_whom(ctx: Context, telegram_sandbox: str) -> None:
    code = staff.create_invite(ctx.engine, "default", "ann.lee", dt.timedelta(days=1), NOW)
    assert answer_start(ctx.engine, ctx.redis, start(code), NOW) == "linked"
    assert answered(ctx, telegram_sandbox, 1) == ["You are linked to the support team as ann.lee (default)."]
    member = staff.find(ctx.engine, 501)
    assert member is not None and (member.account, member.username) == ("ann.lee", "ann")


def test_a_redelivered_update_is_answered_once(ctx: Context) -> None:
    code = staff.create_invite(ctx.engine, "default", "ann.lee", dt.timedelta(days=1), NOW)
    assert answer_start(ctx.engine, ctx.redis, start(code, update_id=7), NOW) == "linked"
    assert answer_start(ctx.engine, ctx.redis, start(code, update_id=7), NOW) == "already"
    assert Queue(REPLY_QUEUE, connection=ctx.redis).job_ids == ["start-7"]


def test_a_used_expired_or_malformed_invite_is_refused_without_saying_which(
    ctx: Context, telegram_sandbox: str
) -> None:
    code = staff.create_invite(ctx.engine, "default", "ann.lee", dt.timedelta(days=1), NOW)
    staff.redeem(ctx.engine, code, 999, "Someone", None, NOW)
    expired = staff.create_invite(
        ctx.engine, "default", "bob", dt.timedelta(minutes=1), NOW - dt.timedelta(hours=1)
    )
    outcomes = [
        answer_start(ctx.engine, ctx.redis, start(payload, update_id=n), NOW)
        for n, payload in enumerate((code, expired, "no such code", "x" * 24), start=10)
    ]
    assert outcomes == ["used", "expired", "unknown", "unknown"]
    texts = {text for n in range(10, 14) for text in answered(ctx, telegram_sandbox, n)}
    assert texts == {"This invite link is not valid: it was used or has expired. Ask for a new one."}
    assert staff.find(ctx.engine, 501) is None
