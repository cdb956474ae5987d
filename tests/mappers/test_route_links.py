"""The signed Route link: made and read back by the hub, refused when altered, expired or unsigned."""

from __future__ import annotations

import time

import pytest

from config.settings import Settings
from mappers.route_links import (
    BadRouteLink,
    ExpiredRouteLink,
    NoSecretKey,
    read_route_link,
    route_link_token,
    route_link_url,
)

SETTINGS = Settings(HUB_SECRET_KEY="s3cret-key-for-tests", HUB_PUBLIC_URL="https://hub.example.com")


def test_a_link_names_the_issue_and_reads_back() -> None:
    url = route_link_url(SETTINGS, "jira", "SUP-12")
    prefix = "https://hub.example.com/route/"
    assert url.startswith(prefix)
    assert read_route_link(SETTINGS, url.removeprefix(prefix), max_age=60) == ("jira", "SUP-12")


@pytest.mark.parametrize(
    "change", [lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1], lambda t: "x" + t]
)
def test_an_altered_link_is_refused(change: object) -> None:
    token = route_link_token(SETTINGS, "jira", "SUP-12")
    with pytest.raises(BadRouteLink):
        read_route_link(SETTINGS, change(token), max_age=60)  # type: ignore[operator]


def test_a_link_signed_with_another_key_is_refused() -> None:
    other = Settings(HUB_SECRET_KEY="another-key", HUB_PUBLIC_URL="https://hub.example.com")
    with pytest.raises(BadRouteLink):
        read_route_link(SETTINGS, route_link_token(other, "jira", "SUP-12"), max_age=60)


def test_an_old_link_is_refused_as_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    token = route_link_token(SETTINGS, "kaiten", "1001")
    later = time.time() + 3601
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(ExpiredRouteLink):
        read_route_link(SETTINGS, token, max_age=3600)


def test_without_a_secret_key_no_link_is_made_or_read() -> None:
    unset = Settings(HUB_PUBLIC_URL="https://hub.example.com")
    with pytest.raises(NoSecretKey):
        route_link_url(unset, "jira", "SUP-12")
    with pytest.raises(NoSecretKey):
        read_route_link(unset, route_link_token(SETTINGS, "jira", "SUP-12"), max_age=60)
