"""Configuration versions in the console: anyone signed in reads the list and each version's text and
diff (escaped), only an admin restores, with the form's token, and each restore is audited; a version
that no longer validates is not restored."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from jobs import config_versions as service
from jobs.context import Context
from store import audit
from store import config_versions as store
from store.config_versions import StoredVersion
from tests.routes.admin.conftest import csrf_of

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def saved(ctx: Context) -> tuple[StoredVersion, StoredVersion]:
    """Two versions of the shipped rule file: the second adds a comment line carrying a script tag."""
    text = ctx.settings.HUB_CONFIG.read_text(encoding="utf-8")
    first = service.save_validated(ctx.settings, ctx.engine, text, "ada", "as shipped")
    second = service.save_validated(ctx.settings, ctx.engine, f"# {SCRIPT}\n{text}", "cory", f"note {SCRIPT}")
    return first, second


def test_a_viewer_reads_the_list_and_a_version_with_its_diff_escaped(
    saved: tuple[StoredVersion, StoredVersion], as_user: Callable[[str], FlaskClient]
) -> None:
    first, second = saved
    viewer = as_user("vic")
    listing = viewer.get("/admin/config/versions")
    assert listing.status_code == 200
    assert f"#{first.id}" in listing.text and f"#{second.id}" in listing.text
    assert listing.text.index(f"#{second.id}") < listing.text.index(f"#{first.id}")  # newest first
    assert 'class="active"' in listing.text and "in force" in listing.text
    assert SCRIPT not in listing.text and "note &lt;script&gt;" in listing.text

    shown = viewer.get(f"/admin/config/versions/{second.id}")
    assert shown.status_code == 200
    assert SCRIPT not in shown.text
    assert '<span class="add">+# &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</span>' in shown.text
    assert f"Changes against version {first.id}" in shown.text
    assert "/restore" not in shown.text  # a viewer gets no restore form
    assert viewer.get(f"/admin/config/versions/{second.id + 5}").status_code == 404


def test_an_admin_restores_a_version_as_a_new_one_and_it_is_audited(
    ctx: Context, saved: tuple[StoredVersion, StoredVersion], as_user: Callable[[str], FlaskClient]
) -> None:
    first, _second = saved
    admin = as_user("ada")
    page = admin.get(f"/admin/config/versions/{first.id}")
    assert f"/admin/config/versions/{first.id}/restore" in page.text
    answer = admin.post(f"/admin/config/versions/{first.id}/restore", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    active = store.active_version(ctx.engine)
    assert active is not None and active.text == first.text and active.restored_from == first.id
    assert active.author == "ada"
    assert answer.headers["Location"].endswith(f"/admin/config/versions/{active.id}")
    [line] = audit.search(ctx.engine, audit.AuditQuery(action="config-restore"))
    assert (line.actor, line.target, line.outcome) == ("ada", str(first.id), f"version {active.id}")


def test_a_restore_by_a_viewer_or_a_coordinator_or_without_the_token_is_refused(
    ctx: Context, saved: tuple[StoredVersion, StoredVersion], as_user: Callable[[str], FlaskClient]
) -> None:
    first, second = saved
    path = f"/admin/config/versions/{first.id}/restore"
    for name in ("vic", "cory"):
        client = as_user(name)
        token = csrf_of(client.get("/admin/config/versions").text)  # the logout form's: valid for the session
        assert client.post(path, data={"csrf_token": token}).status_code == 403
    admin = as_user("ada")
    for data in ({}, {"csrf_token": "forged"}):
        answer = admin.post(path, data=data)
        assert answer.status_code == 403 and "did not come from this console" in answer.text
    assert store.active_version(ctx.engine) == second
    assert audit.search(ctx.engine, audit.AuditQuery(action="config-restore")) == []


def test_a_version_that_no_longer_validates_is_not_restored(
    ctx: Context, saved: tuple[StoredVersion, StoredVersion], as_user: Callable[[str], FlaskClient]
) -> None:
    _first, second = saved
    stale = store.save_version(
        ctx.engine, text="rules:\n  - name: stale\n    target: {tracker: jira}\n", author="x", comment=""
    )
    current = service.save_validated(ctx.settings, ctx.engine, second.text, "ada", "back")
    admin = as_user("ada")
    page = admin.get(f"/admin/config/versions/{stale.id}")
    answer = admin.post(f"/admin/config/versions/{stale.id}/restore", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 400
    assert "no longer validates" in answer.text and "target.project: Field required" in answer.text
    assert store.active_version(ctx.engine) == current
