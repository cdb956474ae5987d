"""Which URLs a tracker's credential may go to: its own origin only.

A URL found in a tracker's answer (a file's address) is data, not a place to send the token: a Kaiten
card can carry an external link as a "file", and fetching that with the session's token hands the token
to whoever owns the link. An origin is scheme, host and port (RFC 6454); a URL with user info, a
backslash or white space is refused outright, because parsers disagree on where such a URL's host is
(the WHATWG URL standard reads ``\\`` as ``/``, Python's ``urlsplit`` does not).
"""

from __future__ import annotations

from urllib.parse import SplitResult, urljoin, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def on_origin(url: str, origin: str) -> str | None:
    """``url`` (absolute, or relative to ``origin``) made absolute, if it is on ``origin``; else None."""
    if not url or any(ch == "\\" or ch.isspace() or ord(ch) < 0x20 for ch in url):
        return None
    absolute = urljoin(origin.rstrip("/") + "/", url)
    try:
        target, home = urlsplit(absolute), urlsplit(origin)
        same = _origin_of(target) == _origin_of(home)
    except ValueError:  # a port that is not a number, an unclosed IPv6 bracket
        return None
    if not same or "@" in target.netloc:
        return None
    return absolute


def _origin_of(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)
