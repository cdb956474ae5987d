"""The Flask app every tracker look-alike is built on, and what its views share.

What differs between the trackers stays with them and comes in as a parameter or a small hook: the
error body (``SandboxError.body``), how an injected fault answers (``FaultBook``'s ``answer``), the
store (``SqliteStore``'s class attributes), what ``/_sandbox/stats`` counts and what ``/_sandbox/reset``
forgets besides the data (``SandboxStateBase``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox import controls
from sandbox.controls import SandboxStateBase
from sandbox.server import guard_controls
from sandbox.store import close_request_db


class SandboxError(Exception):
    """An error answer: ``status``, extra ``headers`` and the tracker's own JSON ``body()``."""

    def __init__(self, status: int, *details: object, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, *details)
        self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def response(self) -> Response:
        resp = jsonify(self.body())
        resp.status_code = self.status
        resp.headers.update(self.headers)
        return resp


def json_body(invalid: Callable[[], Exception]) -> Any:
    """The request's JSON body (whatever its content type); ``invalid()`` is raised when it is not JSON."""
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise invalid()
    return body


def int_arg(
    name: str,
    default: int,
    low: int,
    high: int,
    *,
    parse: Callable[[str], int | None],
    invalid: Callable[[str], Exception],
) -> int:
    """Query parameter ``name`` clamped to ``low..high``; ``default`` when absent or empty."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    number = parse(raw)
    if number is None:
        raise invalid(name)
    return max(low, min(high, number))


def html_response(text: str, status: int, csp: str) -> Response:
    resp = Response(text, status=status, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = csp
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


_F = TypeVar("_F", bound=Callable[..., Any])


class ApiRoute:
    """``@api_route(rule, methods)``: serve a view under each of ``prefixes`` of ``blueprint``."""

    def __init__(self, blueprint: Blueprint, prefixes: Sequence[str]) -> None:
        self.blueprint = blueprint
        self.prefixes = tuple(prefixes)

    def __call__(self, rule: str, methods: Sequence[str] = ("GET",)) -> Callable[[_F], _F]:
        def register(view: _F) -> _F:
            for prefix in self.prefixes:
                self.blueprint.add_url_rule(
                    prefix + rule, endpoint=view.__name__, view_func=view, methods=list(methods)
                )
            return view

        return register


def sandbox_app(
    import_name: str,
    *,
    state: SandboxStateBase,
    blueprints: Sequence[Blueprint],
    control_token: str | None,
    max_content_length: int,
    before: Callable[[], Response | None],
    after: Callable[[Response], Response],
    http_error: Callable[[HTTPException], Response],
    unexpected: Callable[[Exception], Response],
) -> Flask:
    """A Flask app serving ``blueprints`` and the ``/_sandbox`` controls, with ``state`` under
    ``app.extensions[controls.STATE_KEY]``: one database connection per request, ``SandboxError``
    answered in its own shape, other HTTP errors by ``http_error`` and anything else by ``unexpected``;
    the controls answer only ``control_token``. Templates come from the ``templates`` folder beside
    ``import_name``'s module."""
    app = Flask(import_name)
    guard_controls(app, control_token)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = max_content_length
    app.extensions[controls.STATE_KEY] = state
    app.register_blueprint(controls.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.before_request(before)
    app.after_request(after)
    app.teardown_appcontext(close_request_db)
    app.register_error_handler(SandboxError, lambda exc: exc.response())
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)
    return app
