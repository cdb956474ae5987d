"""A credential goes only to its own origin: which file addresses count as the tracker's own."""

from __future__ import annotations

import pytest

from connector.origins import on_origin

ORIGIN = "https://acme.kaiten.ru"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.kaiten.ru/files/1.pdf", "https://acme.kaiten.ru/files/1.pdf"),
        ("HTTPS://ACME.kaiten.ru:443/files/1.pdf", "https://ACME.kaiten.ru:443/files/1.pdf"),
        ("/files/1.pdf", "https://acme.kaiten.ru/files/1.pdf"),
        ("files/1.pdf", "https://acme.kaiten.ru/files/1.pdf"),
    ],
)
def test_addresses_on_the_origin_are_made_absolute(url: str, expected: str) -> None:
    assert on_origin(url, ORIGIN) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/files/1.pdf",  # another host
        "http://acme.kaiten.ru/files/1.pdf",  # the same host without TLS
        "https://acme.kaiten.ru:8443/files/1.pdf",  # another port
        "https://acme.kaiten.ru.evil.example/x",  # a look-alike host
        "//evil.example/files/1.pdf",  # scheme-relative: another host
        "https://acme.kaiten.ru@evil.example/x",  # user info: the host is evil.example
        "https://evil.example\\@acme.kaiten.ru/x",  # browsers read "\" as "/": the host is evil.example
        "https://acme.kaiten.ru/x y",  # white space, which parsers treat differently
        "https://acme.kaiten.ru:notaport/x",
        "file:///etc/passwd",
        "",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    assert on_origin(url, ORIGIN) is None
