"""Dead letters in the console: ``/admin/dead-letters`` lists the failed messages with their reasons
(filterable like the Messages page, and by reason); a coordinator or an admin replays one, or all that
the filter shows. A replay takes the same path as ``trackerhub replay`` (``jobs.replay``), and each
one is recorded in the audit with who asked and what came of it."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask.typing import ResponseReturnValue

from routes.admin.access import requires
from routes.admin.console import actor_address, page
from routes.admin.filters import message_query
from routes.admin.messages import CHANNELS, summary
from routes.state import hub, job_context
from store import audit, journal

bp = Blueprint("dead_letters", __name__)

REPLAY_ALL_LIMIT = 1000  # dead letters one "replay all" takes; the rest stay for the next press


@bp.get("/dead-letters")
@requires("viewer")
def index() -> ResponseReturnValue:
    """The dead letters the filter asks for, newest first."""
    query = message_query(request.args, status=journal.FAILED)
    entries = journal.search(hub().engine, query, limit=REPLAY_ALL_LIMIT)
    return page(
        "dead_letters.html",
        entries=[(entry, summary(entry)) for entry in entries],
        channels=CHANNELS,
        args=request.args,
    )


@bp.post("/dead-letters/<message_id>/replay")
@requires("coordinator")
def replay_one(message_id: str) -> ResponseReturnValue:
    """Replay one dead letter."""
    return _replay([message_id[:32]])


@bp.post("/dead-letters/replay")
@requires("coordinator")
def replay_filtered() -> ResponseReturnValue:
    """Replay every dead letter the posted filter (the list's own) matches."""
    query = message_query(request.form, status=journal.FAILED)
    ids = [entry.id for entry in journal.search(hub().engine, query, limit=REPLAY_ALL_LIMIT)]
    return _replay(ids)


def _replay(message_ids: list[str]) -> ResponseReturnValue:
    from jobs.replay import replay_messages  # lazy: re-parsing loads the parsers, which most pages need not

    outcomes = replay_messages(job_context(), message_ids)
    state, address = hub(), actor_address()
    for message_id, outcome in outcomes:
        audit.record(state.engine, g.user.name, "replay", target=message_id, outcome=outcome, address=address)
    return page("replayed.html", outcomes=outcomes)
