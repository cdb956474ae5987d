"""Cards in the team's chats: their buttons, and sending one once.

Every card (a new issue's, a ``/unassigned`` list's, the digest's, an alert's) has the same buttons: Take
while nobody has taken it, a button per route offered for the issue (the rule file's ``routes:`` whose
``offered`` holds the issue's tracker, project and type), the routing page and Open. A card's row
(``store.staff_cards``) is recorded before it is sent, so a retried job sends no second one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from config.routes import offered_routes
from connector.errors import TrackerError
from jobs.context import Context
from mappers import team_cards
from mappers.route_links import NoSecretKey, route_link_url
from mappers.team_cards import Press
from store import staff_cards
from store.staff_cards import Card

log = logging.getLogger(__name__)

NOT_STAFF = "Only the support team can use this button. To join, ask for an invite link."
STALE = "This button is no longer valid."


def card_buttons(ctx: Context, card: Card, *, taken: bool) -> dict[str, Any]:
    """Take (unless taken), a button per route offered, Route → (when there are routes and a key to
    sign the page's links) and Open."""
    route_url = None
    if ctx.config.routes:
        with contextlib.suppress(NoSecretKey):  # no key to sign with: no routing page to link to
            route_url = route_link_url(ctx.settings, card.tracker, card.issue_key)
    open_url = ctx.tracker(card.tracker).issue_url(card.issue_key)
    return team_cards.keyboard(
        card.id, open_url=open_url, route_url=route_url, taken=taken, routes=route_choices(ctx, card)
    )


def route_choices(ctx: Context, card: Card) -> list[tuple[str, str]]:
    """The routes offered for the card's issue, as (id, label); none when the tracker cannot say what
    the issue is now (the routing page still lists them)."""
    if not ctx.config.routes:
        return []
    try:
        state = ctx.tracker(card.tracker).get_state(card.issue_key)
    except TrackerError as exc:
        log.warning("cards.no-routes key=%s error=%s", card.issue_key, type(exc).__name__)
        return []
    offered = offered_routes(
        ctx.config, ctx.settings, tracker=card.tracker, container=state.container, issue_type=state.issue_type
    )
    return [(rid, route_label(ctx, rid)) for rid in offered]


def route_label(ctx: Context, route_id: str) -> str:
    """A route's label as the team chat shows it (English, else the id)."""
    route = ctx.config.routes.get(route_id)
    return route.label_in("en", route_id) if route is not None else route_id


def post_card(ctx: Context, new: Card, now: dt.datetime) -> bool:
    """Send ``new`` to its chat unless an earlier try sent it; whether this call sent it."""
    client = ctx.telegram
    if client is None:
        return False
    card = staff_cards.add(ctx.engine, new, now)
    if card.telegram_message_id is not None:
        return False
    sent = client.send_message(card.chat_id, card.text, reply_markup=card_buttons(ctx, card, taken=False))
    staff_cards.sent(ctx.engine, card.id, sent)
    log.info("cards.posted card=%s key=%s chat=%s", card.id, card.issue_key, card.chat_id)
    return True


def new_card(card_id: str, tracker: str, issue_key: str, chat: int | str, text: str) -> Card:
    """A card not recorded yet."""
    return Card(card_id, tracker, issue_key, str(chat), None, text, None, None)


def pressed_card(ctx: Context, press: Press, cid: str | None) -> Card | None:
    """The card a button's data names, when the press came from that card's message (else None)."""
    card = staff_cards.get(ctx.engine, cid) if cid else None
    if card is None or card.chat_id != str(press.chat_id) or card.telegram_message_id != press.message_id:
        return None
    return card
