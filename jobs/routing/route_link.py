"""The "Route" link the hub puts on every issue it creates: a Jira remote link or a Kaiten external link
to the issue's signed routing page (``mappers.route_links``), so a coordinator routes it with one
click. Upserted by its global id (Kaiten: by its URL), so a retried delivery adds it once."""

from __future__ import annotations

import logging

from connector.base import Tracker
from connector.errors import TrackerRejected, Unsupported
from connector.types import IssueRef
from jobs.context import Context
from mappers.route_links import NoSecretKey, route_link_url

log = logging.getLogger(__name__)

TITLE = "Route this issue to another team"


def add_route_link(ctx: Context, tracker: Tracker, ref: IssueRef) -> bool:
    """Link the new issue to its routing page; whether it was linked. Without ``HUB_SECRET_KEY`` there
    is no page to link to; a tracker that refuses remote links is logged, not retried: the issue and
    the customer's message matter more than the link. An outage raises, as the caller's other writes."""
    try:
        url = route_link_url(ctx.settings, ref.tracker, ref.key)
    except NoSecretKey:
        return False
    try:
        tracker.add_remote_link(ref.key, url, TITLE, global_id=f"hub-route-link-{ref.tracker}-{ref.key}")
    except (TrackerRejected, Unsupported) as exc:
        log.warning("route-link.refused tracker=%s key=%s error=%s", ref.tracker, ref.key, exc)
        return False
    return True
