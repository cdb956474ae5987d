"""The configuration editor (issue 16): ``/admin/config/``.

Everyone in the console reads the configuration in force; an admin edits it. While the admin types, the
page's script asks ``POST /admin/config/validate`` (the schema, then ``trackerhub check`` against the
live trackers: ``jobs.config_validation``) and shows each error under the editor with its rule, field
and line. ``POST /admin/config/preview`` shows recent journal messages, or one the admin writes, under
the configuration in force and under the edited text side by side (``jobs.config_preview``), the rows
that would change marked. ``POST /admin/config/save`` validates again and stores a new version (author,
time, comment), which every process picks up without a restart; it is audited as ``config-save``.

Both script endpoints take JSON and send the form token in the ``X-CSRF-Token`` header (the console's
guard checks it as it checks a form's). Customer text reaches the page only through Jinja's escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest

from config.loading import ConfigError
from jobs.config_versions import active_canned, active_text, save_validated
from routes.admin.access import requires
from routes.admin.config_versions import saved
from routes.admin.console import page
from routes.admin.messages import CHANNELS
from routes.admin.texts import UI
from routes.state import hub, job_context

bp = Blueprint("config_editor", __name__, url_prefix="/config")

COMMENT_LIMIT = 500
CUSTOMER_CHANNELS = CHANNELS[:3]  # email, telegram, form: the messages rules decide


@bp.get("/")
@requires("viewer")
def editor() -> ResponseReturnValue:
    """The configuration in force, editable by an admin."""
    return _editor(_active_text())


@bp.post("/validate")
@requires("admin")
def validate() -> ResponseReturnValue:
    """``{"text"}`` → ``{"ok", "live", "errors": [{"message", "entry", "field", "line"}], "notes"}``."""
    from jobs.config_validation import validate as validate_text  # lazy: the check loads tracker clients

    text = _json_text(_json())
    return jsonify(validate_text(hub().settings, text, canned=_in_force_canned()).as_dict())


@bp.post("/preview")
@requires("admin")
def preview() -> ResponseReturnValue:
    """``{"text", "channel", "count"}`` (the journal's newest messages) or with ``"message": {"channel",
    "sender", "subject", "text", "category"}`` (one written) → ``{"ok", "errors", "html", "changed",
    "total"}``."""
    from jobs.config_preview import preview_journal, preview_written, written_message
    from jobs.config_validation import validate as validate_text
    from mappers.config_preview import count_changed

    body = _json()
    state = hub()
    checked = validate_text(state.settings, _json_text(body), live=False, canned=_in_force_canned())
    if checked.config is None:
        return jsonify({**checked.as_dict(), "html": "", "changed": 0, "total": 0})
    written = body.get("message")
    if isinstance(written, dict) and str(written.get("text") or "").strip():
        fields = {
            key: str(written.get(key) or "")[:20_000]
            for key in ("channel", "sender", "subject", "text", "category")
        }
        rows = preview_written(state.settings, state.config, checked.config, written_message(**fields))
    else:
        channel = str(body.get("channel") or "")
        rows = preview_journal(
            state.settings, state.engine, state.config, checked.config, channel, _count(body.get("count"))
        )
    html = render_template("admin/_config_preview.html", rows=rows, ui=UI[g.lang], lang=g.lang)
    return jsonify(
        {"ok": True, "errors": [], "html": html, "changed": count_changed(rows), "total": len(rows)}
    )


@bp.post("/dry-run")
@requires("admin")
def dry_run() -> ResponseReturnValue:
    """``{"text", "route", "issue"}`` (the route's autofill on that issue) or ``{"text", "automation"}``
    (the issues it would fire for now), under the configuration in force and the edited one →
    ``{"ok", "errors", "html", "changed"}``. Reads the trackers; writes nothing."""
    from jobs.config_dry_runs import automation_dry_runs, route_previews
    from jobs.config_validation import validate as validate_text

    body = _json()
    state = hub()
    checked = validate_text(state.settings, _json_text(body), live=False, canned=_in_force_canned())
    if checked.config is None:
        return jsonify({**checked.as_dict(), "html": "", "changed": False})
    route, issue = _field(body, "route"), _field(body, "issue").upper()
    automation = _field(body, "automation")
    if route and issue:
        what = f"{route} · {issue}"
        result = route_previews(job_context(), state.config, checked.config, route, issue)
    elif automation:
        what = automation
        result = automation_dry_runs(job_context(), state.config, checked.config, automation)
    else:
        raise BadRequest("name a route and an issue, or an automation")
    html = render_template("admin/_config_dry_run.html", what=what, result=result, ui=UI[g.lang])
    return jsonify({"ok": True, "errors": [], "html": html, "changed": result.changed})


@bp.post("/save")
@requires("admin")
def save() -> ResponseReturnValue:
    """Validate the posted text (schema always; the live check unless the admin saves despite an
    unreachable tracker) and store it as the new version; back to the editor with the errors when not."""
    from jobs.config_validation import SAVE_SECONDS
    from jobs.config_validation import validate as validate_text

    text = request.form.get("text", "").replace("\r\n", "\n")
    comment = request.form.get("comment", "").strip()[:COMMENT_LIMIT]
    state = hub()
    canned = _in_force_canned()
    live = not request.form.get("force")
    checked = validate_text(state.settings, text, live=live, wait=SAVE_SECONDS, canned=canned)
    if not checked.ok:
        problems = [problem.as_dict() for problem in checked.problems]
        if not problems:  # the schema passed, the trackers did not answer in time
            problems = [{"message": UI[g.lang]["editor"]["unanswered"].format(seconds=int(SAVE_SECONDS))}]
        return _editor(text, comment=comment, errors=problems, status=422)
    try:
        version = save_validated(state.settings, state.engine, text, g.user.name, comment, canned=canned)
    except ConfigError as exc:
        return _editor(text, comment=comment, errors=[{"message": str(exc)}], status=422)
    return saved(version.id, comment)


def _in_force_canned() -> Mapping[str, str] | None:
    """The canned library of the version in force: the one the rules are checked with, and the one a
    saved rule text keeps (the canned responses are edited on their own page)."""
    return active_canned(hub().engine)


def _active_text() -> str:
    """The text of the configuration in force: the newest version's, else the rule file's."""
    state = hub()
    try:
        return active_text(state.settings, state.engine)
    except ConfigError as exc:
        return f"# {exc}\n"


def _editor(
    text: str, *, comment: str = "", errors: list[dict[str, Any]] | None = None, status: int = 200
) -> ResponseReturnValue:
    config = hub().config
    return page(
        "config_editor.html",
        status=status,
        text=text,
        comment=comment,
        errors=errors or [],
        channels=CUSTOMER_CHANNELS,
        editable=g.user.role == "admin",
        route_names=list(config.routes),
        automation_names=[automation.name for automation in config.automations],
        comment_limit=COMMENT_LIMIT,
    )


def _json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("a JSON object was expected")
    return body


def _json_text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str):
        raise BadRequest("'text' must be the configuration's text")
    return text.replace("\r\n", "\n")


def _field(body: dict[str, Any], name: str) -> str:
    return str(body.get(name) or "").strip()[:200]


def _count(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 20
