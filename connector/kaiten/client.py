"""Kaiten's REST API (``https://<company>.kaiten.ru/api/latest``) on ``requests``: transport and verbs.

Shapes follow Kaiten's own documentation, https://developers.kaiten.ru/ (read through the ``search``
tool; the site is a JS app), and the OpenAPI file extracted from it in
``shared/fixtures/kaiten/spec/kaiten-openapi.AllDmeat-kaiten-sdk.yaml`` (S2 in research/kaiten.md):

- auth: ``Authorization: Bearer <token>``; JSON in and out; errors as ``{"message": "..."}``.
- rate limit: 5 requests/s per token; a 429 carries ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset`` (UTC epoch), no ``Retry-After`` (developers.kaiten.ru front page). Every call
  first takes a token from the limiter: ``RedisRateLimiter``, shared by every process using the token,
  or, for a command with no Redis, an in-process ``LocalRateLimiter`` with the same budget.
- ``PATCH /cards/{id}`` (developers.kaiten.ru/cards/update-card) moves (``board_id``, ``column_id``,
  ``lane_id``) and archives (``condition`` 2).
- list endpoints page with ``limit`` (at most 100) and ``offset``.
- the token (``Authorization``) is added to each request the hub makes to the Kaiten origin, never
  kept on the session: a redirect to another host loses it (``requests`` strips ``Authorization``
  when the host changes, ``Session.rebuild_auth``), and Kaiten's signed file links are meant to be
  fetched without it (developers.kaiten.ru/restricted-access-files-migration).
- ``broken_api=false`` on card reads, so user-type custom properties are numeric ids, not uids
  (faq-ru.kaiten.site, "Исправление формата пользовательских полей в API").

Errors: timeouts, connection errors, 5xx, 408 and 429 are ``TrackerUnavailable`` (with
``retry_after`` from ``X-RateLimit-Reset`` on a 429); other 4xx are ``TrackerRejected`` carrying
Kaiten's ``message``. Idempotent reads are retried here briefly (tenacity); writes never are: the jobs
retry them, after ``find_issue`` / ``find_comment``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from connector.errors import TrackerRejected, TrackerUnavailable
from connector.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter, limiter_key
from connector.sessions import pin_environment

if TYPE_CHECKING:
    from redis import Redis

API_SUFFIXES = ("/api/latest", "/api/v1")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
PAGE = 100  # the largest ``limit`` list endpoints take
READ_RETRY_MAX_WAIT = 5.0
CONDITION_ARCHIVED = 2
# Kaiten allows 5 requests/s per token. The shared limiter grants 5 per 1.2 s: the margin absorbs
# network jitter between the grant (Redis's clock) and the request's arrival (Kaiten's clock).
RATE_LIMIT = 5
RATE_PERIOD = 1.2


def split_url(url: str) -> tuple[str, str]:
    """``(site origin, API root)`` from ``KAITEN_URL`` given as the site or ending in /api/latest|v1."""
    url = url.strip().rstrip("/")
    for suffix in API_SUFFIXES:
        if url.endswith(suffix):
            return url[: -len(suffix)], url
    if url.endswith("/api"):
        return url[:-4], url + "/latest"
    return url, url + "/api/latest"


def token_limiter(token: str, redis: Redis | None) -> RateLimiter:
    """The limiter for ``token``: shared by every process through ``redis``, else this process's own."""
    if redis is not None:
        key = limiter_key("kaiten", token)
        return RedisRateLimiter(redis, key, rate=RATE_LIMIT, burst=RATE_LIMIT, period=RATE_PERIOD)
    return LocalRateLimiter(rate=RATE_LIMIT, period=RATE_PERIOD, start_full=True)


class KaitenOptions(TypedDict, total=False):
    """How to talk to Kaiten: the token's rate limiter (none: unlimited), the timeout of every call in
    seconds (default 30), a ``requests`` session, and how often a failed read is retried (default 2)."""

    limiter: RateLimiter | None
    timeout: float
    session: requests.Session | None
    read_retries: int


class KaitenClient:
    """HTTP to one Kaiten company: every request through the limiter, with a timeout, errors mapped."""

    def __init__(self, url: str, token: str, **options: Unpack[KaitenOptions]) -> None:
        self.origin, self.api = split_url(url)
        self.timeout = options.get("timeout", 30.0)
        self.limiter = options.get("limiter")
        self.read_retries = options.get("read_retries", 2)
        self.session = options.get("session") or requests.Session()
        pin_environment(self.session, url)
        self._auth = {"Authorization": f"Bearer {token}"}
        self.session.headers.setdefault("Accept", "application/json")

    # -- cards ----------------------------------------------------------------------------------------

    def get_card(self, card_id: str | int) -> dict[str, Any]:
        """One card with its members, tags, files, column and lane (``broken_api=false``)."""
        path = f"/cards/{card_id_of(card_id)}"
        card: dict[str, Any] = self.request("GET", path, params={"broken_api": "false"})
        return card

    def move_card(
        self,
        card_id: str | int,
        board_id: int | str | None = None,
        column_id: int | str | None = None,
        lane_id: int | str | None = None,
    ) -> dict[str, Any]:
        """Move a card (``PATCH`` with the target board and a column/lane of that board)."""
        body = {
            k: int(v)
            for k, v in (("board_id", board_id), ("column_id", column_id), ("lane_id", lane_id))
            if v is not None
        }
        return self.update_card(card_id, **body)

    def update_card(self, card_id: str | int, **fields: Any) -> dict[str, Any]:
        """``PATCH /cards/{id}`` with the given fields (absent = unchanged, ``None`` = cleared)."""
        card: dict[str, Any] = self.request("PATCH", f"/cards/{card_id_of(card_id)}", json=fields)
        return card

    def archive_card(self, card_id: str | int) -> dict[str, Any]:
        """Archive a card (``condition`` 2)."""
        return self.update_card(card_id, condition=CONDITION_ARCHIVED)

    def add_child(self, parent_id: str | int, child_id: str | int) -> dict[str, Any]:
        """Link two cards as parent and child (``POST /cards/{parent}/children {"card_id"}``)."""
        body = {"card_id": as_int(child_id, "card_id")}
        child: dict[str, Any] = self.request("POST", f"/cards/{card_id_of(parent_id)}/children", json=body)
        return child

    # -- topology and catalogue, for `trackerhub check` and `trackerhub kaiten ls` ---------------------

    def list_spaces(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/spaces") or [])

    def list_boards(self, space_id: int | str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/spaces/{as_int(space_id, 'space id')}/boards") or [])

    def get_board(self, board_id: int | str) -> dict[str, Any]:
        """A board with its ``columns`` and ``lanes``."""
        board: dict[str, Any] = self.request("GET", f"/boards/{as_int(board_id, 'board id')}")
        return board

    def list_columns(self, board_id: int | str) -> list[dict[str, Any]]:
        """Columns with their ``type``: 1 queue, 2 in progress, 3 done."""
        return list(self.request("GET", f"/boards/{as_int(board_id, 'board id')}/columns") or [])

    def list_lanes(self, board_id: int | str) -> list[dict[str, Any]]:
        """Live lanes (``condition=1``)."""
        path = f"/boards/{as_int(board_id, 'board id')}/lanes"
        return list(self.request("GET", path, params={"condition": 1}) or [])

    def list_card_types(self) -> list[dict[str, Any]]:
        return list(self.pages("/card-types", {}))

    def list_properties(self) -> list[dict[str, Any]]:
        """Company custom properties (``id``, ``name``, ``type``, ``multi_select`` ...)."""
        return list(self.pages("/company/custom-properties", {}))

    def list_select_values(self, property_id: int | str) -> list[dict[str, Any]]:
        path = f"/company/custom-properties/{as_int(property_id, 'property id')}/select-values"
        return list(self.request("GET", path) or [])

    def list_users(self) -> list[dict[str, Any]]:
        return list(self.pages("/users", {}))

    def current_user(self) -> dict[str, Any]:
        """The token's own user (to filter the hub's own events out of webhooks)."""
        user: dict[str, Any] = self.request("GET", "/users/current")
        return user

    # -- HTTP -----------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
    ) -> Any:
        """One API call with the connector's error translation; reads are retried briefly."""
        if method != "GET" or self.read_retries <= 0:
            return self._send(method, path, params, json, files)
        retrying = Retrying(
            stop=stop_after_attempt(self.read_retries + 1),
            retry=retry_if_exception(_worth_retrying),
            wait=_wait_for,
            reraise=True,
        )
        return retrying(self._send, method, path, params, json, files)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        files: Mapping[str, Any] | None,
    ) -> Any:
        if self.limiter is not None:
            self.limiter.acquire()
        try:
            response = self.session.request(
                method,
                self.api + path,
                params=params,
                json=json,
                files=files,
                headers=self._auth,
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TrackerUnavailable(f"kaiten unreachable: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise TrackerUnavailable(f"kaiten request failed: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _translate(response, method, path)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TrackerUnavailable(
                f"kaiten answered {method} {path} with non-JSON", status=response.status_code
            ) from None

    def pages(self, path: str, params: Mapping[str, Any], limit: int = PAGE) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, fetched ``limit`` (at most 100) at a time with ``offset``,
        lazily: the next page is read only when the caller gets that far."""
        limit = max(1, min(limit, PAGE))
        offset = 0
        while True:
            page = self.request("GET", path, params={**params, "limit": limit, "offset": offset}) or []
            yield from page
            if len(page) < limit:
                return
            offset += len(page)

    def stream(self, url: str, what: str) -> requests.Response:
        """A streamed GET of ``url`` (already checked to be on the Kaiten origin) with the token."""
        try:
            response = self.session.get(url, headers=self._auth, stream=True, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout):
            raise TrackerUnavailable(f"kaiten {what} unreachable") from None
        if response.status_code >= 400:
            response.close()
            raise TrackerRejected(f"kaiten {what}: HTTP {response.status_code}", response.status_code)
        return response


# -- numbers in paths and bodies ------------------------------------------------------------------------


def card_id_of(value: str | int) -> int:
    """A card id for a path: a number, or a clear refusal."""
    return as_int(value, "card id")


def as_int(value: Any, what: str) -> int:
    """``value`` as an integer, or ``TrackerRejected`` naming ``what`` (an id given as a name)."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise TrackerRejected(f"{what} must be a number, not {value!r}", 400) from None


def to_int(value: Any) -> int | None:
    """An integer from a number or a numeric string (private files send ``size`` as a string)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- errors -------------------------------------------------------------------------------------------------


def _translate(response: requests.Response, method: str, path: str) -> Exception:
    status = response.status_code
    text = f"kaiten answered {status} to {method} {path}: {_message(response)}"
    if status == 429:
        return TrackerUnavailable(text, retry_after=reset_delay(response.headers), status=status)
    if status in RETRYABLE_STATUS or status >= 500:
        return TrackerUnavailable(text, retry_after=_retry_after(response.headers), status=status)
    return TrackerRejected(text, status)


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:500]
    return (response.text or response.reason or "").strip()[:200]


def reset_delay(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds until ``X-RateLimit-Reset`` (documented as a UTC epoch), at least 1; 1 when missing."""
    now = time.time() if now is None else now
    value = headers.get("X-RateLimit-Reset")
    try:
        reset = float(value) if value is not None else None
    except ValueError:
        reset = None
    if reset is None or not math.isfinite(reset):
        return _retry_after(headers) or 1.0
    if reset > 1e11:  # milliseconds, should Kaiten ever send them
        reset /= 1000
    elif reset < 1e9:  # not an epoch: a delay in seconds, as some proxies send
        return max(1.0, reset)
    return max(1.0, reset - now)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _worth_retrying(exc: BaseException) -> bool:
    if not isinstance(exc, TrackerUnavailable):
        return False
    return exc.retry_after is None or exc.retry_after <= READ_RETRY_MAX_WAIT


def _wait_for(state: Any) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, TrackerUnavailable) and exc.retry_after is not None:
        return float(exc.retry_after)
    return min(0.25 * 2 ** (state.attempt_number - 1), 2.0)
