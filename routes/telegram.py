"""``POST /hooks/telegram``: Bot API webhook updates (https://core.telegram.org/bots/api#setwebhook).

Verified by ``X-Telegram-Bot-Api-Secret-Token`` (the ``secret_token`` given to setWebhook). Update kinds
the hub does not use are answered 200 so Telegram does not retry them. A private ``/start`` is talk with
the bot, not a request (``jobs.staff``): it is answered, never made an issue; a button press
(``callback_query``) is carried out by a job (``jobs.team_cards``); in a team chat, a reply to a card is
an answer from the phone (``jobs.team_replies``) and nothing else there is a customer's request;
``/unassigned`` and ``/my``, in any chat, are the team's commands (``jobs.team_commands``); a
customer's reply to a CSAT survey is the survey's comment (``jobs.csat``).
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from jobs.clock import utcnow
from jobs.intake import received_now
from jobs.staff import (
    answer_start,
    is_survey_message,
    queue_command,
    queue_csat_comment,
    queue_press,
    queue_staff_reply,
)
from mappers.errors import AnomalousPayload
from mappers.models import Channel
from mappers.team_cards import chat_of, parse_press, parse_reply
from mappers.telegram import parse_update
from mappers.telegram_commands import staff_command, start_command
from routes.answers import accept_parsed, read_body, require_secret
from routes.state import hub

bp = Blueprint("telegram", __name__)


@bp.post("/hooks/telegram")
def receive_telegram() -> ResponseReturnValue:
    """Verify, parse, journal and enqueue one update."""
    settings = hub().settings
    require_secret(
        request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
        settings.secret("TELEGRAM_WEBHOOK_SECRET"),
        "Telegram secret token",
    )
    raw = read_body(settings.HUB_MAX_TELEGRAM_BYTES)
    try:
        update = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder's stack
        raise AnomalousPayload("body is not JSON") from None
    command = start_command(update)
    if command is not None:
        state = hub()
        return jsonify({"status": answer_start(state.engine, state.redis, command, utcnow())}), 200
    press, redis = parse_press(update), hub().redis
    team_command = staff_command(update)  # /unassigned, /my: the team's, never a customer's request
    if team_command is not None:
        if redis is None:  # Telegram sends it again later; a command is never made an issue
            return jsonify({"status": "unavailable"}), 503
        queue_command(redis, update, team_command.update_id)
        return jsonify({"status": "staff-command"}), 200
    if press is not None and redis is not None:
        queue_press(redis, update, press.update_id)
        return jsonify({"status": "press"}), 200
    if chat_of(update) in hub().config.team_bot.chats:  # the team's chat: never a customer's request
        reply = parse_reply(update)
        if reply is not None and redis is not None:
            queue_staff_reply(redis, update, reply.update_id)
            return jsonify({"status": "staff-reply"}), 200
        return jsonify({"status": "team-chat"}), 200
    comment = parse_reply(update)  # a customer's reply to a CSAT survey: its comment, not a request
    if comment is not None and redis is not None and is_survey_message(hub().engine, comment):
        queue_csat_comment(redis, update, comment.update_id)
        return jsonify({"status": "csat-comment"}), 200
    update_id = update.get("update_id") if isinstance(update, dict) else None
    fallback = (
        f"tg:{update_id}" if isinstance(update_id, int) else "tg:sha256:" + hashlib.sha256(raw).hexdigest()
    )
    bot_id = settings.telegram_bot_id  # the one bot; a second bot's hook will name its own
    return accept_parsed(
        Channel.TELEGRAM,
        raw,
        lambda: parse_update(update, received_at=received_now(), bot_id=bot_id),
        fallback,
    )
