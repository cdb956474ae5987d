"""The console's sessions, their cookie, CSRF tokens and the login rate limit, all kept in Redis.

- **A session** is a random 256-bit id in an HttpOnly, SameSite=Lax cookie scoped to ``/admin``; Redis
  keeps only the id's SHA-256 with the user's id, for ``HUB_ADMIN_SESSION_HOURS``. A login always makes
  a new id (a session id planted before the login is worth nothing after it), a logout deletes it.
  Lax, not Strict: a console link followed from the tracker or a mail opens logged in; every state
  change is a POST, which Lax does not send cross-site, and carries a CSRF token besides.
- **Secure** is set when ``HUB_PUBLIC_URL`` is https, the production case behind TLS. The sandbox and
  ``make run`` serve plain http on 127.0.0.1, where a browser would never send a Secure cookie back,
  so there the flag is off (the session id still never leaves the machine).
- **CSRF**: a synchronizer token bound to the session (``routes.csrf``, signed with
  ``HUB_SECRET_KEY``, its own salt, expiring), in a hidden field of every form; every POST is checked
  before its view runs. The login form, before any session, binds its token to a random pre-login
  cookie instead (a signed double submit). This reuses the routing page's signed tokens rather than
  adding Flask-WTF, whose tokens live in Flask's client-side session, which a logout cannot revoke.
- **The login rate limit** counts logins per user name at a client address, and per address (an IPv6
  address by its /64, which one host has to itself), in Redis for ``HUB_ADMIN_LOCKOUT_MINUTES``; past
  ``HUB_ADMIN_LOGIN_FAILURES`` for a name at an address (four times that for an address), further
  logins from there are refused without looking at the password, until the window ends. An attempt is
  counted before its password is checked, so requests in flight at once cannot slip past the limit; a
  success forgives it. The lock is per name *and* address: a stranger failing as ``ada`` from their
  address locks out their address, never Ada at hers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass

from redis import Redis
from werkzeug.wrappers import Response

from config.settings import Settings
from routes.csrf import CsrfRefused, check_csrf, csrf_token

SESSION_COOKIE = "hub_admin"
LOGIN_COOKIE = "hub_admin_login"  # the pre-login nonce the login form's CSRF token is bound to
LANG_COOKIE = "hub_admin_lang"
COOKIE_PATH = "/admin"
CSRF_SALT = "admin-csrf"
KEY_PREFIX = "hub:admin"
ADDRESS_FACTOR = 4  # an address may fail this many times the per-name limit (an office behind one NAT)


@dataclass(frozen=True)
class Lockout:
    """A login refused by the rate limit, and the seconds until it may be tried again."""

    retry_after: int


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _session_key(session_id: str) -> str:
    return f"{KEY_PREFIX}:session:{_digest(session_id)}"


def start_session(redis: Redis, settings: Settings, user_id: int) -> str:
    """A new session for ``user_id``; its id (for the cookie)."""
    session_id = secrets.token_urlsafe(32)
    redis.set(_session_key(session_id), str(user_id), ex=settings.HUB_ADMIN_SESSION_HOURS * 3600)
    return session_id


def session_user(redis: Redis, session_id: str | None) -> int | None:
    """The user id of a live session, None for no, an unknown or an ended session."""
    if not session_id:
        return None
    value = redis.get(_session_key(session_id))
    return int(value) if value is not None and value.isdigit() else None


def end_session(redis: Redis, session_id: str | None) -> None:
    """Forget a session (a logout, or the session a login replaces)."""
    if session_id:
        redis.delete(_session_key(session_id))


def set_cookie(
    response: Response, settings: Settings, name: str, value: str, max_age: int | None = None
) -> None:
    """A console cookie: HttpOnly, SameSite=Lax, path /admin, Secure when the hub is served over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=settings.HUB_PUBLIC_URL.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        secure=settings.HUB_PUBLIC_URL.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )


def form_token(secret: str, bound_to: str) -> str:
    """The CSRF token of a form shown to the holder of ``bound_to`` (a session id, a login nonce)."""
    return csrf_token(secret, CSRF_SALT, bound_to)


def form_token_ok(secret: str, token: str | None, bound_to: str | None) -> bool:
    """Whether a posted CSRF token was made for ``bound_to`` and has not expired."""
    if not bound_to:
        return False
    try:
        check_csrf(secret, CSRF_SALT, token, bound_to)
    except CsrfRefused:
        return False
    return True


def _attempt_keys(name: str, address: str) -> tuple[str, str]:
    block = address_block(address)
    return (
        f"{KEY_PREFIX}:login-attempts:name:{_digest(name.casefold() + chr(0) + block)}",
        f"{KEY_PREFIX}:login-attempts:address:{block}",
    )


def address_block(address: str) -> str:
    """What the limit counts an address as: itself, or an IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def begin_login(redis: Redis, settings: Settings, name: str, address: str) -> Lockout | None:
    """Count a login of ``name`` from ``address`` before its password is checked; a :class:`Lockout`
    when the name at that address, or the address, is past its limit (the password is then not looked
    at), else None."""
    window = settings.HUB_ADMIN_LOCKOUT_MINUTES * 60
    limit = settings.HUB_ADMIN_LOGIN_FAILURES
    keys = _attempt_keys(name, address)
    pipe = redis.pipeline()
    for key in keys:
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
    counts = pipe.execute()[1::2]
    for key, count, allowed in zip(keys, counts, (limit, limit * ADDRESS_FACTOR), strict=True):
        if int(count) > allowed:
            return Lockout(retry_after=max(int(redis.ttl(key)), 1))
    return None


def forgive_login(redis: Redis, name: str, address: str, *, succeeded: bool) -> None:
    """Take back the count of a login that was not a failure: a success forgives the name's failures
    at that address; either way the address's count loses this attempt."""
    name_key, address_key = _attempt_keys(name, address)
    pipe = redis.pipeline()
    if succeeded:
        pipe.delete(name_key)
    else:
        pipe.decr(name_key)
    pipe.decr(address_key)
    pipe.execute()


def first_refusal(redis: Redis, name: str, address: str, lockout: Lockout) -> bool:
    """Whether this refusal is the first of its lockout (the audit and the log record that one only, so
    a locked-out flood writes nothing)."""
    key = _attempt_keys(name, address)[0] + ":refused"
    return bool(redis.set(key, 1, nx=True, ex=lockout.retry_after))
