"""The admin console's local accounts (``admin_users``): a name, a role and a password's scrypt hash.

Passwords are hashed with the standard library's ``hashlib.scrypt`` (OpenSSL's), no new dependency.
The cost is OWASP's Password Storage Cheat Sheet's scrypt row "N=2^13, r=8, p=10": 8 MiB of memory
per hash (the p lanes run one after another), the cheat sheet's equal of its N=2^17, p=1 row
(128 MiB), so a login does not push a web worker past its RSS budget (BENCHMARKS.md); about 0.3 s of
a core per hash here. The parameters are stored in the hash, so a later, dearer setting still verifies
the hashes made before it.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import admin_users, aware
from store.journal import utcnow

ROLES = ("admin", "coordinator", "viewer")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10  # characters; NIST SP 800-63B asks at least 8
MAX_PASSWORD = 1024  # a longer "password" is a denial of service on the hash, not a password

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**13, 8, 10
SCRYPT_MAXMEM = 32 * 1024 * 1024  # a stored hash asking more than this is refused, not computed


_ONE_HASH_AT_A_TIME = threading.Lock()
HASH_WAIT = 0.25  # seconds a login waits for another one's hash before it is told to come back


class HashBusy(Exception):
    """Another login is being hashed in this process: a flood of logins must not hold every thread of
    the web process (the webhooks' too) waiting for the one hash at a time."""


class AccountError(ValueError):
    """A name, role or password the accounts refuse; the message says which and why."""


@dataclass(frozen=True)
class User:
    """A console account as the pages see it (never its hash)."""

    id: int
    name: str
    role: str
    created_at: dt.datetime


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash``, salt and hash in URL-safe base64."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = _scrypt(password, base64.urlsafe_b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """One hash at a time per process: four logins at once in a web worker's threads would otherwise
    take 4 × 8 MiB at once (bench/console_memory.py), and a burst of logins a core each."""
    data = password.encode("utf-8", "surrogatepass")
    if not _ONE_HASH_AT_A_TIME.acquire(timeout=HASH_WAIT):
        raise HashBusy
    try:
        return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)
    finally:
        _ONE_HASH_AT_A_TIME.release()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def check_new_account(name: str, role: str, password: str) -> None:
    """:class:`AccountError` when a new account's name, role or password is not acceptable."""
    if not NAME_PATTERN.match(name):
        raise AccountError("a user name is 1-64 letters, digits and . _ @ -, starting with a letter or digit")
    if role not in ROLES:
        raise AccountError(f"the role is one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password has more than {MAX_PASSWORD} characters")


def add_user(engine: Engine, name: str, role: str, password: str) -> User:
    """Create an account; :class:`AccountError` when it is not acceptable or the name is taken."""
    check_new_account(name, role, password)
    created_at = utcnow()
    row = {"name": name, "role": role, "password_hash": hash_password(password), "created_at": created_at}
    try:
        with engine.begin() as conn:
            new_id = conn.execute(admin_users.insert().values(**row)).inserted_primary_key
    except sa.exc.IntegrityError:
        raise AccountError(f"a user named {name!r} already exists") from None
    assert new_id is not None
    return User(id=int(new_id[0]), name=name, role=role, created_at=created_at)


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    """The account when ``password`` is its password, else None.

    An unknown name costs a hash too, so the answer's time does not tell which names exist.
    """
    with engine.connect() as conn:
        row = conn.execute(sa.select(admin_users).where(admin_users.c.name == name)).first()
    if row is None or len(password) > MAX_PASSWORD:
        verify_password(password[:MAX_PASSWORD], _dummy_hash())
        return None
    return _user(row) if verify_password(password, row.password_hash) else None


def name_exists(engine: Engine, name: str) -> bool:
    """Whether an account has this name."""
    with engine.connect() as conn:
        return conn.execute(sa.select(admin_users.c.id).where(admin_users.c.name == name)).first() is not None


def get_user(engine: Engine, user_id: int) -> User | None:
    """The account with this id (a session's), if it still exists."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(admin_users).where(admin_users.c.id == user_id)).first()
    return _user(row) if row is not None else None


def any_user(engine: Engine) -> bool:
    """Whether at least one account exists (the console is off until one does)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(admin_users.c.id).limit(1)).first() is not None


def _user(row: sa.Row[object]) -> User:
    data = row._mapping
    return User(
        id=int(data["id"]), name=data["name"], role=data["role"], created_at=aware(data["created_at"])
    )


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, made on first need (not at import: a hash costs time)."""
    return hash_password(secrets.token_urlsafe(16))
