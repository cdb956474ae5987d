"""Canned responses as the rule file refers to them: their key and file-name rules, and the check that
a key the rules name (an automation's ``comment: {canned: ...}``, a route's ``customer_notice``, a
status in ``replies.transitions``) exists in the library of the same configuration version.

A library is a set of files ``<key>.<lang>.md``: the ``canned/`` folder beside the rule file, or the
files a configuration version holds (``store.config_versions``). Parsing the files is
``mappers.canned_files``; this module only names them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from pydantic import ValidationInfo

from config.targets import Scope

KEY = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
CANNED_KEY = rf"^{KEY}$"
LANGUAGE = r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?"
FILE_NAME = re.compile(rf"^({KEY})\.({LANGUAGE})\.md$")
FILE_NAME_RULE = f"file name is not <key>.<lang>.md (key {KEY}, lang like en or pt-br)"
VERSION_WHERE = "this configuration version's canned responses"


def file_key(name: str) -> str | None:
    """The key of a canned file named ``name`` (``logs-request.en.md`` → ``logs-request``); None when
    the name does not follow the rule."""
    match = FILE_NAME.match(name)
    return match.group(1) if match else None


def canned_keys(names: Iterable[str]) -> frozenset[str]:
    """The keys of the canned files named ``names`` (other names are not canned responses)."""
    return frozenset(key for key in map(file_key, names) if key is not None)


def check_canned(key: str | None, info: ValidationInfo) -> None:
    """:class:`ValueError` naming ``key`` when the library being validated with has no such response."""
    scope = info.context if isinstance(info.context, Scope) else Scope()
    known = scope.canned_keys
    if key is None or known is None or key in known:
        return
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"did you mean {close[0]}?" if close else f"there are {', '.join(sorted(known)) or '(none)'}"
    raise ValueError(f"no canned response {key!r} in {scope.canned_where}; {hint}")
