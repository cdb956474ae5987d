"""The console's audit page and its CSV: searchable, admins only, a value that looks like a spreadsheet
formula is exported as text, and what a stranger typed as a name is recorded only as a fingerprint."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from jobs.context import Context
from store import audit
from tests.routes.admin.conftest import csrf_of

FORMULA = '=HYPERLINK("http://evil.example")'


def test_the_audit_is_searchable_and_exported_as_csv(
    app: Flask, ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    audit.record(ctx.engine, "ada", "replay", target="m-1", outcome=FORMULA, address="127.0.0.1")
    admin = as_user("ada")

    page = admin.get("/admin/audit?action=replay")
    assert page.status_code == 200
    assert "=HYPERLINK(&#34;http://evil.example&#34;)" in page.text
    assert "<td>ada</td>" in admin.get("/admin/audit?q=ada").text
    odd = admin.get("/admin/audit?action=replay&_external=1&_scheme=http")
    assert odd.status_code == 200 and 'href="/admin/audit.csv?action=replay"' in odd.text

    export = admin.get("/admin/audit.csv?action=replay")
    assert export.mimetype == "text/csv" and "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["at", "actor", "action", "target", "outcome", "address"]
    assert [row[1:5] for row in rows[1:]] == [["ada", "replay", "m-1", f"'{FORMULA}"]]


def test_a_password_typed_as_the_name_reaches_neither_the_audit_nor_the_log(
    app: Flask, ctx: Context, as_user: Callable[[str], FlaskClient], caplog: pytest.LogCaptureFixture
) -> None:
    stranger = app.test_client()
    for name in ("Tr0ub4dor&3", "Tr0ub4dor&3", "ada"):
        token = csrf_of(stranger.get("/admin/login").text)
        stranger.post("/admin/login", data={"username": name, "password": "x", "csrf_token": token})

    lines = audit.search(ctx.engine, audit.AuditQuery(action="login-failed"))
    actors = [line.actor for line in reversed(lines)]
    assert actors[2] == "ada"  # an account's name is recorded as typed
    assert actors[0] == actors[1] and actors[0].startswith("unknown:")  # one guesser reads as one
    export = as_user("ada").get("/admin/audit.csv").text
    assert "Tr0ub4dor" not in export and "Tr0ub4dor" not in caplog.text


def test_only_admins_read_the_audit(as_user: Callable[[str], FlaskClient], ctx: Context) -> None:
    audit.record(ctx.engine, "ada", "login", address="127.0.0.1")
    for name in ("cory", "vic"):
        client = as_user(name)
        assert client.get("/admin/audit").status_code == 403
        assert client.get("/admin/audit.csv").status_code == 403
