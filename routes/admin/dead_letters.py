"""Dead letters in the console: ``/admin/dead-letters`` lists the failed messages with their reasons
(filterable like the Messages page, and by reason); a coordinator or an admin replays one, or all that
the filter finds (the list shows 100 a page; "replay all" takes every one the filter finds, up to
1000 a press, in batches). A replay takes the same path as ``trackerhub replay`` (``jobs.replay``), and each
one is recorded in the audit with who asked and what came of it."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask.typing import ResponseReturnValue

from routes.admin.access import requires
from routes.admin.console import actor_address, page, paged
from routes.admin.filters import message_query
from routes.admin.messages import CHANNELS, summary
from routes.state import hub, job_context
from store import audit, journal, message_search

bp = Blueprint("dead_letters", __name__)

REPLAY_ALL_LIMIT = 1000  # dead letters one "replay all" takes; the rest stay for the next press
REPLAY_BATCH = 100  # dead letters re-read and requeued at a time by "replay all"


@bp.get("/dead-letters")
@requires("viewer")
def index() -> ResponseReturnValue:
    """The dead letters the filter asks for, newest first, a page at a time; "replay all" counts every
    one the filter finds (by id only: the rows' bodies are read for the shown page alone)."""
    query = message_query(request.args, status=journal.FAILED)
    engine = hub().engine
    entries, older_url = paged(lambda limit, offset: message_search.search(engine, query, limit, offset))
    return page(
        "dead_letters.html",
        entries=[(entry, summary(entry)) for entry in entries],
        older_url=older_url,
        found=len(message_search.search_ids(engine, query, REPLAY_ALL_LIMIT)) if entries else 0,
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
    """Replay every dead letter the posted filter (the list's own, all its pages) matches."""
    query = message_query(request.form, status=journal.FAILED)
    return _replay(message_search.search_ids(hub().engine, query, REPLAY_ALL_LIMIT))


def _replay(message_ids: list[str]) -> ResponseReturnValue:
    from jobs.replay import replay_messages  # lazy: re-parsing loads the parsers, which most pages need not

    state, address, context = hub(), actor_address(), job_context()
    outcomes: list[tuple[str, str]] = []
    for start in range(0, len(message_ids), REPLAY_BATCH):
        done = replay_messages(context, message_ids[start : start + REPLAY_BATCH])
        for message_id, outcome in done:
            audit.record(
                state.engine, g.user.name, "replay", target=message_id, outcome=outcome, address=address
            )
        outcomes += done
    return page("replayed.html", outcomes=outcomes)
