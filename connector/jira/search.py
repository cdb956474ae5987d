"""JQL search, paged lazily: Data Center's ``POST /search`` by ``startAt``, Cloud's ``POST /search/jql``
by ``nextPageToken``.

Cloud removed ``/search`` (410 since 2025) for ``/search/jql``, which has no ``total`` and no
``startAt``: each answer carries ``nextPageToken`` until ``isLast`` (Cloud OpenAPI spec,
``searchAndReconsileIssuesUsingJqlPost``; research/jira.md §1.9). It returns only ``id`` unless asked for
fields, so every page names the fields wanted. Data Center answers ``{startAt, maxResults, total,
issues}`` (REST v2 reference, ``search``). Both are POSTs so a long query (many keys) never meets a URL
length limit.

Offset paging sees a list that may change under it: an issue that leaves the result while the pages are
read (a caller acting on what it reads) shifts the rest, and one of them may be skipped until the next
search. Token paging on Cloud does not shift.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from connector.jira.client import JiraClient

DC_MAX_PAGE = 1000  # jira.search.views.default.max, Data Center's default cap
CLOUD_MAX_PAGE = 5000  # /search/jql: "It returns max 5000 issues" per page


def issue_pages(
    http: JiraClient, jql: str, fields: Sequence[str], page_size: int, *, cloud: bool, expand: str = ""
) -> Iterator[dict[str, Any]]:
    """Every issue (its JSON with ``fields``) that ``jql`` finds, one request per page as they are read.

    ``expand`` (e.g. ``changelog``) goes in the body as each API takes it: a list of names on Data
    Center's ``POST /search`` (REST v2 ``SearchRequestBean.expand``), a comma-separated string on
    Cloud's ``POST /search/jql`` (``SearchAndReconcileRequestBean.expand``)."""
    if cloud:
        extra: dict[str, Any] = {"expand": expand} if expand else {}
        yield from _token_pages(http, jql, list(fields), max(1, min(page_size, CLOUD_MAX_PAGE)), extra)
    else:
        extra = {"expand": expand.split(",")} if expand else {}
        yield from _offset_pages(http, jql, list(fields), max(1, min(page_size, DC_MAX_PAGE)), extra)


def _offset_pages(
    http: JiraClient, jql: str, fields: list[str], size: int, extra: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    start = 0
    while True:
        body = {"jql": jql, "startAt": start, "maxResults": size, "fields": fields, **extra}
        page = http.request("POST", "search", body=body) or {}
        issues = [i for i in page.get("issues") or [] if isinstance(i, dict)]
        yield from issues
        start += len(issues)
        if not issues or start >= int(page.get("total") or 0):
            return


def _token_pages(
    http: JiraClient, jql: str, fields: list[str], size: int, extra: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    token: str | None = None
    seen: set[str] = set()
    while True:
        body: dict[str, Any] = {"jql": jql, "maxResults": size, "fields": fields, **extra}
        if token:
            body["nextPageToken"] = token
        page = http.request("POST", "search/jql", body=body) or {}
        issues = [i for i in page.get("issues") or [] if isinstance(i, dict)]
        yield from issues
        token = page.get("nextPageToken") or None
        if page.get("isLast") is True or not issues or not token or token in seen:
            return
        seen.add(token)
