"""A button press's end: logged once and answered with ``answerCallbackQuery`` (the presser's spinner
stops; a refusal shows as an alert). The team bot's Take and the customers' CSAT buttons both end here."""

from __future__ import annotations

import logging

from jobs.context import Context
from mappers.team_cards import Press

log = logging.getLogger(__name__)


def answer_press(ctx: Context, press: Press, kind: str, outcome: str, answer: str) -> str:
    """Log what the press of ``kind`` came to, answer the presser; the outcome."""
    log.info(
        "%s.press outcome=%s telegram_user=%s update_id=%s", kind, outcome, press.user_id, press.update_id
    )
    client = ctx.telegram
    if client is not None:
        client.answer_callback_query(press.query_id, answer, show_alert=outcome == "refused")
    return outcome
