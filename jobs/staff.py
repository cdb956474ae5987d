"""What the Telegram hook hands to the team bot: ``/start`` greets a customer and ``/start <invite>``
links a team member (here); a button press, a reply to a card and the team's ``/unassigned`` and ``/my``
are queued for ``jobs.team_cards``, ``jobs.team_replies`` and ``jobs.team_commands``, each once per
update; a customer's reply to a CSAT survey, for ``jobs.csat``. This module stays light: the web
process imports it.

The link is made in the request (one database transaction, ``store.staff.redeem``) so a second tap on
the same link, or Telegram delivering the update again, finds it made; the answer goes out from a job
keyed on the update, so a redelivered update is answered once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from redis import Redis
from sqlalchemy.engine import Engine

from jobs.queues import enqueue_once
from mappers.team_cards import StaffReply
from mappers.telegram_commands import StartCommand, valid_payload
from store import ratings, staff
from store.staff import Redeemed

if TYPE_CHECKING:
    from jobs.context import Context  # tracker clients: the web app does not load them for a /start

log = logging.getLogger(__name__)

TEXTS = {
    "en": {
        "welcome": "Hello! Write your question here and we will answer you in this chat.",
        Redeemed.LINKED: "You are linked to the support team as {account} ({tracker}).",
        Redeemed.ALREADY: "You are already linked to the support team as {account} ({tracker}).",
        "refused": "This invite link is not valid: it was used or has expired. Ask for a new one.",
    },
    "ru": {
        "welcome": "Здравствуйте! Напишите ваш вопрос здесь, и мы ответим вам в этом чате.",
        Redeemed.LINKED: "Вы подключены к команде поддержки как {account} ({tracker}).",
        Redeemed.ALREADY: "Вы уже подключены к команде поддержки как {account} ({tracker}).",
        "refused": "Эта ссылка-приглашение недействительна: ею уже воспользовались или её срок истёк. "
        "Попросите новую.",
    },
}


def answer_start(engine: Engine, redis: Redis | None, command: StartCommand, now: dt.datetime) -> str:
    """Greet, or link through the invite in ``command``; queue the answer. The outcome's name."""
    outcome, text = _outcome(engine, command, now)
    log.info(
        "staff.start outcome=%s telegram_user=%s update_id=%s", outcome, command.user_id, command.update_id
    )
    _queue_text(redis, command.update_id, command.chat_id, text)
    return outcome


def _outcome(engine: Engine, command: StartCommand, now: dt.datetime) -> tuple[str, str]:
    texts = TEXTS["ru" if (command.language or "").startswith("ru") else "en"]
    if command.payload is None:
        return "welcome", texts["welcome"]
    if not valid_payload(command.payload):
        return Redeemed.UNKNOWN.value, texts["refused"]
    outcome, linked = staff.redeem(
        engine, command.payload, command.user_id, command.name, command.username, now
    )
    if linked is None or outcome not in (Redeemed.LINKED, Redeemed.ALREADY):
        return outcome.value, texts["refused"]
    return outcome.value, texts[outcome].format(account=linked.account, tracker=linked.tracker)


def _queue_text(redis: Redis | None, update_id: int, chat_id: int, text: str) -> None:
    if redis is None:
        log.warning("staff.no-queue update_id=%s: the answer is not sent", update_id)
        return
    enqueue_once(redis, "jobs.staff.send_text", chat_id, text, job_id=f"start-{update_id}")


def queue_press(redis: Redis, update: dict[str, Any], update_id: int) -> None:
    """A button press, for ``jobs.team_cards.handle_press``: answered in seconds or not at all."""
    enqueue_once(redis, "jobs.team_cards.handle_press", update, job_id=f"press-{update_id}", retries=(2, 5))


def queue_command(redis: Redis, update: dict[str, Any], update_id: int) -> None:
    """``/unassigned`` or ``/my``, for ``jobs.team_commands.handle_command`` (a tracker search)."""
    enqueue_once(redis, "jobs.team_commands.handle_command", update, job_id=f"staff-command-{update_id}")


def queue_staff_reply(redis: Redis, update: dict[str, Any], update_id: int) -> None:
    """A reply to a card, for ``jobs.team_replies.handle_staff_reply``; retried while the tracker or the
    customer's channel is down (the text is in the job until it is sent)."""
    enqueue_once(
        redis,
        "jobs.team_replies.handle_staff_reply",
        update,
        job_id=f"staff-reply-{update_id}",
        job_timeout=120,
    )


def is_survey_message(engine: Engine, reply: StaffReply) -> bool:
    """Whether ``reply`` may be the comment a CSAT survey asks for: the survey's customer answering its
    message in their chat after rating, before any comment. Anything else there (a reply before rating,
    a second one) is a customer's message like any other; ``jobs.csat`` judges the comment window and
    journals a late one as a message."""
    if reply.chat_id <= 0:
        return False
    survey = ratings.on_telegram_message(engine, reply.chat_id, reply.reply_to)
    return (
        survey is not None
        and reply.user_id == survey.customer_user_id
        and survey.rated_at is not None
        and survey.commented_at is None
    )


def queue_csat_comment(redis: Redis, update: dict[str, Any], update_id: int) -> None:
    """A customer's reply to a CSAT survey's message, for ``jobs.csat.handle_comment``: the survey's
    comment, not a new request."""
    enqueue_once(redis, "jobs.csat.handle_comment", update, job_id=f"csat-comment-{update_id}")


def send_text(chat_id: int, text: str) -> int:
    """The RQ job: send the bot's answer; the sent message's id."""
    from jobs.context import get_context

    return send_text_with(get_context(), chat_id, text)


def send_text_with(ctx: Context, chat_id: int, text: str) -> int:
    client = ctx.telegram
    if client is None:
        log.warning("staff.no-bot chat_id=%s", chat_id)
        return 0
    return client.send_message(chat_id, text)
