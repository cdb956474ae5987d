"""The routing page on the Flask test client, against the Jira look-alike in a thread, the real Redis and
the real database: the signed link, the offered routes, the preview, CSRF, the refused form, and the
redirect to the result page. The browser drives the same page in tests/e2e/test_routing_page.py."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from config.settings import Settings
from connector.types import IssueRef
from jobs.context import Context, build_context
from mappers.route_links import SALT, route_link_token
from routes import create_app
from routes.csrf import csrf_token
from routes.routing_page import CSRF_SALT
from sandbox.server import RunningSandbox
from store import routing
from store.db import route_requests
from tests.jobs.routing.conftest import create_source
from tests.sandboxes import CONTROL, run_jira

SECRET = "page-test-secret"
SPARE_PARTS = "customfield_10040"


@pytest.fixture
def jira(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "sandbox-jira.sqlite3") as running:
        yield running


@pytest.fixture
def wired(settings: Settings, jira: RunningSandbox) -> Settings:
    return settings.model_copy(update={"JIRA_URL": jira.url, "HUB_SECRET_KEY": SECRET})


@pytest.fixture
def ctx(wired: Settings) -> Context:
    return build_context(wired)


@pytest.fixture
def client(wired: Settings) -> FlaskClient:
    return create_app(wired).test_client()


@pytest.fixture
def source(ctx: Context) -> IssueRef:
    return create_source(ctx, summary="Printer <script>alert(1)</script> on fire")


@pytest.fixture
def link(wired: Settings, source: IssueRef) -> str:
    return f"/route/{route_link_token(wired, 'jira', source.key)}"


def request_rows(ctx: Context) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(route_requests)))


def writes(jira: RunningSandbox) -> dict[str, int]:
    """The look-alike's counted requests that change something (anything but GET)."""
    stats = requests.get(f"{jira.url}/_sandbox/stats", headers=CONTROL, timeout=10).json()
    return {name: count for name, count in stats["requests"].items() if not name.startswith("GET ")}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the preview has no CSRF token"
    return found.group(1)


def preview(client: FlaskClient, link: str, route: str = "hardware", **headers: str) -> Any:
    return client.get(f"{link}?route={route}", headers=headers)


# --- GET: the offered routes and the preview --------------------------------------------------------


def test_the_link_lists_the_routes_offered_for_the_issue(
    client: FlaskClient, link: str, source: IssueRef
) -> None:
    page = client.get(link, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert source.key in html
    for label in ("Hardware team", "Database team", "Order spare parts"):
        assert label in html
    assert f"{link}?route=hardware" in html
    assert "jira HW · moves the issue" in html
    assert "jira HW · creates a linked issue" in html  # parts-order, a spawn
    assert "Kaiten support queue" not in html  # no Kaiten in this deployment: not offered
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="viewport"' in html


def test_the_issue_s_text_is_escaped(client: FlaskClient, link: str) -> None:
    html = client.get(link).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_speaks_russian_to_a_russian_browser(client: FlaskClient, link: str) -> None:
    html = client.get(link, headers={"Accept-Language": "ru-RU,ru;q=0.9"}).get_data(as_text=True)
    assert 'lang="ru"' in html
    assert "Отдел оборудования" in html
    assert "Куда направить" in html


def test_the_preview_shows_each_value_its_origin_and_asks_only_the_missing_field(
    client: FlaskClient, link: str
) -> None:
    page = preview(client, link, **{"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rows = dict(re.findall(r'<td class="name">([^<]+)</td><td class="value">([^<]*)</td>', html))
    assert re.search(r'id="destination">jira HW Task · moves the issue<', html)
    assert rows["Summary"] == "Printer &lt;script&gt;alert(1)&lt;/script&gt; on fire"
    assert rows["Priority"] == "High"
    assert rows["Equipment model"] == "LaserJet 4250"
    assert rows["Component/s"] == "Printers"
    assert "copied from priority" in html
    assert "mapped LaserJet 4250→Printers" in html
    inputs = re.findall(r'name="(field:[^"]+)"', html)
    assert inputs == [f"field:{SPARE_PARTS}"]  # only the asked field, Spare parts
    assert "Spare parts" in html


DEV_BUG_ROUTE = """
rules:
  - {name: default, target: {tracker: jira, project: SUP}}
routes:
  bugs:
    label: {en: "Developers", ru: "Разработчики"}
    target: {tracker: jira, project: DEV, issue_type: Bug}
    mode: spawn
"""


def test_an_asked_field_with_allowed_values_is_a_select(
    wired: Settings, source: IssueRef, tmp_path: Path
) -> None:
    """DEV's Bug requires Severity, a select: the page offers its options, and a value not among them
    is refused with the form shown again."""
    (tmp_path / "rules.yaml").write_text(DEV_BUG_ROUTE, encoding="utf-8")
    client = create_app(wired.model_copy(update={"HUB_CONFIG": tmp_path / "rules.yaml"})).test_client()
    link = f"/route/{route_link_token(wired, 'jira', source.key)}"
    html = client.get(f"{link}?route=bugs").get_data(as_text=True)
    select = re.search(r'<select[^>]*name="field:customfield_10020"[^>]*>(.*?)</select>', html, re.S)
    assert select, html
    options = re.findall(r'<option value="([^"]*)"\s*>([^<]+)</option>', select.group(1))
    assert options[1:] == [("10100", "Critical"), ("10101", "Major"), ("10102", "Minor")]
    refused = client.post(
        link, data={"csrf_token": csrf_of(html), "route": "bugs", "field:customfield_10020": "Catastrophic"}
    )
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)


def test_get_never_routes(client: FlaskClient, link: str, ctx: Context, jira: RunningSandbox) -> None:
    """A mail scanner or prefetcher opening every link (and every route's preview) routes nothing."""
    before = writes(jira)
    for route in ("", "hardware", "database", "parts-order"):
        assert client.get(f"{link}?route={route}").status_code == 200
    assert client.head(f"{link}?route=hardware").status_code == 200
    assert request_rows(ctx) == []
    assert writes(jira) == before
    assert ctx.redis.keys("rq:job:route-*") == []


def test_an_unknown_route_is_a_clear_404_page(client: FlaskClient, link: str) -> None:
    page = preview(client, link, route="nowhere")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "no route &#39;nowhere&#39;" in page.get_data(as_text=True)


# --- the link -------------------------------------------------------------------------------------


def test_a_tampered_link_is_refused_with_a_clear_page(client: FlaskClient, link: str) -> None:
    token = link.rsplit("/", 1)[1]
    forged = URLSafeTimedSerializer("guessed", salt=SALT).dumps(["jira", "SUP-1"])
    flipped = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, flipped, "not-a-token"):
        for path in (f"/route/{bad}", f"/route/{bad}?route=hardware"):
            page = client.get(path, headers={"Accept-Language": "en"})
            assert page.status_code == 403, path
            assert page.mimetype == "text/html"
            assert "This routing link is not valid" in page.get_data(as_text=True)
    page = client.get(f"/route/{forged}", headers={"Accept-Language": "ru"})
    assert "Ссылка недействительна" in page.get_data(as_text=True)


class _MonthAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 31 * 24 * 3600


def test_an_expired_link_is_refused_with_a_clear_page(client: FlaskClient, source: IssueRef) -> None:
    """A genuine link signed 31 days ago (the signer's clock set back) is past its month."""
    old = URLSafeTimedSerializer(SECRET, salt=SALT, signer=_MonthAgo).dumps(["jira", source.key])
    page = client.get(f"/route/{old}", headers={"Accept-Language": "en"})
    assert page.status_code == 410
    assert "This routing link has expired" in page.get_data(as_text=True)
    page = client.post(f"/route/{old}", data={"route": "hardware"})
    assert page.status_code == 410


def test_without_a_secret_key_no_link_opens(settings: Settings, source: IssueRef, link: str) -> None:
    client = create_app(settings.model_copy(update={"HUB_SECRET_KEY": None})).test_client()
    page = client.get(link)
    assert page.status_code == 404
    assert "This hub makes no routing links" in page.get_data(as_text=True)


# --- POST: CSRF, the refused form, the redirect ---------------------------------------------------


def test_a_post_without_or_with_a_wrong_csrf_token_routes_nothing(
    client: FlaskClient, link: str, wired: Settings, ctx: Context, jira: RunningSandbox
) -> None:
    other = route_link_token(wired, "jira", "SUP-999")
    before = writes(jira)
    form = {"route": "hardware", f"field:{SPARE_PARTS}": "fuser kit"}
    for token in (
        None,
        "",
        "junk",
        csrf_token(SECRET, CSRF_SALT, other),
        csrf_token("x", CSRF_SALT, link[7:]),
    ):
        data = form if token is None else {**form, "csrf_token": token}
        page = client.post(link, data=data)
        assert page.status_code == 403, token
        assert "The form has expired or did not come from this page" in page.get_data(as_text=True)
    assert request_rows(ctx) == []
    assert writes(jira) == before


def test_a_missing_field_shows_the_form_again_with_it_marked(
    client: FlaskClient, link: str, ctx: Context
) -> None:
    csrf = csrf_of(preview(client, link).get_data(as_text=True))
    page = client.post(link, data={"csrf_token": csrf, "route": "hardware", f"field:{SPARE_PARTS}": "  "})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "Fill this in." in html
    assert 'aria-invalid="true"' in html
    assert re.findall(r'name="(field:[^"]+)"', html) == [f"field:{SPARE_PARTS}"]
    assert request_rows(ctx) == []


def test_an_invalid_value_shows_the_form_again_with_the_problem(
    client: FlaskClient, link: str, ctx: Context
) -> None:
    csrf = csrf_of(preview(client, link).get_data(as_text=True))
    data = {
        "csrf_token": csrf,
        "route": "hardware",
        f"field:{SPARE_PARTS}": "kit",
        "field:Flux capacitor": "1",
    }
    page = client.post(link, data=data)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "the target has no field &#39;Flux capacitor&#39;" in html
    assert 'value="kit"' in html  # what was typed stays
    assert request_rows(ctx) == []


def test_routing_redirects_to_a_result_page_that_polls_the_request(
    client: FlaskClient, link: str, ctx: Context, source: IssueRef
) -> None:
    csrf = csrf_of(preview(client, link).get_data(as_text=True))
    data = {"csrf_token": csrf, "route": "hardware", f"field:{SPARE_PARTS}": "fuser kit RM1-1082"}
    answer = client.post(link, data=data)
    assert answer.status_code == 303
    location = answer.headers["Location"]
    request_id = location.rsplit("/", 1)[1]
    assert location == f"{link}/requests/{request_id}"
    [row] = request_rows(ctx)
    assert (row.id, row.route, row.source_key, row.via) == (request_id, "hardware", source.key, "page")
    assert ctx.redis.exists(f"rq:job:route-{request_id}")

    again = client.post(link, data=data)  # a double click: the same request
    assert again.headers["Location"] == location
    assert len(request_rows(ctx)) == 1

    result = client.get(location, headers={"Accept-Language": "en"})
    assert result.status_code == 200
    html = result.get_data(as_text=True)
    assert "Waiting to start" in html
    assert "/status" in html  # the poll
    status = client.get(f"{location}/status").get_json()
    assert (status["id"], status["status"]) == (request_id, "queued")


def test_a_link_shows_only_its_own_issue_s_requests(
    client: FlaskClient, link: str, wired: Settings, ctx: Context
) -> None:
    csrf = csrf_of(preview(client, link).get_data(as_text=True))
    answer = client.post(link, data={"csrf_token": csrf, "route": "hardware", f"field:{SPARE_PARTS}": "kit"})
    request_id = answer.headers["Location"].rsplit("/", 1)[1]
    other = route_link_token(wired, "jira", create_source(ctx).key)
    assert client.get(f"/route/{other}/requests/{request_id}").status_code == 404
    assert client.get(f"/route/{other}/requests/{request_id}/status").status_code == 404
    assert client.get(f"{link}/requests/nope").status_code == 404


def routed(client: FlaskClient, link: str, spare_parts: str = "kit") -> str:
    """Route the link's issue by the hardware route through the page; the result page's path."""
    csrf = csrf_of(preview(client, link).get_data(as_text=True))
    answer = client.post(
        link, data={"csrf_token": csrf, "route": "hardware", f"field:{SPARE_PARTS}": spare_parts}
    )
    assert answer.status_code == 303
    return str(answer.headers["Location"])


def test_the_result_page_shows_the_new_key_once_done(client: FlaskClient, link: str, ctx: Context) -> None:
    location = routed(client, link)
    request_id = location.rsplit("/", 1)[1]
    routing.set_target(ctx.engine, request_id, "jira", "HW-7", "http://jira.example/browse/HW-7")
    routing.finish(ctx.engine, request_id, routing.DONE)
    html = client.get(location, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert re.search(
        r'Done\. The issue is now\s*<a id="target" href="http://jira\.example/browse/HW-7"[^>]*>HW-7</a>',
        html,
    )
    assert "/status" not in html  # finished: no more polling
    status = client.get(f"{location}/status").get_json()
    assert status["status"] == "done"
    assert status["target"] == {"tracker": "jira", "key": "HW-7", "url": "http://jira.example/browse/HW-7"}


def test_the_result_page_shows_the_tracker_s_reason_when_routing_failed(
    client: FlaskClient, link: str, ctx: Context
) -> None:
    location = routed(client, link)
    request_id = location.rsplit("/", 1)[1]
    routing.finish(ctx.engine, request_id, routing.FAILED, reason="HW refused: Spare parts <b>too long</b>")
    html = client.get(location, headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "Не удалось перенаправить:" in html
    assert '<span id="reason">HW refused: Spare parts &lt;b&gt;too long&lt;/b&gt;</span>' in html


def test_a_target_url_that_is_not_http_is_not_made_a_link(
    client: FlaskClient, link: str, ctx: Context
) -> None:
    location = routed(client, link)
    request_id = location.rsplit("/", 1)[1]
    routing.set_target(ctx.engine, request_id, "jira", "HW-8", "javascript:alert(1)")
    routing.finish(ctx.engine, request_id, routing.DONE)
    html = client.get(location).get_data(as_text=True)
    assert "javascript:" not in html
    assert '<strong id="target">HW-8</strong>' in html


def test_without_redis_the_page_says_to_try_later(wired: Settings, link: str) -> None:
    """A hub whose Redis is not configured cannot queue a routing: a clear 503 page, not a 500."""
    client = create_app(wired.model_copy(update={"REDIS_URL": None})).test_client()
    page = client.get(link, headers={"Accept-Language": "en"})
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "60"
    assert "Try again in a minute" in page.get_data(as_text=True)
