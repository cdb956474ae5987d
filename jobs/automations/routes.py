"""The ``route`` action: the issue is routed by a route of the rule file, through the routing service
(``jobs.routing.api.submit``, as the routing page, the API and the CLI submit), so the routing job
carries it out with its own journal, steps and audit (``requested_by`` names the rule and the firing,
``via`` is ``automation``).

Exactly once: the firing's request is looked up first (by its route, issue and ``requested_by``), so a
firing run again after a crash between the submit and its saved progress gets the same request, never
a second route. A tracker that does not answer is "later" (the firing is retried under the circuit
breaker); a route the issue cannot take (not offered, a field the target requires that autofill cannot
fill, another route running for it) fails the firing with the routing service's reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from connector.errors import TrackerUnavailable
from jobs.automations.model import RouteAction
from jobs.routing import api
from jobs.routing.errors import RoutingError, TrackerDown
from store import routing as requests

if TYPE_CHECKING:
    from jobs.automations.actions import ActionRun

VIA = "automation"


def route_issue(run: ActionRun, action: RouteAction) -> dict[str, Any]:
    """Submit (or find submitted) the routing request of this firing; its id and status."""
    actor = f"automation {run.firing.rule} firing {run.firing.id}"
    request = requests.request_by(run.ctx.engine, action.route, run.firing.tracker, run.key, actor)
    if request is None:
        with as_firing_errors(f"route {action.route!r}"):
            request = api.submit(
                run.ctx, action.route, run.key, {}, actor=actor, via=VIA, tracker=run.firing.tracker
            )
    return {"route_request": request.id, "status": request.status}


@contextmanager
def as_firing_errors(what: str) -> Iterator[None]:
    """The routing service's errors as a firing's: a tracker that does not answer is "later"
    (``TrackerUnavailable``), a refusal fails the action (``ActionFailed``, naming ``what``)."""
    from jobs.automations.actions import ActionFailed  # actions imports this module

    try:
        yield
    except TrackerDown as exc:
        raise TrackerUnavailable(str(exc)) from None
    except RoutingError as exc:
        raise ActionFailed(f"{what}: {type(exc).__name__}: {exc}") from None
