"""What the routing service refuses, in the hub's terms; routes/errors.py maps each to one HTTP answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the web app imports these errors; the planner loads only when a route is asked for
    from mappers.autofill import RoutePlan


class RoutingError(Exception):
    """Base of the routing service's refusals."""


class UnknownRoute(RoutingError):
    """No route by that id in the rule file (404)."""


class UnknownIssue(RoutingError):
    """The source issue does not exist, or the hub has no tracker it could be in (404)."""


class RouteNotOffered(RoutingError):
    """The route exists but is not offered for this issue (its tracker, project or type) (409)."""


class RouteBusy(RoutingError):
    """The issue is being routed by another route right now (409); ``request_id`` is that request."""

    def __init__(self, message: str, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class RouteBroken(RoutingError):
    """The route's target is not what the tracker has (a project, a type, a field): the admin's to fix
    (``trackerhub check`` names it) (409)."""


class TrackerRefused(RoutingError):
    """The tracker refused a read the service needed, with its own error (502)."""


class TrackerDown(RoutingError):
    """The tracker the preview or the request needs does not answer now; try again later (503)."""


class PlanRefused(RoutingError):
    """The plan cannot be carried out as it is (422): ``plan`` says which fields and why."""

    def __init__(self, plan: RoutePlan) -> None:
        self.plan = plan
        super().__init__(self.summary())

    def summary(self) -> str:
        parts = []
        if self.plan.missing:
            parts.append("missing required fields: " + ", ".join(spec.name for spec in self.plan.missing))
        if self.plan.errors:
            parts.append("invalid fields: " + "; ".join(str(error) for error in self.plan.errors))
        return "; ".join(parts) or "the plan is not ready"

    def details(self) -> dict[str, object]:
        """The fields named, for an API answer: the missing ones with their allowed values, the errors."""
        return {
            "missing": [
                {"id": spec.id, "name": spec.name, "allowed": [choice.name for choice in spec.allowed]}
                for spec in self.plan.missing
            ],
            "errors": [{"field": error.field, "message": error.message} for error in self.plan.errors],
        }


class MissingFields(PlanRefused):
    """Required target fields have no value: autofill cannot fill them and the requester gave none."""


class InvalidValues(PlanRefused):
    """A value (autofilled or given) does not fit its target field."""
