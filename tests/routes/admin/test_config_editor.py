"""The configuration editor's endpoints: who may read and change, the live validation against the Jira
look-alike (errors naming the rule, the project and the line), the preview on journal messages (escaped),
and saving (nothing stored when invalid)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from config.loading import MAX_BYTES
from config.settings import Settings
from connector.types import IssueDraft, Target
from jobs.context import Context
from mappers.models import Sender
from store import audit, config_versions
from tests.jobs.conftest import journal_message
from tests.mappers.factories import email_message, telegram_message
from tests.routes.admin.conftest import csrf_of, with_rule_file

RULES = """\
texts:
  default_language: en
rules:
  - name: billing
    when: {keywords: [invoice]}
    target: {tracker: jira, project: SUP}
  - name: default
    target: {tracker: jira, project: SUP}
"""
TO_NOWHERE = RULES.replace("project: SUP}\n  - name: default", "project: NOPE}\n  - name: default")
TO_DEV = RULES.replace("project: SUP}\n  - name: default", "project: DEV}\n  - name: default")


@pytest.fixture
def wired(wired: Settings, tmp_path: Path) -> Settings:
    """The console's settings, the rule file a copy of ``RULES`` of the test's own."""
    return with_rule_file(wired, tmp_path, RULES)


def token_of(client: FlaskClient) -> str:
    return csrf_of(client.get("/admin/config/").text)


def post_json(
    client: FlaskClient, path: str, body: dict[str, object], token: str | None = None
) -> TestResponse:
    headers = {"X-CSRF-Token": token if token is not None else token_of(client)}
    return client.post(f"/admin/config/{path}", json=body, headers=headers)


def test_a_viewer_reads_the_configuration_but_cannot_validate_preview_or_save(
    as_user: Callable[[str], FlaskClient],
) -> None:
    viewer = as_user("vic")
    page = viewer.get("/admin/config/")

    assert page.status_code == 200
    assert re.search(r"<textarea[^>]*readonly", page.text)
    assert "name: billing" in page.text
    assert "Save as a new version" not in page.text
    russian = viewer.get("/admin/config/?lang=ru").text
    assert "менять её может только администратор" in russian and "Сохранить новой версией" not in russian
    token = csrf_of(page.text)  # the logout form's: valid, yet the role is not
    for path in ("validate", "preview"):
        assert post_json(viewer, path, {"text": RULES}, token).status_code == 403
    saved = viewer.post("/admin/config/save", data={"text": TO_DEV, "comment": "x", "csrf_token": token})
    assert saved.status_code == 403


def test_a_post_without_the_form_token_is_refused(as_user: Callable[[str], FlaskClient]) -> None:
    admin = as_user("ada")

    assert admin.post("/admin/config/validate", json={"text": RULES}).status_code == 403
    assert post_json(admin, "validate", {"text": RULES}, token="forged").status_code == 403


def test_a_rule_naming_a_project_the_tracker_lacks_is_reported_with_the_rule_and_its_line(
    as_user: Callable[[str], FlaskClient],
) -> None:
    admin = as_user("ada")

    answer = post_json(admin, "validate", {"text": TO_NOWHERE})

    result = answer.get_json()
    assert result["ok"] is False and result["live"] == "checked"
    (error,) = result["errors"]
    assert error["entry"] == "rules[0] 'billing'"
    assert "'NOPE'" in error["message"] and "SUP" in error["message"]  # and what exists instead
    assert error["line"] == 6  # the rule's target
    fixed = post_json(admin, "validate", {"text": TO_DEV}).get_json()
    assert fixed["ok"] is True and fixed["errors"] == [] and fixed["live"] == "checked"


def test_a_schema_error_names_the_rule_the_field_and_its_line_before_any_tracker_is_asked(
    as_user: Callable[[str], FlaskClient],
) -> None:
    admin = as_user("ada")
    typo = RULES.replace("keywords: [invoice]", "keywrods: [invoice]")

    result = post_json(admin, "validate", {"text": typo}).get_json()

    assert result["live"] == "skipped"
    (error,) = result["errors"]
    assert (error["entry"], error["field"], error["line"]) == ("rules[0] 'billing'", "when.keywrods", 5)
    broken = post_json(admin, "validate", {"text": "rules: [\n  - {name: x"}).get_json()
    assert broken["errors"][0]["message"].startswith("not valid YAML") and broken["errors"][0]["line"]


def test_the_preview_shows_which_journal_messages_change_project_with_customer_text_escaped(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    invoice = journal_message(ctx, email_message("Invoice <script>window.pwned=1</script>"))
    fire = journal_message(ctx, telegram_message("Printer is on fire", sender=Sender(name="<b>Ann</b>")))
    admin = as_user("ada")

    result = post_json(admin, "preview", {"text": TO_DEV}).get_json()

    assert (result["ok"], result["changed"], result["total"]) == (True, 1, 2)
    html = result["html"]
    rows = dict(re.findall(r'<tr class="(\w+)" data-message="(\w+)"', html))
    assert {message: kind for kind, message in rows.items()} == {invoice: "changed", fire: "same"}
    assert "jira/SUP" in html and "jira/DEV" in html
    assert "<script>" not in html and "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert "<b>Ann</b>" not in html and "&lt;b&gt;Ann&lt;/b&gt;" in html
    only_telegram = post_json(admin, "preview", {"text": TO_DEV, "channel": "telegram"}).get_json()
    assert (only_telegram["changed"], only_telegram["total"]) == (0, 1)


def test_the_preview_of_a_written_message_and_of_an_invalid_text(
    as_user: Callable[[str], FlaskClient],
) -> None:
    admin = as_user("ada")
    written = {
        "channel": "email",
        "sender": "eve@shop.example",
        "subject": "Invoice",
        "text": "Invoice again",
    }

    result = post_json(admin, "preview", {"text": TO_DEV, "message": written}).get_json()
    invalid = post_json(admin, "preview", {"text": "rules: []"}).get_json()

    assert (result["changed"], result["total"]) == (1, 1) and "jira/DEV" in result["html"]
    assert invalid["ok"] is False and invalid["errors"] and invalid["html"] == ""
    bugs = RULES.replace(
        "rules:\n", "rules:\n  - {name: bugs, when: {category: bug}, target: {tracker: jira, project: DEV}}\n"
    )
    form = {"channel": "form", "sender": "eve@shop.example", "subject": "Broken", "text": "It broke"}
    as_bug = post_json(admin, "preview", {"text": bugs, "message": {**form, "category": "bug"}}).get_json()
    as_question = post_json(
        admin, "preview", {"text": bugs, "message": {**form, "category": "question"}}
    ).get_json()
    assert (as_bug["changed"], as_question["changed"]) == (1, 0)
    assert "bugs · new issue" in as_bug["html"]


def test_an_invalid_save_stores_nothing_and_shows_the_error_under_the_editor(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")

    answer = admin.post(
        "/admin/config/save",
        data={"text": TO_NOWHERE, "comment": "billing to NOPE", "csrf_token": token_of(admin)},
    )

    assert answer.status_code == 422
    assert "rules[0] &#39;billing&#39;" in answer.text and "NOPE" in answer.text
    assert "billing to NOPE" in answer.text  # the comment is kept for the next try
    assert config_versions.list_versions(ctx.engine) == []
    assert [r.action for r in audit.search(ctx.engine, audit.AuditQuery(action="config-save"))] == []


def test_a_valid_save_is_the_new_version_in_force_with_its_author_and_comment_and_is_audited(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")
    token = token_of(admin)

    answer = admin.post(
        "/admin/config/save", data={"text": TO_DEV, "comment": "bills to DEV", "csrf_token": token}
    )

    (version,) = config_versions.list_versions(ctx.engine)
    assert answer.status_code == 303 and answer.location == f"/admin/config/versions/{version.id}"
    assert (version.text, version.author, version.comment) == (TO_DEV, "ada", "bills to DEV")
    (record,) = audit.search(ctx.engine, audit.AuditQuery(action="config-save"))
    assert (record.actor, record.target, record.outcome) == ("ada", f"version {version.id}", "bills to DEV")
    assert "project: DEV}" in admin.get("/admin/config/").text  # the editor opens on the version in force


def test_a_rule_file_near_the_size_limit_is_saved_from_the_editor(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    # a form field over Werkzeug's 500 KB default was refused with 413 although the rule file may be
    # 1 MiB; Cyrillic comments triple in a URL-encoded form
    admin = as_user("ada")
    padding = "# правила для команды поддержки, комментарий\n" * 9000
    text = padding + TO_DEV
    assert 500_000 < len(text.encode()) <= MAX_BYTES

    answer = admin.post(
        "/admin/config/save", data={"text": text, "comment": "big", "csrf_token": token_of(admin)}
    )

    assert answer.status_code == 303, answer.status_code
    (version,) = config_versions.list_versions(ctx.engine)
    assert version.text == text


def test_a_rule_text_over_the_limit_is_refused_with_the_limit_named(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    admin = as_user("ada")
    text = "# x\n" * (MAX_BYTES // 4 + 1) + TO_DEV

    answer = admin.post(
        "/admin/config/save", data={"text": text, "comment": "", "csrf_token": token_of(admin)}
    )

    assert answer.status_code in (413, 422)
    assert str(MAX_BYTES) in answer.text
    assert config_versions.list_versions(ctx.engine) == []


WITH_ROUTE_AND_AUTOMATION = (
    RULES
    + """\
routes:
  to-dev:
    label: To DEV
    target: {tracker: jira, project: DEV, issue_type: Task}
    mode: spawn
    fields:
      priority: {from: priority}
automations:
  - name: label-high
    trigger: {cron: "0 10 * * 1-5", timezone: Europe/Moscow}
    when: {not_done: true, priorities: [High]}
    actions:
      - {set: {labels: [swept]}}
"""
)


def test_a_route_and_an_automation_are_tried_on_the_tracker_under_both_configurations(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    tracker = ctx.tracker("jira")
    high, low = (
        tracker.create_issue(
            IssueDraft(Target("jira", "SUP", "Task"), f"Printer {p}", "b", f"k-{p}", priority=p)
        ).key
        for p in ("High", "Low")
    )
    admin = as_user("ada")

    route = post_json(admin, "dry-run", {"text": WITH_ROUTE_AND_AUTOMATION, "route": "to-dev", "issue": high})
    automation = post_json(admin, "dry-run", {"text": WITH_ROUTE_AND_AUTOMATION, "automation": "label-high"})

    routed = route.get_json()
    assert (routed["ok"], routed["changed"]) == (True, True)
    assert "no route &#39;to-dev&#39;" in routed["html"]  # not in the configuration in force
    assert (
        "→ jira/DEV (spawn)" in routed["html"] and "Priority: High (copied from priority)" in routed["html"]
    )
    fired = automation.get_json()
    assert (fired["ok"], fired["changed"]) == (True, True)
    assert "no automation &#39;label-high&#39;" in fired["html"]
    assert f"{high}  " in fired["html"] and low not in fired["html"]
    unchanged = post_json(admin, "dry-run", {"text": RULES, "automation": "label-high"}).get_json()
    assert unchanged["changed"] is False
