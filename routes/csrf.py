"""Session-less CSRF tokens for the pages that change state without a login (the routing page).

A token is ``bound_to`` one thing (the signed link a page was opened by), signed with
``HUB_SECRET_KEY`` under a salt of its own (itsdangerous' ``URLSafeTimedSerializer``) and expires, so a
form posted from another site, or a token lifted from another link's page, is refused. No cookie and no
server-side session is needed: whoever can read the page may post it, which is what a signed link means.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeTimedSerializer

MAX_AGE = 12 * 3600  # seconds a page's form stays postable: a working day


class CsrfRefused(Exception):
    """The form's CSRF token is missing, forged, bound to something else or expired."""


def _digest(bound_to: str) -> str:
    return hashlib.sha256(bound_to.encode()).hexdigest()


def csrf_token(secret: str, salt: str, bound_to: str) -> str:
    """A token for a form about ``bound_to``."""
    return str(URLSafeTimedSerializer(secret, salt=salt).dumps(_digest(bound_to)))


def check_csrf(secret: str, salt: str, token: str | None, bound_to: str, max_age: int = MAX_AGE) -> None:
    """Nothing when ``token`` was made by :func:`csrf_token` for ``bound_to`` within ``max_age``
    seconds; :class:`CsrfRefused` otherwise."""
    if not token:
        raise CsrfRefused("the form has no CSRF token")
    try:
        value = URLSafeTimedSerializer(secret, salt=salt).loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired is one
        raise CsrfRefused("the form's CSRF token is not valid or has expired") from None
    if not isinstance(value, str) or not hmac.compare_digest(value, _digest(bound_to)):
        raise CsrfRefused("the form's CSRF token belongs to another page")
