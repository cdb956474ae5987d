"""gunicorn's error and access logs the way the hub logs: ``key=value`` lines, secrets scrubbed, and
request paths without their query strings.

A query string can carry a webhook secret (Kaiten's ``?token=``, and Jira's where it is opted in), so
no atom of the access log shows one, whatever ``--access-logformat`` an operator passes: ``%(r)s`` is
rebuilt from the path, and ``%(q)s`` and the raw-URI environ atoms are blanked
(https://docs.gunicorn.org/en/stable/settings.html#access-log-format lists the atoms). gunicorn's
error log names a failed request's URI; it goes through the same scrubbing formatter. A signed link's
token in the path (``/route/<token>``, ``/csat/<token>``: whoever holds it may route the issue or vote)
is logged as ``<token>``.
``trackerhub web`` passes ``--logger-class config.gunicorn_logs.HubLogger``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gunicorn.config import Config
from gunicorn.glogging import Logger

from config.logs import LINE_FORMAT, ScrubbingFormatter, loggable_path

ACCESS_LOG_FORMAT = 'remote=%(h)s method=%(m)s path=%(U)s status=%(s)s bytes=%(B)s ms=%(M)s agent="%(a)s"'
_URI_ATOMS = ("{raw_uri}e", "{request_uri}e", "{query_string}e")


class HubLogger(Logger):
    """gunicorn's logger with the hub's formatter on every handler and no query strings in atoms."""

    def setup(self, cfg: Config) -> None:
        """Set gunicorn's handlers up, then format them as the hub's own lines."""
        super().setup(cfg)
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(ScrubbingFormatter(LINE_FORMAT))

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: dt.timedelta
    ) -> dict[str, Any]:
        """The access log's atoms with the request line as method, path and protocol only."""
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = loggable_path(environ.get("PATH_INFO", ""))
        atoms["U"] = path
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {path} {environ.get('SERVER_PROTOCOL')}"
        atoms["q"] = ""
        for name in (*_URI_ATOMS, "{path_info}e"):
            if name in atoms:
                atoms[name] = path
        return atoms
