"""The client address behind HUB_TRUSTED_PROXIES: X-Forwarded-For believed only from trusted peers."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from routes.client_ip import client_address, parse_address

PROXIES = (ip_network("10.0.0.0/8"), ip_network("2001:db8:1::/48"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        # no trusted proxies (the default): the peer, whatever the header says
        ("203.0.113.9", ["198.51.100.1"], (), "203.0.113.9"),
        # an untrusted peer's header is ignored even when trusted proxies are configured
        ("203.0.113.9", ["198.51.100.1"], PROXIES, "203.0.113.9"),
        # a trusted peer without a header is the client itself
        ("10.0.0.5", [], PROXIES, "10.0.0.5"),
        # a trusted proxy vouches for the hop it appended (the rightmost), not for what the client wrote
        ("10.0.0.5", ["6.6.6.6, 198.51.100.7"], PROXIES, "198.51.100.7"),
        # two trusted proxies in a row, and the header split over two lines
        ("10.0.0.5", ["6.6.6.6, 198.51.100.7", "10.9.9.9"], PROXIES, "198.51.100.7"),
        # every hop trusted: the leftmost one
        ("10.0.0.5", ["10.1.1.1, 10.2.2.2"], PROXIES, "10.1.1.1"),
        # garbage from a trusted proxy: stop at the last address we could read
        ("10.0.0.5", ["unknown"], PROXIES, "10.0.0.5"),
        ("10.0.0.5", ["198.51.100.7:4711"], PROXIES, "198.51.100.7"),
        # IPv6 peers and hops, bracketed with a port, and a dual-stack socket's IPv4-mapped peer
        ("2001:db8:1::2", ["[2001:db8:2::9]:443"], PROXIES, "2001:db8:2::9"),
        ("::ffff:10.0.0.5", ["198.51.100.7"], PROXIES, "198.51.100.7"),
        (None, ["198.51.100.7"], PROXIES, "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded_for: list[str], trusted: tuple, expected: str) -> None:
    assert client_address(peer, forwarded_for, trusted) == expected


@pytest.mark.parametrize("text", ["", "unknown", "1.2.3", "[::1", "::1]:80", "a:b:c"])
def test_parse_address_rejects_what_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None


def test_trusted_proxies_setting_is_a_comma_separated_list_checked_at_start() -> None:
    from pydantic import ValidationError

    from config.settings import Settings

    settings = Settings(HUB_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1 ,::1")  # type: ignore[arg-type]
    assert [str(n) for n in settings.HUB_TRUSTED_PROXIES] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    assert Settings().HUB_TRUSTED_PROXIES == ()
    with pytest.raises(ValidationError, match="HUB_TRUSTED_PROXIES"):
        Settings(HUB_TRUSTED_PROXIES="10.0.0.0/8, proxy.example")  # type: ignore[arg-type]
