"""Structured logging: one ``key=value`` line per event, secrets scrubbed.

Request paths are logged without their query strings (``config/gunicorn_logs.py`` does it for
gunicorn's access log); as a second line of defence the scrubber also blanks the value of any
query parameter whose name says it is a credential (``?token=``, ``&secret=``, ``api_key=``...).
A message's control characters and unpaired surrogates are written escaped (``\\n``, ``\\ud800``):
text a stranger chose can neither forge a second line nor break a UTF-8 log.
"""

from __future__ import annotations

import logging
import re
import sys

LINE_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"
# a query parameter named like a credential: token, secret, password, signature, api_key, access_key...
_QUERY_SECRET = r"([?&][\w.-]*(?:token|secret|passw(?:or)?d|signature|sig|api_?key|access_?key)=)[^&\s\"'#]+"  # noqa: S105 - a pattern
_SECRETS = re.compile(
    r"(/bot)\d+:[A-Za-z0-9_-]+|(Bearer\s+)\S+|(://[^:/@\s]+:)[^@\s]+(@)|" + _QUERY_SECRET, re.IGNORECASE
)
_SECRET_PARAM_WORDS = ("token", "secret", "passw", "sig", "key")


class ScrubbingFormatter(logging.Formatter):
    """Formats ``time level logger message`` and removes bot tokens, bearer tokens, URL passwords and
    credential-named query parameters."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return _SECRETS.sub(_redact, text) if _may_hold_secret(text) else text


_SIGNED_PATH = re.compile(r"^(/(?:route|csat)/)[^/]+")


def loggable_path(path: str) -> str:
    """A request path as a log may show it: a signed link's token (``/route/<token>``, ``/csat/<token>``)
    is a credential, so it is written ``<token>``."""
    return _SIGNED_PATH.sub(r"\1<token>", path)


def printable(text: str) -> str:
    """``text`` with its control characters and unpaired surrogates escaped, so it stays one line of
    valid UTF-8 (letters of every script are kept as they are)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _may_hold_secret(text: str) -> bool:
    """Whether ``text`` has what each ``_SECRETS`` branch needs; most lines have none, and these substring
    checks cost a tenth of running the case-insensitive regex over every INFO line."""
    if "://" in text:
        return True
    lowered = text.lower()
    if "/bot" in lowered or "bearer" in lowered:
        return True
    return ("?" in text or "&" in text) and any(word in lowered for word in _SECRET_PARAM_WORDS)


def _redact(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1) + "<token>"
    if match.group(2):
        return match.group(2) + "<token>"
    if match.group(5):
        return match.group(5) + "<secret>"
    return f"{match.group(3)}<password>{match.group(4)}"


def setup_logging(level: str = "INFO") -> None:
    """Send the hub's logs to stderr once per process, in ``key=value`` style."""
    root = logging.getLogger()
    if any(getattr(h, "_hub", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ScrubbingFormatter(LINE_FORMAT))
    handler._hub = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # store.migrate logs what it upgraded, in one line
