"""HTTP to one Jira (Data Center or Cloud): the ``jira`` library's client, raw REST, errors mapped.

The library's own retry layer is switched off (``max_retries=0``): it would re-POST a create on a
connection reset or a 503 (research/jira.md, "the library retries POSTs"). The hub has one retry layer,
in the jobs, which honours ``Retry-After`` and re-enqueues instead of sleeping. Every call has a timeout.

Deployment type (Server/Data Center or Cloud) is detected once per process from ``serverInfo``, which the
library calls in its constructor. What the library has no method for (bulk create's per-element answer,
the createmeta pages, Cloud's ``/search/jql``, REST v3-only operations) goes through :meth:`request`, on
the library's authenticated session. Shapes: https://docs.atlassian.com/software/jira/docs/api/REST/latest/
and the Cloud OpenAPI spec in ``shared/fixtures/jira``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar, Unpack

import requests
from jira import JIRA, JIRAError

from connector.errors import TrackerError, TrackerRejected, TrackerUnavailable
from connector.sessions import pin_environment

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class JiraOptions(TypedDict, total=False):
    """How to reach one Jira: a personal access token (sent as Bearer), or a user and password (Cloud:
    e-mail and API token); the timeout of every call in seconds (default 30); the library's client
    class (tests)."""

    token: str | None
    user: str | None
    password: str | None
    timeout: float
    client_factory: Callable[..., JIRA]


class JiraClient:
    """One Jira deployment's HTTP: the library client (built once per process) and raw REST calls."""

    def __init__(self, url: str, **options: Unpack[JiraOptions]) -> None:
        self.url = url.rstrip("/")
        self._auth: dict[str, Any] = {}
        token, user, password = options.get("token"), options.get("user"), options.get("password")
        if token:
            self._auth["token_auth"] = token
        elif user and password:
            self._auth["basic_auth"] = (user, password)
        self._timeout = options.get("timeout", 30.0)
        self._client_factory = options.get("client_factory", JIRA)
        self._client: JIRA | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> JIRA:
        """The ``jira`` client; its constructor's ``serverInfo`` call detects Cloud vs Data Center."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    client = call(
                        lambda: self._client_factory(
                            server=self.url,
                            max_retries=0,
                            timeout=self._timeout,
                            get_server_info=True,
                            **self._auth,
                        )
                    )
                    pin_environment(client._session, self.url)
                    self._client = client
        return self._client

    @property
    def is_cloud(self) -> bool:
        """Whether the deployment is Jira Cloud (search, user fields and createmeta differ)."""
        return bool(getattr(self.client, "_is_cloud", False))

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``/rest/api/2/<path>`` and decode it, with the connector's error translation."""
        return call(lambda: self.client._get_json(path, params=params))

    def server_info(self) -> dict[str, Any]:
        """Jira's ``serverInfo`` (for ``trackerhub check`` and the health page)."""
        return dict(call(lambda: self.client.server_info()))

    def list_projects(self) -> list[dict[str, Any]]:
        """The projects the hub's user can see (``GET /project``: ``id``, ``key``, ``name`` ...)."""
        return list(self.get_json("project") or [])

    def list_fields(self) -> list[dict[str, Any]]:
        """Every field of the deployment (``GET /field``: ``id``, ``name``, ``custom``, ``schema`` ...)."""
        return list(self.get_json("field") or [])

    def rest_url(self, path: str, api: str = "2") -> str:
        """The address of ``/rest/api/<api>/<path>`` on this Jira."""
        return f"{self.url}/rest/api/{api}/{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        api: str = "2",
    ) -> Any:
        """One raw REST call on the library's session: decoded JSON (None for an empty answer)."""
        data = None if body is None else body if isinstance(body, str) else json.dumps(body)
        url = self.rest_url(path, api)
        response = call(lambda: self.client._session.request(method, url, params=params, data=data))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TrackerUnavailable(f"jira answered {method} {path} with non-JSON") from None

    def post_bulk(self, payload: str) -> dict[str, Any]:
        """``POST /issue/bulk``: its answer, also when Jira refused every element (a 400 listing each)."""
        return call(lambda: self._post_bulk(payload))

    def _post_bulk(self, payload: str) -> dict[str, Any]:
        try:
            answer = self.client._session.post(self.rest_url("issue/bulk"), data=payload).json()
        except ValueError:  # not JSON: the issues may exist, and each message's retry finds its own
            raise TrackerUnavailable("jira's bulk create answer is not JSON") from None
        except JIRAError as exc:
            # every element refused: a 400 whose body lists each element's errors, as a partial 201 does
            body = json_body(getattr(exc, "response", None))
            if exc.status_code == 400 and isinstance(body.get("errors"), list) and body["errors"]:
                return body
            raise
        return answer if isinstance(answer, dict) else {}

    def stream(self, url: str) -> requests.Response:
        """A streamed GET of ``url`` (already checked to be on this Jira's origin) with the credentials."""
        return call(lambda: self.client._session.get(url, stream=True))


def call(action: Callable[[], T]) -> T:
    """Run one library call, translating its failures into the connector's errors."""
    try:
        return action()
    except JIRAError as exc:
        raise _translate(exc) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TrackerUnavailable(f"jira unreachable: {type(exc).__name__}") from None


def _translate(exc: JIRAError) -> Exception:
    response = getattr(exc, "response", None)
    return error_for(exc.status_code, _error_text(exc), _retry_after(response))


def error_for(status: int | None, text: str, retry_after: float | None = None) -> TrackerError:
    """Jira's answer ``status`` as the connector's error: transient (try later) or a refusal."""
    if status is None or status in RETRYABLE_STATUS:
        return TrackerUnavailable(f"jira answered {status}: {text}", retry_after=retry_after, status=status)
    return TrackerRejected(f"jira answered {status}: {text}", status)


def _error_text(exc: JIRAError) -> str:
    return describe_errors(json_body(getattr(exc, "response", None))) or str(exc.text or "")[:200]


def json_body(response: requests.Response | None) -> dict[str, Any]:
    """A response's JSON object, or ``{}`` when it has none."""
    try:
        data = response.json() if response is not None else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe_errors(data: dict[str, Any]) -> str:
    """Jira's error collection (``errorMessages`` and per-field ``errors``; the bulk operations' list of
    ``{"message"}``, ``BulkOperationErrorResponse``) as one line."""
    messages = list(data.get("errorMessages") or [])
    errors = data.get("errors")
    if isinstance(errors, dict):
        messages += [f"{field}: {msg}" for field, msg in errors.items()]
    elif isinstance(errors, list):
        messages += [e.get("message") for e in errors if isinstance(e, dict) and e.get("message")]
    return "; ".join(str(m) for m in messages)[:500]


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
