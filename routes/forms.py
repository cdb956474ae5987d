"""Web forms: ``GET /forms/<form>`` serves the page, ``POST /hooks/forms/<form>`` takes a submission.

Forms are public, so: a honeypot field (a filled one is answered like success and journaled as ignored),
a per-IP rate limit kept in Redis, size limits, and a submission id from the page for dedupe. JSON,
urlencoded and multipart bodies are accepted; a browser without JavaScript gets an HTML answer.

The per-IP limit fails closed: when Redis cannot count, the submission is answered 503 with
``Retry-After`` and not journaled (the page asks the sender to try again in a minute). DESIGN.md keeps
503 for a journal that cannot be written; here the journal could take the message, but a public
endpoint whose only abuse limit cannot be checked must not take unlimited submissions, and a sender
retrying later loses nothing, whereas a 429 would wrongly tell them they sent too much.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from config.rules import Form
from jobs.intake import accept, received_now
from jobs.queues import run_script
from mappers.errors import AnomalousPayload, InvalidFields, PayloadTooLarge
from mappers.form import UploadedFile, is_spam, parse_submission
from routes.answers import answer_body, read_body
from routes.client_ip import client_address
from routes.errors import RateLimited, RateLimitUnavailable
from routes.i18n import localize, request_language
from routes.state import hub
from store import journal

bp = Blueprint("forms", __name__, template_folder="templates")


def _form(name: str) -> Form:
    form = hub().config.forms.get(name)
    if form is None:
        abort(404, description=f"no form named {name!r}")
    return form


@bp.get("/forms/<name>")
def show_form(name: str) -> ResponseReturnValue:
    """The accessible, mobile-friendly form page."""
    form = _form(name)
    language = request_language()
    html = render_template(
        "form.html",
        form=form,
        name=name,
        lang=language,
        t=lambda text: localize(text, language),
        submission_id=secrets.token_urlsafe(16),
        ui=UI[language],
    )
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.route("/hooks/forms/<name>", methods=["OPTIONS"])
def preflight(name: str) -> ResponseReturnValue:
    """CORS preflight, so a form on the team's own site can post here."""
    return Response(status=204)


@bp.post("/hooks/forms/<name>")
def receive_form(name: str) -> ResponseReturnValue:
    """Validate, journal and enqueue one submission."""
    state = hub()
    form = _form(name)
    forwarded_for = request.headers.getlist("X-Forwarded-For")
    _check_rate(client_address(request.remote_addr, forwarded_for, state.settings.HUB_TRUSTED_PROXIES))
    values, files = _read_submission(state.settings.HUB_MAX_FORM_BYTES)
    if is_spam(form, values):
        return _respond(name, {"id": _swallow_spam(name, form, values, files), "status": "queued"}, 202)
    message = parse_submission(name, form, values, files, received_at=received_now())
    result = accept(state.engine, state.redis, message)
    return _respond(name, *answer_body(result))


@bp.after_request
def allow_cross_origin(response: Response) -> Response:
    """Forms and their status are public: let any site's page post and poll."""
    if request.path.startswith("/hooks/forms/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    return response


def _respond(name: str, body: dict[str, object], status: int) -> ResponseReturnValue:
    if _wants_html():
        language = request_language()
        html = render_template("sent.html", name=name, id=body["id"], lang=language, ui=UI[language])
        return Response(html, status=status, mimetype="text/html")
    return jsonify(body), status


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.mimetype != "application/json"


def _read_submission(limit: int) -> tuple[dict[str, Any], list[UploadedFile]]:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"submission over {limit} bytes")
    request.max_content_length = limit  # a chunked body (no Content-Length) is cut off here with a 413
    if request.mimetype == "application/json":
        raw = read_body(limit)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder's stack
            raise AnomalousPayload("body is not JSON") from None
        if not isinstance(data, dict):
            raise AnomalousPayload("expected a JSON object of field values")
        return data, []
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values: dict[str, Any] = {}
        for key in request.form:
            items = request.form.getlist(key)
            values[key] = items[0] if len(items) == 1 else items
        files = [
            UploadedFile(f.filename or "attachment", f.mimetype or "application/octet-stream", f.read())
            for key in request.files
            for f in request.files.getlist(key)
            if f.filename
        ]
        return values, files
    raise AnomalousPayload(
        "unsupported content type",
        {"content_type": "use application/json, application/x-www-form-urlencoded or multipart/form-data"},
    )


def _swallow_spam(name: str, form: Form, values: dict[str, Any], files: list[UploadedFile]) -> str:
    """Journal a honeypot hit as ignored (a person's autofill can trip it); answer like success."""
    state = hub()
    try:
        message = parse_submission(
            name, form, _without(values, form.honeypot), files, received_at=received_now()
        )
    except InvalidFields:
        return journal.new_message_id()
    return accept(
        state.engine, state.redis, message, status=journal.IGNORED, reason="honeypot field filled"
    ).id


def _without(values: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != key}


# One submission counted in its address's minute (the window key expires after two minutes): INCR and
# EXPIRE as one script, one command for Redis to answer, where a MULTI/EXEC pipeline of the two sent four
# and parsed four replies on every submission.
_COUNT_LUA = """
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return count
"""


def _check_rate(address: str) -> None:
    """At most ``HUB_FORM_RATE_PER_MINUTE`` submissions per address per minute; without Redis, none."""
    state = hub()
    if state.redis is None:
        raise RateLimitUnavailable("REDIS_URL is not set")
    window = int(time.time() // 60)
    key = f"hub:form-rate:{address}:{window}"
    try:
        count = int(run_script(state.redis, _COUNT_LUA, (key,), ("120",)))
    except RedisError as exc:
        raise RateLimitUnavailable(type(exc).__name__) from None
    if count > state.settings.HUB_FORM_RATE_PER_MINUTE:
        raise RateLimited(retry_after=60 - int(time.time()) % 60)


UI = {
    "en": {
        "send": "Send",
        "sending": "Sending…",
        "required": "required",
        "choose": "Choose…",
        "received": "Thank you! Your message is received.",
        "key": "Your request number is",
        "by_email": "We will send the request number to your e-mail shortly.",
        "error": "Please check the highlighted fields.",
        "failed": "Sorry, the message could not be sent. Please try again in a minute.",
        "status": "Status",
    },
    "ru": {
        "send": "Отправить",
        "sending": "Отправляем…",
        "required": "обязательно",
        "choose": "Выберите…",
        "received": "Спасибо! Сообщение получено.",
        "key": "Номер вашего обращения:",
        "by_email": "Номер обращения скоро придёт вам на почту.",
        "error": "Проверьте отмеченные поля.",
        "failed": "Не удалось отправить сообщение. Попробуйте через минуту.",
        "status": "Статус",
    },
}
