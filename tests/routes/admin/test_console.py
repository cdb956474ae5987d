"""The console's door: off until an account exists, the login form and its session cookie, CSRF on
every POST, the login lockout, and a role check on every endpoint (enumerated from the URL map, so a new
page without one fails here)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from config.settings import Settings
from jobs.context import Context
from routes import create_app
from routes.admin.access import PUBLIC, ROLE_RANK, required_role
from routes.admin.sessions import SESSION_COOKIE
from store import accounts, audit
from tests.routes.admin.conftest import PASSWORDS, csrf_of, log_in


def test_the_console_is_off_until_an_account_exists(client: FlaskClient, ctx: Context) -> None:
    unknown = client.get("/no-such-page")
    for path in ("/admin/", "/admin/login", "/admin/messages"):
        off = client.get(path)
        assert off.status_code == 404
        assert off.json == unknown.json  # it looks like any unknown path
    accounts.add_user(ctx.engine, "ada", "admin", PASSWORDS["ada"])
    assert client.get("/admin/login").status_code == 200
    assert client.get("/admin/").status_code == 302  # on, and asks for a login


def test_a_login_starts_a_fresh_session_in_a_locked_down_cookie(
    client: FlaskClient, users: dict[str, accounts.User], ctx: Context
) -> None:
    client.set_cookie(SESSION_COOKIE, "planted-by-an-attacker", path="/admin")
    log_in(client, "ada")
    cookie = client.get_cookie(SESSION_COOKIE, path="/admin")
    assert cookie is not None and cookie.value != "planted-by-an-attacker"
    home = client.get("/admin/")
    assert home.status_code == 200 and "ada (admin)" in home.text

    stranger = create_app(ctx.settings).test_client()  # the planted id is worth nothing after the login
    stranger.set_cookie(SESSION_COOKIE, "planted-by-an-attacker", path="/admin")
    assert stranger.get("/admin/").status_code == 302

    client.post("/admin/logout", data={"csrf_token": csrf_of(home.text)})
    stranger.set_cookie(SESSION_COOKIE, cookie.value, path="/admin")  # a logged-out id is dead too
    assert stranger.get("/admin/").status_code == 302


def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(
    wired: Settings, users: dict[str, accounts.User]
) -> None:
    for public_url, secure in (("http://127.0.0.1:8080", False), ("https://hub.example.com", True)):
        client = create_app(wired.model_copy(update={"HUB_PUBLIC_URL": public_url})).test_client()
        form = client.get("/admin/login")
        answer = client.post(
            "/admin/login",
            data={"username": "vic", "password": PASSWORDS["vic"], "csrf_token": csrf_of(form.text)},
        )
        [header] = [h for h in answer.headers.getlist("Set-Cookie") if h.startswith(f"{SESSION_COOKIE}=")]
        flags = {part.strip().split("=")[0].lower(): part for part in header.split(";")}
        assert "httponly" in flags and flags["samesite"].strip() == "SameSite=Lax"
        assert flags["path"].strip() == "Path=/admin"
        assert ("secure" in flags) is secure


def test_a_wrong_password_is_refused_and_every_attempt_is_audited(
    client: FlaskClient, users: dict[str, accounts.User], ctx: Context
) -> None:
    form = client.get("/admin/login")
    wrong = client.post(
        "/admin/login", data={"username": "ada", "password": "guess", "csrf_token": csrf_of(form.text)}
    )
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    assert client.get_cookie(SESSION_COOKIE, path="/admin") is None
    log_in(client, "ada")
    lines = audit.search(ctx.engine, audit.AuditQuery())
    assert [(r.actor, r.action) for r in lines] == [("ada", "login"), ("ada", "login-failed")]
    assert lines[0].address == "127.0.0.1"


def test_a_login_form_without_its_token_is_refused(
    client: FlaskClient, users: dict[str, accounts.User]
) -> None:
    client.get("/admin/login")
    answer = client.post("/admin/login", data={"username": "ada", "password": PASSWORDS["ada"]})
    assert answer.status_code == 403
    assert client.get_cookie(SESSION_COOKIE, path="/admin") is None


def test_failed_logins_lock_the_name_out_at_that_address_even_for_the_right_password(
    wired: Settings, users: dict[str, accounts.User], ctx: Context
) -> None:
    app = create_app(wired.model_copy(update={"HUB_ADMIN_LOGIN_FAILURES": 3}))
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    token = csrf_of(stranger.get("/admin/login").text)

    def try_as_cory(password: str) -> TestResponse:
        return stranger.post(
            "/admin/login", data={"username": "cory", "password": password, "csrf_token": token}
        )

    for _ in range(3):
        assert try_as_cory("nope").status_code == 401
    locked = try_as_cory(PASSWORDS["cory"])
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert stranger.get_cookie(SESSION_COOKIE, path="/admin") is None
    for _ in range(20):  # a flood of refusals is audited once
        assert try_as_cory("nope").status_code == 429
    assert [e.actor for e in audit.search(ctx.engine, audit.AuditQuery(text="locked out"))] == ["cory"]

    # the stranger locked out only themselves: Cory at her own address, and another name, log in
    assert log_in(app.test_client(), "cory").get("/admin/").status_code == 200
    assert log_in(app.test_client(), "ada").get("/admin/").status_code == 200


def test_an_ipv6_host_counts_as_its_64_so_new_addresses_do_not_reset_the_count(
    wired: Settings, users: dict[str, accounts.User]
) -> None:
    app = create_app(wired.model_copy(update={"HUB_ADMIN_LOGIN_FAILURES": 3}))
    answers = []
    for host in range(5):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"2001:db8:1:2::{host + 1:x}"
        token = csrf_of(client.get("/admin/login").text)
        form = {"username": "cory", "password": "nope", "csrf_token": token}
        answers.append(client.post("/admin/login", data=form).status_code)
    assert answers == [401, 401, 401, 429, 429]


def test_a_login_waiting_for_another_ones_hash_is_told_to_come_back_not_held(
    wired: Settings, users: dict[str, accounts.User]
) -> None:
    app = create_app(wired.model_copy(update={"HUB_ADMIN_LOGIN_FAILURES": 1}))
    client = app.test_client()
    token = csrf_of(client.get("/admin/login").text)
    with accounts._ONE_HASH_AT_A_TIME:  # another thread of this process is hashing a login
        busy = client.post(
            "/admin/login", data={"username": "ada", "password": PASSWORDS["ada"], "csrf_token": token}
        )
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert log_in(client, "ada").get("/admin/").status_code == 200  # and the attempt was not counted


def test_every_console_endpoint_declares_a_role_and_a_viewer_is_refused_above_it(
    app: Flask, as_user: Callable[[str], FlaskClient]
) -> None:
    viewer = as_user("vic")
    anonymous = app.test_client()
    endpoints = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]
    assert len(endpoints) >= 9
    for rule in endpoints:
        role = required_role(app.view_functions[rule.endpoint])
        assert role in (PUBLIC, *ROLE_RANK), f"{rule.endpoint} declares no role"
        if role == PUBLIC:
            continue
        path = rule.rule.replace("<message_id>", "0" * 24).replace("<int:version_id>", "1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            refused = anonymous.open(path, method=method)
            assert refused.status_code in (302, 403), (rule.endpoint, method)
            if ROLE_RANK[role] > ROLE_RANK["viewer"]:
                assert viewer.open(path, method=method).status_code == 403, (rule.endpoint, method)


def test_a_view_without_a_role_is_refused(app: Flask, as_user: Callable[[str], FlaskClient]) -> None:
    admin = as_user("ada")
    app.view_functions["admin.auth.home"] = lambda: "a page that forgot its check"
    assert admin.get("/admin/").status_code == 403


def test_pages_speak_russian_by_accept_language_and_the_switch_sticks(
    as_user: Callable[[str], FlaskClient],
) -> None:
    client = as_user("vic")
    assert "Сообщения" in client.get("/admin/", headers={"Accept-Language": "ru-RU,ru;q=0.9"}).text
    assert "Messages" in client.get("/admin/", headers={"Accept-Language": "en"}).text
    client.get("/admin/?lang=ru")
    assert "Сообщения" in client.get("/admin/", headers={"Accept-Language": "en"}).text


def test_the_console_answers_503_without_its_secret(wired: Settings, users: dict[str, accounts.User]) -> None:
    client = create_app(wired.model_copy(update={"HUB_SECRET_KEY": None})).test_client()
    answer = client.get("/admin/login")
    assert answer.status_code == 503 and "HUB_SECRET_KEY" in answer.text


def test_the_login_returns_to_the_console_page_asked_for_and_never_elsewhere(
    client: FlaskClient, users: dict[str, accounts.User]
) -> None:
    asked = client.get("/admin/messages?status=failed")
    assert asked.status_code == 302
    form_url = asked.headers["Location"]
    assert form_url.startswith("/admin/login?next=")
    for next_path, lands in (
        ("/admin/messages?status=failed", "/admin/messages?status=failed"),
        ("//evil.example/admin/", "/admin/"),
        ("https://evil.example/admin/", "/admin/"),
        ("/admin/../hooks/email", "/admin/"),
    ):
        fresh = client.application.test_client()
        token = csrf_of(fresh.get("/admin/login").text)
        answer = fresh.post(
            "/admin/login",
            query_string={"next": next_path},
            data={"username": "vic", "password": PASSWORDS["vic"], "csrf_token": token},
        )
        assert answer.status_code == 303 and answer.headers["Location"] == lands, next_path
