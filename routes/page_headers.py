"""The headers of the hub's own HTML pages that carry credentials or a login (the routing page, the
admin console): nothing cached, no Referer, no indexing, no framing, no sniffing, and scripts only the
page's own (its nonce), so text a stranger wrote cannot run in them even where escaping were missed."""

from __future__ import annotations

from typing import TypeVar

from werkzeug.wrappers import Response

AnyResponse = TypeVar("AnyResponse", bound=Response)


def lock_down(response: AnyResponse, nonce: str, *, allow: str) -> AnyResponse:
    """Set the headers on ``response``; ``allow`` adds the page's own sources to the policy
    (``"connect-src 'self'"`` for a page that polls)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; {allow}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return response
