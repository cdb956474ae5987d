"""Canned responses in the console (issue 16): ``/admin/config/canned/``.

Everyone in the console reads the canned library of the configuration in force (the version's files, or
the ``canned/`` folder beside the rule file while the version has none): each key by language with its
title and problems. An admin opens one, edits its text (front matter and the Jinja body) while the
page's script asks ``POST /admin/config/canned/validate`` (file name, front matter, Jinja syntax in the
sandbox, unknown variables, and the whole version with it: a key the rules name must stay), previews it
for an issue through the live tracker (``POST .../preview``, as ``trackerhub canned preview`` does), adds
a new one, or deletes one. ``POST .../save`` and ``POST .../delete`` store a new configuration version:
the rule text in force unchanged, the canned library changed; every process picks it up within seconds
(``jobs.config_source``), and the save is audited as ``config-save``.

The script endpoints take JSON and send the form token in the ``X-CSRF-Token`` header, as the editor's.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, NotFound

from config.canned import FILE_NAME
from config.loading import ConfigError
from config.settings import Settings
from jobs.config_versions import active_canned, active_text, canned_files, save_validated
from jobs.config_versions import validate as validate_version
from routes.admin.access import requires
from routes.admin.config_versions import saved
from routes.admin.console import page
from routes.admin.texts import UI
from routes.state import hub, job_context

if TYPE_CHECKING:
    from mappers.canned import CannedLibrary

T = TypeVar("T")

bp = Blueprint("canned", __name__, url_prefix="/config/canned")

COMMENT_LIMIT = 500
NEW_ENTRY = "---\ntitle: \ntags: []\n---\nHello {{ requester_name }},\n\n"
_LINE = re.compile(r"on line (\d+)")


@dataclass(frozen=True)
class Row:
    """One line of the list: a file of the library, its title and what is wrong with it."""

    name: str
    key: str
    language: str
    title: str
    problems: tuple[str, ...]


@bp.get("/")
@requires("viewer")
def index() -> ResponseReturnValue:
    """The library in force: keys by language, titles, problems, and the version's own errors."""
    from mappers.canned_files import entry_problems  # lazy: the Jinja sandbox

    files, problems = _in_force()
    library = _library(files)
    rows = [
        Row(entry.path.name, entry.key, entry.language, entry.title, tuple(entry_problems(entry)))
        for key in library.sorted_keys()
        for entry in sorted(library.entries[key].values(), key=lambda e: e.language)
    ]
    return page(
        "canned.html",
        rows=rows,
        stray=[error for error in library.errors if error.split(":", 1)[0] not in {row.name for row in rows}],
        problems=problems,
        editable=g.user.role == "admin",
    )


@bp.get("/new")
@requires("admin")
def new() -> ResponseReturnValue:
    """An empty entry for an admin to write (``?key=`` and ``?lang=`` prefill its name)."""
    key = request.args.get("key", "")[:100]
    language = request.args.get("lang", "")[:20]
    return _entry_page("", key, language, NEW_ENTRY)


@bp.get("/<name>")
@requires("viewer")
def show(name: str) -> ResponseReturnValue:
    """One entry's text (``<key>.<lang>.md``), editable by an admin; 404 when the library has none."""
    files, _problems = _in_force()
    match = FILE_NAME.match(name)
    if name not in files or match is None:
        raise NotFound()
    return _entry_page(name, match.group(1), match.group(2), files[name])


@bp.post("/validate")
@requires("admin")
def validate() -> ResponseReturnValue:
    """``{"key", "lang", "original", "text"}`` → ``{"ok", "errors": [{"message", "line"}], "title"}``:
    the entry on its own, then the version it would make."""
    edit = _edit(_json())
    _files, problems = _edited(edit)
    return jsonify({"ok": not problems, "errors": problems, "title": _title(edit)})


@bp.post("/preview")
@requires("admin")
def preview() -> ResponseReturnValue:
    """``{"key", "lang", "original", "text", "issue", "language"}`` → ``{"ok", "text"}`` rendered for that
    issue from the live tracker, as the customer would get it, or ``{"ok": false, "errors"}``. Reads the
    tracker; writes nothing."""
    from jobs.canned import PreviewFailed
    from jobs.canned import preview as render_preview
    from mappers.canned_files import library_from_files

    body = _json()
    edit = _edit(body)
    issue = str(body.get("issue") or "").strip().upper()[:100]
    language = str(body.get("language") or "").strip()[:20] or None
    if not issue:
        raise BadRequest("name an issue")
    files, problems = _edited(edit, whole=False)
    if problems:
        return jsonify({"ok": False, "errors": problems})
    try:
        text = render_preview(job_context(), library_from_files(files), edit.key, issue, language)
    except PreviewFailed as exc:
        return jsonify({"ok": False, "errors": [{"message": str(exc), "line": None}]})
    return jsonify({"ok": True, "text": text})


@bp.post("/save")
@requires("admin")
def save() -> ResponseReturnValue:
    """Store the library with this entry written (added, changed or renamed) as a new version; back to
    the entry with the errors (422) when the entry or the version it makes is not valid."""
    edit = _edit(request.form)
    comment = _comment()
    files, problems = _edited(edit)

    def again(errors: list[dict[str, Any]]) -> ResponseReturnValue:
        return _entry_page(edit.original, edit.key, edit.language, edit.text, comment, errors, 422)

    return again(problems) if problems else _store(files, comment, again)


@bp.post("/delete")
@requires("admin")
def delete() -> ResponseReturnValue:
    """Store the library without entry ``name`` as a new version; refused (422, the version's errors
    naming the key) when the rules still name it and no other language of it is left."""
    name = request.form.get("name", "")
    files, _problems = _in_force()
    if name not in files:
        raise NotFound()
    comment = _comment()
    match = FILE_NAME.match(name)
    key, language = (match.group(1), match.group(2)) if match else (name, "")
    left = {other: text for other, text in files.items() if other != name}

    def again(errors: list[dict[str, Any]]) -> ResponseReturnValue:
        return _entry_page(name, key, language, files[name], comment, errors, 422)

    return _store(left, comment, again)


# --- what the views share ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """An entry as the admin wrote it: its key and language (its file name), the file it was opened
    from (empty for a new one) and its text."""

    key: str
    language: str
    original: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.key}.{self.language}.md"


def _edit(source: Mapping[str, Any]) -> Edit:
    def text_of(field: str, limit: int) -> str:
        value = source.get(field) or ""
        if not isinstance(value, str):
            raise BadRequest(f"'{field}' must be a text")
        return value[:limit]

    return Edit(
        key=text_of("key", 100).strip(),
        language=text_of("lang", 20).strip().lower(),
        original=text_of("original", 200),
        text=text_of("text", 512 * 1024).replace("\r\n", "\n"),
    )


def _in_force() -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The canned files of the version in force (the folder's when it has none), and that version's
    errors as it stands (a broken file, a key the rules name that is missing)."""
    state = hub()
    try:
        files = _files_in_force()
        text = active_text(state.settings, state.engine)
    except ConfigError as exc:
        return {}, _problems(str(exc))
    problems = _remembered("problems", (text, files), lambda: _version_problems(state.settings, text, files))
    return files, list(problems)


def _version_problems(settings: Settings, text: str, files: dict[str, str]) -> list[dict[str, Any]]:
    try:
        validate_version(settings, text, files)
    except ConfigError as exc:
        return _problems(str(exc))
    return []


def _library(files: dict[str, str]) -> CannedLibrary:
    """The library of ``files``, parsed once while they stay the same."""
    from mappers.canned_files import library_from_files  # lazy: the Jinja sandbox

    return _remembered("library", (files,), lambda: library_from_files(files))


REMEMBERED = 8  # answers kept per kind and web process


def _remembered(kind: str, inputs: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, remembered by a digest of ``inputs`` (texts and name → text maps) in this app.

    Every list or entry page validated the whole version and parsed every template again, four pages at
    a time per web worker (+5 MiB of RSS in bench/console_memory.py); the answers depend only on these
    texts (and the process's settings), so a version is checked once per process until it changes (a
    catalogue file edited beside the rule file shows in the list once the version changes)."""
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode("utf-8", "surrogatepass")).hexdigest()
    memo: OrderedDict[str, Any] = current_app.extensions.setdefault(f"canned-{kind}", OrderedDict())
    with _MEMO_LOCK:
        if digest in memo:
            memo.move_to_end(digest)
            return cast(T, memo[digest])
    value = compute()
    with _MEMO_LOCK:
        memo[digest] = value
        while len(memo) > REMEMBERED:
            memo.popitem(last=False)
    return value


_MEMO_LOCK = threading.Lock()


def _files_in_force() -> dict[str, str]:
    """The canned files of the version in force; :class:`ConfigError` when the folder cannot be read."""
    state = hub()
    return canned_files(state.settings, active_canned(state.engine))


def _edited(edit: Edit, *, whole: bool = True) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The library with ``edit`` written, and its problems: the entry's own (file name, front matter,
    syntax, variables, a name taken), then (``whole``) the version's with it."""
    from mappers.canned_files import entry_problems, parse_entry

    try:
        files = _files_in_force()
    except ConfigError as exc:
        return {}, _problems(str(exc))
    entry = parse_entry(edit.name, edit.text)
    if isinstance(entry, str):
        return files, _problems(entry)
    problems = [{"message": problem, "line": _line(problem)} for problem in entry_problems(entry)]
    if edit.name != edit.original and edit.name in files:
        problems.append({"message": UI[g.lang]["canned"]["taken"].format(name=edit.name), "line": None})
    files = {name: text for name, text in files.items() if name != edit.original}
    files[edit.name] = edit.text
    if problems or not whole:
        return files, problems
    state = hub()
    try:
        validate_version(state.settings, active_text(state.settings, state.engine), files)
    except ConfigError as exc:
        return files, _problems(str(exc))
    return files, []


def _store(
    files: dict[str, str], comment: str, again: Callable[[list[dict[str, Any]]], ResponseReturnValue]
) -> ResponseReturnValue:
    """Save ``files`` with the rule text in force as the new version, audited; ``again(errors)`` when
    the version is refused."""
    state = hub()
    try:
        text = active_text(state.settings, state.engine)
        version = save_validated(state.settings, state.engine, text, g.user.name, comment, canned=files)
    except ConfigError as exc:
        return again(_problems(str(exc)))
    return saved(version.id, comment)


def _entry_page(
    original: str,
    key: str,
    language: str,
    text: str,
    comment: str = "",
    errors: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return page(
        "canned_entry.html",
        status=status,
        original=original,
        key=key,
        language=language,
        text=text,
        comment=comment,
        errors=errors or [],
        editable=g.user.role == "admin",
        comment_limit=COMMENT_LIMIT,
    )


def _title(edit: Edit) -> str:
    from mappers.canned_files import parse_entry

    entry = parse_entry(edit.name, edit.text)
    return "" if isinstance(entry, str) else entry.title


def _problems(text: str) -> list[dict[str, Any]]:
    return [{"message": line, "line": _line(line)} for line in text.splitlines() if line.strip()]


def _line(problem: str) -> int | None:
    found = _LINE.search(problem)
    return int(found.group(1)) if found else None


def _comment() -> str:
    return request.form.get("comment", "").strip()[:COMMENT_LIMIT]


def _json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("a JSON object was expected")
    return body
