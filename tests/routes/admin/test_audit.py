"""The console's audit page and its CSV: searchable, admins only, and a stranger's "name" that looks
like a spreadsheet formula is exported as text."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from jobs.context import Context
from store import audit
from tests.routes.admin.conftest import csrf_of

FORMULA = '=HYPERLINK("http://evil.example")'


def test_the_audit_is_searchable_and_exported_as_csv(
    app: Flask, ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    stranger = app.test_client()
    token = csrf_of(stranger.get("/admin/login").text)
    stranger.post("/admin/login", data={"username": FORMULA, "password": "x", "csrf_token": token})
    admin = as_user("ada")

    page = admin.get("/admin/audit?action=login-failed")
    assert page.status_code == 200
    assert "=HYPERLINK(&#34;http://evil.example&#34;)" in page.text and "<td>ada</td>" not in page.text
    assert "<td>ada</td>" in admin.get("/admin/audit?q=ada").text
    odd = admin.get("/admin/audit?action=login-failed&_external=1&_scheme=http")
    assert odd.status_code == 200 and 'href="/admin/audit.csv?action=login-failed"' in odd.text

    export = admin.get("/admin/audit.csv?action=login-failed")
    assert export.mimetype == "text/csv" and "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["at", "actor", "action", "target", "outcome", "address"]
    assert [row[1:4] for row in rows[1:]] == [[f"'{FORMULA}", "login-failed", ""]]


def test_only_admins_read_the_audit(as_user: Callable[[str], FlaskClient], ctx: Context) -> None:
    audit.record(ctx.engine, "ada", "login", address="127.0.0.1")
    for name in ("cory", "vic"):
        client = as_user(name)
        assert client.get("/admin/audit").status_code == 403
        assert client.get("/admin/audit.csv").status_code == 403
