"""Every exception a request can meet, mapped to one HTTP answer in one place.

Bodies follow DESIGN.md: ``{"error", "details"}`` for bad input. A sender's mistake is never a 500;
a journal that cannot be written answers 503, so the sender retries, and so does the public form when
its rate limit cannot be checked (routes/forms.py says why).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from config.logs import printable
from jobs.routing.errors import (
    PlanRefused,
    RouteBroken,
    RouteBusy,
    RouteNotOffered,
    RoutingError,
    TrackerDown,
    TrackerRefused,
    UnknownIssue,
    UnknownRoute,
)
from mappers.errors import AnomalousPayload, InvalidFields, PayloadTooLarge, UnsupportedEvent

log = logging.getLogger(__name__)
anomalous_log = logging.getLogger("hub.webhooks.anomalous")
unsupported_log = logging.getLogger("hub.webhooks.unsupported")


class AuthError(Exception):
    """A missing (401) or wrong (403) webhook secret."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(Exception):
    """Too many submissions from one address (429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests")
        self.retry_after = retry_after


class RateLimitUnavailable(Exception):
    """The public form's rate limit cannot be checked (Redis is down): 503, retry later, not journaled."""


# the routing service's refusals (jobs/routing/errors.py); PlanRefused is 422 with the fields named
ROUTING_STATUS: tuple[tuple[type[RoutingError], int], ...] = (
    (UnknownRoute, 404),
    (UnknownIssue, 404),
    (RouteNotOffered, 409),
    (RouteBusy, 409),
    (RouteBroken, 409),
    (TrackerRefused, 502),
    (TrackerDown, 503),
)


def routing_status(exc: RoutingError) -> int:
    """The HTTP status of a routing refusal (the API's JSON and the routing page's HTML agree)."""
    if isinstance(exc, PlanRefused):
        return 422
    return next((code for kind, code in ROUTING_STATUS if isinstance(exc, kind)), 400)


def error_response(
    status: int, error: str, details: object = None, headers: dict[str, str] | None = None
) -> tuple[Response, int, dict[str, str]]:
    """The JSON body every error answer has."""
    return jsonify({"error": error, "details": details if details is not None else {}}), status, headers or {}


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on the app."""

    @app.errorhandler(AuthError)
    def _auth(exc: AuthError) -> ResponseReturnValue:
        log.warning("hook.auth-failed status=%d reason=%s", exc.status, printable(str(exc)))
        return error_response(exc.status, str(exc))

    @app.errorhandler(AnomalousPayload)
    def _anomalous(exc: AnomalousPayload) -> ResponseReturnValue:
        anomalous_log.info("hook.anomalous reason=%s", printable(str(exc)))
        return error_response(400, str(exc), exc.details)

    @app.errorhandler(UnsupportedEvent)
    def _unsupported(exc: UnsupportedEvent) -> ResponseReturnValue:
        unsupported_log.info("hook.unsupported event=%s", printable(str(exc)))
        return jsonify({"status": "ignored", "reason": f"unsupported event: {exc}"}), 200

    @app.errorhandler(InvalidFields)
    def _invalid(exc: InvalidFields) -> ResponseReturnValue:
        return error_response(422, "invalid fields", exc.details)

    @app.errorhandler(PayloadTooLarge)
    def _too_large(exc: PayloadTooLarge) -> ResponseReturnValue:
        return error_response(413, str(exc) or "payload too large")

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large_werkzeug(exc: RequestEntityTooLarge) -> ResponseReturnValue:
        return error_response(413, "payload too large")

    @app.errorhandler(RateLimited)
    def _rate_limited(exc: RateLimited) -> ResponseReturnValue:
        return error_response(
            429, "too many requests, try again later", headers={"Retry-After": str(exc.retry_after)}
        )

    @app.errorhandler(RateLimitUnavailable)
    def _rate_limit_unavailable(exc: RateLimitUnavailable) -> ResponseReturnValue:
        log.warning("form.rate-limit-unavailable error=%s", exc)
        return error_response(
            503, "submissions cannot be checked right now; retry in a minute", headers={"Retry-After": "60"}
        )

    @app.errorhandler(RoutingError)
    def _routing(exc: RoutingError) -> ResponseReturnValue:
        if isinstance(exc, PlanRefused):
            return error_response(422, str(exc), exc.details())
        status = routing_status(exc)
        details = {"request": exc.request_id} if isinstance(exc, RouteBusy) else None
        headers = {"Retry-After": "60"} if status == 503 else None
        return error_response(status, str(exc), details, headers)

    @app.errorhandler(SQLAlchemyError)
    def _journal_down(exc: SQLAlchemyError) -> ResponseReturnValue:
        log.error("journal.unavailable error=%s", type(exc).__name__)
        return error_response(
            503, "the message journal is unavailable; retry later", headers={"Retry-After": "30"}
        )

    @app.errorhandler(RedisError)
    def _queue_down(exc: RedisError) -> ResponseReturnValue:
        log.error("queue.unavailable error=%s", type(exc).__name__)
        return error_response(503, "the queue is unavailable; retry later", headers={"Retry-After": "30"})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        return error_response(exc.code or 500, (exc.name or "error").lower(), exc.description or "")
