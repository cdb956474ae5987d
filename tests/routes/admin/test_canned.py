"""The console's canned responses: who may read and change them, the live validation (front matter, file
name, Jinja syntax, unknown variables, a key the rules name), the preview for an issue read from the Jira
look-alike, and saving or deleting one as a new configuration version (the rule text unchanged), audited
and shown in the version's diff."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from config.settings import Settings
from connector.types import IssueDraft, Target
from jobs.context import Context
from routes.admin.access import ROLE_RANK, required_role
from store import audit, config_versions
from tests.routes.admin.conftest import csrf_of, with_rule_file

RULES = """\
rules:
  - name: default
    target: {tracker: jira, project: SUP}
routes:
  to-dev: {target: {tracker: jira, project: DEV, issue_type: Task}, mode: spawn, customer_notice: routed}
"""
ROUTED = "---\ntitle: Routed\n---\nYour request {{ issue_key }} went to another team.\n"
FIXED = "---\ntitle: Fixed\ntags: [done]\n---\nHello {{ requester_name }}, {{ issue_key }} is fixed.\n"
FIXED_RU = "---\ntitle: Исправлено\n---\nЗдравствуйте! {{ issue_key }} исправлена.\n"


def with_canned_library(settings: Settings, folder: Path) -> Settings:
    """``settings`` with ``RULES`` as the rule file in ``folder`` and a ``canned/`` folder beside it."""
    canned = folder / "canned"
    canned.mkdir()
    for name, text in {"routed.en.md": ROUTED, "fixed.en.md": FIXED, "fixed.ru.md": FIXED_RU}.items():
        (canned / name).write_text(text, encoding="utf-8")
    return with_rule_file(settings, folder, RULES)


@pytest.fixture
def wired(wired: Settings, tmp_path: Path) -> Settings:
    """The console's settings: ``RULES`` with a ``canned/`` folder beside it."""
    return with_canned_library(wired, tmp_path)


def token_of(client: FlaskClient) -> str:
    return csrf_of(client.get("/admin/config/canned/").text)


def post_json(client: FlaskClient, path: str, body: dict[str, object]) -> TestResponse:
    return client.post(f"/admin/config/canned/{path}", json=body, headers={"X-CSRF-Token": token_of(client)})


def save(client: FlaskClient, **form: str) -> TestResponse:
    return client.post("/admin/config/canned/save", data={"csrf_token": token_of(client), **form})


def test_a_viewer_reads_the_library_and_an_entry_but_cannot_change_anything(
    as_user: Callable[[str], FlaskClient],
) -> None:
    viewer = as_user("vic")

    listing = viewer.get("/admin/config/canned/")
    rows = re.findall(r'<tr data-name="([^"]+)">', listing.text)
    assert listing.status_code == 200 and rows == ["fixed.en.md", "fixed.ru.md", "routed.en.md"]
    assert "Исправлено" in listing.text and "New canned response" not in listing.text
    entry = viewer.get("/admin/config/canned/fixed.en.md")
    assert entry.status_code == 200 and re.search(r"<textarea[^>]*readonly[^>]*>", entry.text)
    assert "{{ requester_name }}" in entry.text and "Save as a new version" not in entry.text
    assert viewer.get("/admin/config/canned/nothing.en.md").status_code == 404
    token = token_of(viewer)  # the logout form's: valid, yet the role is not
    headers = {"X-CSRF-Token": token}
    for path in ("validate", "preview"):
        assert viewer.post(f"/admin/config/canned/{path}", json={}, headers=headers).status_code == 403
    for path in ("save", "delete"):
        assert viewer.post(f"/admin/config/canned/{path}", data={"csrf_token": token}).status_code == 403
    assert viewer.get("/admin/config/canned/new").status_code == 403
    assert "менять их может только администратор" in viewer.get("/admin/config/canned/?lang=ru").text


def test_the_url_map_role_test_sees_every_canned_endpoint(app: Flask) -> None:
    # tests/routes/admin/test_console.py walks the URL map: these are in it, each with its role
    roles = {
        rule.endpoint: required_role(app.view_functions[rule.endpoint])
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin/config/canned")
    }
    assert roles == {
        "admin.canned.index": "viewer",
        "admin.canned.show": "viewer",
        "admin.canned.new": "admin",
        "admin.canned.validate": "admin",
        "admin.canned.preview": "admin",
        "admin.canned.save": "admin",
        "admin.canned.delete": "admin",
    }
    assert all(role in ROLE_RANK for role in roles.values())


def test_posts_without_the_form_token_are_refused(
    as_user: Callable[[str], FlaskClient], ctx: Context
) -> None:
    admin = as_user("ada")

    assert admin.post("/admin/config/canned/validate", json={"text": FIXED}).status_code == 403
    refused = admin.post(
        "/admin/config/canned/save",
        data={"key": "fixed", "lang": "en", "original": "fixed.en.md", "text": FIXED, "comment": "x"},
    )
    assert refused.status_code == 403
    assert admin.post("/admin/config/canned/delete", data={"name": "fixed.en.md"}).status_code == 403
    assert config_versions.list_versions(ctx.engine) == []


@pytest.mark.parametrize(
    ("key", "text", "expected", "line"),
    [
        ("fixed", "Hello without front matter", "no front matter", None),
        ("fixed", "---\ntitle: [unclosed\n---\nHi", "front matter is not YAML", None),
        ("fixed", "---\ntags: [x]\n---\nHi", "front matter has no title", None),
        (
            "fixed",
            "---\ntitle: T\n---\nline one\n{% if issue_key %}never closed\n",
            "template syntax error",
            5,
        ),
        ("fixed", "---\ntitle: T\n---\nHello {{ customer_name }}", "unknown variable 'customer_name'", None),
        ("Fixed!", FIXED, "file name is not <key>.<lang>.md", None),
        ("routed", ROUTED, "routed.en.md exists already", None),
    ],
)
def test_validation_names_what_is_wrong_with_an_entry(
    as_user: Callable[[str], FlaskClient], key: str, text: str, expected: str, line: int | None
) -> None:
    admin = as_user("ada")

    answer = post_json(admin, "validate", {"key": key, "lang": "en", "original": "fixed.en.md", "text": text})

    result = answer.get_json()
    assert answer.status_code == 200 and result["ok"] is False
    assert any(expected in error["message"] for error in result["errors"]), result["errors"]
    assert [error["line"] for error in result["errors"] if expected in error["message"]] == [line]


def test_a_valid_entry_validates_with_its_title(as_user: Callable[[str], FlaskClient]) -> None:
    admin = as_user("ada")
    text = FIXED.replace("title: Fixed", "title: Fixed at last")

    result = post_json(
        admin, "validate", {"key": "fixed", "lang": "en", "original": "fixed.en.md", "text": text}
    )

    assert result.get_json() == {"ok": True, "errors": [], "title": "Fixed at last"}


def test_a_save_is_a_new_version_with_the_same_rules_audited_and_its_diff_shows_the_canned_change(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")
    edited = FIXED.replace("is fixed.", "is fixed; <b>thanks</b> for waiting.")

    answer = save(admin, key="fixed", lang="en", original="fixed.en.md", text=edited, comment="warmer")

    (version,) = config_versions.list_versions(ctx.engine)
    assert answer.status_code == 303 and answer.location == f"/admin/config/versions/{version.id}"
    assert version.text == RULES and (version.author, version.comment) == ("ada", "warmer")
    assert version.canned == {"fixed.en.md": edited, "fixed.ru.md": FIXED_RU, "routed.en.md": ROUTED}
    (record,) = audit.search(ctx.engine, audit.AuditQuery(action="config-save"))
    assert (record.actor, record.target, record.outcome) == ("ada", f"version {version.id}", "warmer")
    page = admin.get(answer.location).text
    diff = re.search(r'<pre class="raw diff" id="canned-diff">(.*?)</pre>', page, re.DOTALL)
    assert diff is not None and "canned/fixed.en.md" in diff.group(1)
    assert "+Hello {{ requester_name }}, {{ issue_key }} is fixed; &lt;b&gt;thanks&lt;/b&gt;" in diff.group(1)
    assert "routed.en.md" not in diff.group(1)  # only what changed
    assert "thanks" in admin.get("/admin/config/canned/fixed.en.md").text  # the page opens on the version


def test_a_new_entry_is_added_and_an_invalid_one_stores_nothing(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")
    assert admin.get("/admin/config/canned/new?key=thanks&lang=de").status_code == 200

    refused = save(
        admin, key="thanks", lang="de", original="", text="---\ntitle: Danke\n---\n{{ nope }}", comment="x"
    )
    assert refused.status_code == 422 and "unknown variable &#39;nope&#39;" in refused.text
    assert config_versions.list_versions(ctx.engine) == []

    added = save(
        admin, key="thanks", lang="de", original="", text="---\ntitle: Danke\n---\nDanke!", comment="de"
    )
    assert added.status_code == 303
    version = config_versions.active_version(ctx.engine)
    assert version is not None and version.canned is not None
    assert sorted(version.canned) == ["fixed.en.md", "fixed.ru.md", "routed.en.md", "thanks.de.md"]


def test_deleting_an_entry_the_rules_name_is_refused_naming_the_key_and_another_is_deleted(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")

    refused = admin.post(
        "/admin/config/canned/delete",
        data={"name": "routed.en.md", "comment": "tidy", "csrf_token": token_of(admin)},
    )
    assert refused.status_code == 422
    assert "routes.to-dev: customer_notice: no canned response &#39;routed&#39;" in refused.text
    assert config_versions.list_versions(ctx.engine) == []

    deleted = admin.post(
        "/admin/config/canned/delete",
        data={"name": "fixed.ru.md", "comment": "no Russian", "csrf_token": token_of(admin)},
    )
    assert deleted.status_code == 303
    version = config_versions.active_version(ctx.engine)
    assert (
        version is not None
        and version.canned is not None
        and sorted(version.canned)
        == [
            "fixed.en.md",
            "routed.en.md",
        ]
    )
    assert "fixed.ru.md" not in admin.get("/admin/config/canned/").text


def test_the_preview_renders_the_edited_text_for_an_issue_read_from_the_tracker(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    key = (
        ctx.tracker("jira")
        .create_issue(IssueDraft(Target("jira", "SUP", "Task"), "Printer jam", "b", "k-1"))
        .key
    )
    admin = as_user("ada")
    text = "---\ntitle: Fixed\n---\n{{ issue_key }} ({{ summary }}) is fixed, {{ status }}."

    shown = post_json(
        admin,
        "preview",
        {"key": "fixed", "lang": "en", "original": "fixed.en.md", "text": text, "issue": key},
    ).get_json()
    missing = post_json(
        admin,
        "preview",
        {"key": "fixed", "lang": "en", "original": "fixed.en.md", "text": text, "issue": "SUP-999"},
    ).get_json()

    assert shown == {"ok": True, "text": f"{key} (Printer jam) is fixed, To Do."}
    assert missing["ok"] is False and missing["errors"]
    assert config_versions.list_versions(ctx.engine) == []  # a preview stores nothing


def test_saving_the_rules_in_the_editor_keeps_the_canned_responses_of_the_version_in_force(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")
    edited = FIXED.replace("is fixed.", "is fixed at last.")
    assert (
        save(admin, key="fixed", lang="en", original="fixed.en.md", text=edited, comment="c").status_code
        == 303
    )
    rules = RULES.replace("project: SUP}", "project: DEV}")

    answer = admin.post(
        "/admin/config/save", data={"text": rules, "comment": "to DEV", "csrf_token": token_of(admin)}
    )

    assert answer.status_code == 303
    version = config_versions.active_version(ctx.engine)
    assert version is not None and version.text == rules and version.canned is not None
    assert version.canned["fixed.en.md"] == edited


def test_the_canned_api_lists_the_library_of_the_version_in_force(
    app: Flask, ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")
    before = admin.get("/api/canned").get_json()
    assert [entry["key"] for entry in before["canned"]] == ["fixed", "routed"]  # the folder

    added = save(
        admin, key="thanks", lang="en", original="", text="---\ntitle: Thanks\n---\nThanks!", comment="c"
    )
    assert added.status_code == 303
    app.extensions["hub"].source.refresh()  # the look a process makes every 2 s

    after = admin.get("/api/canned").get_json()
    assert [(entry["key"], entry["title"]) for entry in after["canned"]] == [
        ("fixed", "Fixed"),
        ("routed", "Routed"),
        ("thanks", "Thanks"),
    ]


def test_the_list_shows_each_entrys_problem_and_the_files_that_are_no_entry(
    wired: Settings, as_user: Callable[[str], FlaskClient]
) -> None:
    folder = Path(wired.HUB_CONFIG).parent / "canned"
    (folder / "broken.en.md").write_text("no front matter here", encoding="utf-8")
    (folder / "Notes.md").write_text("---\ntitle: n\n---\nn", encoding="utf-8")

    listing = as_user("vic").get("/admin/config/canned/").text

    row = re.search(r'<tr data-name="broken.en.md">(.*?)</tr>', listing, re.DOTALL)
    assert row is not None and "no front matter" in row.group(1)
    stray = re.search(r'<ul id="stray">(.*?)</ul>', listing, re.DOTALL)
    assert stray is not None and "Notes.md: file name is not &lt;key&gt;.&lt;lang&gt;.md" in stray.group(1)
    assert "broken.en.md" not in stray.group(1)  # shown on its row, not twice


def test_the_list_reads_the_version_this_process_runs_on_and_a_newer_one_it_has_not_switched_to(
    app: Flask, as_user: Callable[[str], FlaskClient]
) -> None:
    # the page takes the library of the version in force from the process's config (validated when it
    # came into force) and validates only a version the process has not switched to yet
    admin = as_user("ada")
    assert (
        save(
            admin,
            key="fixed",
            lang="en",
            original="fixed.en.md",
            text=FIXED.replace("fixed.", "mended."),
            comment="one",
        ).status_code
        == 303
    )
    source = app.extensions["hub"].source
    assert source.refresh()  # the process switches to the saved version
    assert source.version().config.canned_files is not None

    listed = admin.get("/admin/config/canned/")
    assert listed.status_code == 200 and "Fixed" in listed.text and "routed.en.md" in listed.text
    assert "mended." in admin.get("/admin/config/canned/fixed.en.md").text

    edited = FIXED.replace("fixed.", "repaired.")
    assert (
        save(admin, key="fixed", lang="en", original="fixed.en.md", text=edited, comment="two").status_code
        == 303
    )
    # not switched yet (the source looks every 2 s): the newest version is still what the page shows
    assert "repaired." in admin.get("/admin/config/canned/fixed.en.md").text
    assert "mended." not in admin.get("/admin/config/canned/fixed.en.md").text
