"""A route's button on a card: the issue routed from the team chat, through the routing service.

``route_press`` (from ``jobs.team_cards.handle_press_with``) checks the press as Take does (the card on
its own message, a linked member), then submits the request to ``jobs.routing.api`` as the presser
(``via`` ``bot``, the audit names them): a double press, or two people pressing at once, get the one
request the service keeps per issue and route. A route whose target requires fields autofill cannot
fill answers with a link to the issue's routing page for that route, signed as the page's links are.

``tell_cards`` (from the routing job, once, as the request's last step) edits the issue's cards to say
where it went, with the new key and its link; a request from a card that fails is told under the card.
"""

from __future__ import annotations

import logging

from connector.errors import ChannelError
from jobs.context import Context
from jobs.routing import api
from jobs.routing.errors import MissingFields, RouteBusy, RoutingError, UnknownRoute
from jobs.team_posts import NOT_STAFF, STALE, card_buttons, pressed_card, route_label
from mappers import team_cards
from mappers.route_links import NoSecretKey, route_link_url
from mappers.team_cards import Press
from store import routing as requests_store
from store import staff, staff_cards
from store.routing import RouteRequest
from store.staff_cards import Card

log = logging.getLogger(__name__)

VIA = "bot"


def route_press(ctx: Context, press: Press) -> tuple[str, str]:
    """What a press on a route's button comes to, and the answer the presser sees."""
    named = team_cards.routed_card(press.data)
    card = pressed_card(ctx, press, named[0] if named else None)
    if card is None or named is None:
        return "stale", STALE
    member = staff.find(ctx.engine, press.user_id)
    if member is None:
        return "refused", NOT_STAFF
    route, label, key = named[1], route_label(ctx, named[1]), card.issue_key
    actor = f"{member.name} ({member.tracker} {member.account}, Telegram {press.user_id})"
    try:
        request = api.submit(ctx, route, key, {}, actor=actor, via=VIA, tracker=card.tracker)
    except MissingFields as exc:
        names = [spec.name for spec in exc.plan.missing]
        _send_page_link(ctx, card, route, team_cards.asked_text(label, names))
        return "asked", team_cards.asked_text(label, names)
    except RouteBusy:
        return "busy", f"{key} is being routed elsewhere already."
    except UnknownRoute:
        return "stale", STALE
    except RoutingError as exc:
        return "failed", f"{key} cannot go to {label}: {exc}"
    if request.status == requests_store.DONE and request.target_key:
        return "done", f"{key} went to {label}: {request.target_key}."
    return "routing", f"Routing {key} to {label}…"


def _send_page_link(ctx: Context, card: Card, route: str, text: str) -> None:
    """Under the card: what the route asks for, with a button to the routing page of that route."""
    client = ctx.telegram
    if client is None:
        return
    try:
        url = f"{route_link_url(ctx.settings, card.tracker, card.issue_key)}?route={route}"
    except NoSecretKey:  # no signed links without HUB_SECRET_KEY: the answer says what is missing
        return
    client.send_message(
        card.chat_id,
        text,
        reply_to_message_id=card.telegram_message_id,
        reply_markup={"inline_keyboard": [[{"text": "Open the routing page", "url": url}]]},
    )


def tell_cards(ctx: Context, request: RouteRequest) -> int:
    """The issue's cards once the request ended: edited to say where it went (done), or, for a
    request made from a card, told under the card why it failed. How many cards were told; a chat
    that cannot be reached is logged, never a reason to redo the route."""
    done = request.status == requests_store.DONE and request.target_key
    if not done and request.via != VIA:
        return 0
    told = 0
    for card in staff_cards.for_issue(ctx.engine, request.source_tracker, request.source_key):
        try:
            _tell(ctx, card, request)
        except ChannelError as exc:
            log.warning("cards.route-untold card=%s request=%s error=%s", card.id, request.id, exc)
            continue
        told += 1
    return told


def _tell(ctx: Context, card: Card, request: RouteRequest) -> None:
    client, label = ctx.telegram, route_label(ctx, request.route)
    if client is None or card.telegram_message_id is None:
        return
    if request.status != requests_store.DONE or not request.target_key:
        reason = request.reason or "no reason given"
        text = f"Routing {card.issue_key} to {label} failed: {reason}"
        client.send_message(card.chat_id, text, reply_to_message_id=card.telegram_message_id)
        return
    by = request.requested_by if request.via == VIA else None
    text = team_cards.routed_text(
        team_cards.state_text(card.text, card.taken_name),
        label,
        request.target_key,
        request.target_url or "",
        by,
    )
    moved = ctx.config.routes.get(request.route) is None or ctx.config.routes[request.route].mode == "move"
    if moved:  # the source is closed: the card leads to the new issue
        buttons = {"inline_keyboard": [[{"text": f"Open {request.target_key}", "url": request.target_url}]]}
    else:
        buttons = card_buttons(ctx, card, taken=card.taken_by is not None)
    client.edit_message_text(card.chat_id, card.telegram_message_id, text, reply_markup=buttons)
