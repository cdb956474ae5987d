"""Configuration versions in the console: ``/admin/config/versions`` lists them (newest, the one in
force, first), ``/admin/config/versions/<id>`` shows one's text and what it changed (a unified diff
against the version before it, of the rule text and of each canned response file), and an admin
restores one: a new version with its text and canned responses, audited as ``config-restore``, which
every process picks up within seconds (``jobs.config_source``)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from flask import Blueprint, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from config.loading import ConfigError
from jobs.config_versions import VersionNotFound, canned_files, restore
from routes.admin.access import requires
from routes.admin.console import actor_address, page
from routes.state import hub
from store import audit
from store import config_versions as versions
from store.config_versions import StoredVersion

bp = Blueprint("config_versions", __name__)

PAGE_SIZE = 50


@bp.get("/config/versions")
@requires("viewer")
def index() -> ResponseReturnValue:
    """The versions, newest first, ``PAGE_SIZE`` a page (``?before=<id>`` for older ones)."""
    before = request.args.get("before", type=int)
    engine = hub().engine
    listed = versions.list_versions(engine, limit=PAGE_SIZE, before=before)
    older = listed[-1].id if len(listed) == PAGE_SIZE else None
    return page("config_versions.html", versions=listed, active=versions.active_id(engine), older=older)


@bp.get("/config/versions/<int:version_id>")
@requires("viewer")
def show(version_id: int) -> ResponseReturnValue:
    """One version's text and its diff against the version saved before it."""
    return _show(version_id)


@bp.post("/config/versions/<int:version_id>/restore")
@requires("admin")
def restore_version(version_id: int) -> ResponseReturnValue:
    """Put version ``version_id`` back in force as a new version; 400 with the errors when its text no
    longer validates (a setting it names is gone), and nothing changes."""
    state = hub()
    try:
        restored = restore(state.settings, state.engine, version_id, g.user.name)
    except VersionNotFound:
        raise NotFound() from None
    except ConfigError as exc:
        _audit(version_id, f"refused: {exc}")
        return _show(version_id, status=400, errors=str(exc))
    _audit(version_id, f"version {restored.id}")
    return redirect(url_for(".show", version_id=restored.id), code=303)


def saved(version_id: int, comment: str) -> ResponseReturnValue:
    """After a save (the editor's or the canned responses'): audited as ``config-save``, then the new
    version's page."""
    audit.record(
        hub().engine,
        g.user.name,
        "config-save",
        target=f"version {version_id}",
        outcome=comment,
        address=actor_address(),
    )
    return redirect(url_for("admin.config_versions.show", version_id=version_id), code=303)


def _audit(version_id: int, outcome: str) -> None:
    audit.record(
        hub().engine,
        g.user.name,
        "config-restore",
        target=str(version_id),
        outcome=outcome,
        address=actor_address(),
    )


def _show(version_id: int, status: int = 200, errors: str = "") -> ResponseReturnValue:
    engine = hub().engine
    version = versions.get_version(engine, version_id)
    if version is None:
        raise NotFound()
    previous = versions.previous_version(engine, version_id)
    return page(
        "config_version.html",
        status=status,
        version=version,
        previous=previous,
        active=versions.active_id(engine),
        diff=diff_lines(
            previous.text if previous else "", version.text, previous.id if previous else None, version.id
        ),
        canned_diff=_canned_diff(previous, version),
        errors=errors,
    )


def _canned_diff(previous: StoredVersion | None, version: StoredVersion) -> list[tuple[str, str]]:
    """What ``version`` changed in the canned responses, file by file (a version without its own, and the
    rule file before the first version, read the folder, as it is now); nothing when neither holds any."""
    if version.canned is None and (previous is None or previous.canned is None):
        return []
    old, new = _files(previous.canned if previous else None), _files(version.canned)
    lines: list[tuple[str, str]] = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            lines.extend(
                diff_text(
                    old.get(name, ""),
                    new.get(name, ""),
                    f"canned/{name}" if name in old else "(none)",
                    f"canned/{name}" if name in new else "(deleted)",
                )
            )
    return lines


def _files(canned: Mapping[str, str] | None) -> Mapping[str, str]:
    if canned is not None:
        return canned
    try:
        return canned_files(hub().settings, None)
    except ConfigError:
        return {}


def diff_lines(old: str, new: str, old_id: int | None, new_id: int) -> list[tuple[str, str]]:
    """A unified diff of ``old`` to ``new`` as (kind, line) pairs: ``add``, ``del``, ``hunk``, ``file`` or
    ``same``, for the page to style (the template escapes each line)."""
    return diff_text(old, new, f"version {old_id}" if old_id else "(none)", f"version {new_id}")


def diff_text(old: str, new: str, old_label: str, new_label: str) -> list[tuple[str, str]]:
    """A unified diff of ``old`` to ``new`` under those labels, as :func:`diff_lines` gives it."""
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, lineterm=""
    )
    return [("file" if index < 2 else _kind(line), line) for index, line in enumerate(lines)]


def _kind(line: str) -> str:
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "same")
