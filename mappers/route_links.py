"""The signed "Route" link of an issue, pure: ``HUB_PUBLIC_URL/route/<token>``.

The token names the tracker instance and the issue key, signed with ``HUB_SECRET_KEY`` (itsdangerous'
``URLSafeTimedSerializer``, HMAC-SHA1 over the payload and a timestamp, salt ``route-link``), so only
the hub can make one and a reader can tell a tampered link from an expired one. Without
``HUB_SECRET_KEY`` the hub makes no links at all rather than sign with a guessable default.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from config.settings import Settings

SALT = "route-link"
DEFAULT_MAX_AGE = 30 * 24 * 3600  # seconds a link stays valid: a month, the life of a typical ticket


class RouteLinkError(ValueError):
    """A route link cannot be made or read."""


class NoSecretKey(RouteLinkError):
    """``HUB_SECRET_KEY`` is not set: route links are neither made nor accepted."""


class BadRouteLink(RouteLinkError):
    """The token was not made by this hub, or was altered."""


class ExpiredRouteLink(BadRouteLink):
    """The token is genuine but older than the accepted age."""


def _serializer(settings: Settings, salt: str = SALT) -> URLSafeTimedSerializer:
    secret = settings.secret("HUB_SECRET_KEY")
    if not secret:
        raise NoSecretKey("HUB_SECRET_KEY is not set; the hub signs no links without it")
    return URLSafeTimedSerializer(secret, salt=salt)


def signer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    """The hub's link signer for another kind of link (its own ``salt``, so tokens do not cross over);
    :class:`NoSecretKey` without ``HUB_SECRET_KEY``."""
    return _serializer(settings, salt)


def route_link_token(settings: Settings, tracker: str, issue_key: str) -> str:
    """The signed token naming ``issue_key`` of the tracker instance ``tracker``."""
    return str(_serializer(settings).dumps([tracker, issue_key]))


def route_link_url(settings: Settings, tracker: str, issue_key: str) -> str:
    """The routing page's URL for the issue; :class:`NoSecretKey` when the hub has no secret key."""
    return f"{settings.HUB_PUBLIC_URL}/route/{route_link_token(settings, tracker, issue_key)}"


def read_route_link(settings: Settings, token: str, max_age: int = DEFAULT_MAX_AGE) -> tuple[str, str]:
    """The ``(tracker, issue_key)`` a token names; :class:`ExpiredRouteLink` when it is older than
    ``max_age`` seconds, :class:`BadRouteLink` when it is not the hub's."""
    serializer = _serializer(settings)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise ExpiredRouteLink("the routing link has expired; open the issue's Route link again") from None
    except BadSignature:
        raise BadRouteLink("the routing link is not valid") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(part, str) and part for part in payload)
    ):
        raise BadRouteLink("the routing link is not valid")
    return payload[0], payload[1]
