"""The ``Tracker`` protocol for Jira (Data Center and Cloud), REST v2, on top of its HTTP client.

Cloud removed ``/rest/api/2/search`` (410 since 2025) in favour of ``/rest/api/2/search/jql`` (token
paging, no ``total``, eventually consistent); Data Center keeps ``/search``.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Unpack

from config.settings import Settings
from connector.cache import DEFAULT_TTL, TtlCache
from connector.errors import TrackerError, TrackerRejected, TrackerUnavailable
from connector.jira.client import JiraClient, JiraOptions, call, describe_errors, error_for
from connector.jira.fields import ProjectIds, draft_fields, issue_state, read_schema, state_fields, user_id
from connector.origins import on_origin
from connector.streams import read_capped
from connector.types import (
    Comment,
    FieldSchema,
    FileUpload,
    IssueDraft,
    IssueRef,
    IssueState,
    Target,
    TrackerFile,
)

log = logging.getLogger(__name__)

COMMENT_PAGE = 100
BULK_LIMIT = 50  # issues per POST /issue/bulk, Jira's documented maximum (Cloud and Data Center)
DEFAULT_LINK_TYPE = "Relates"  # in every Jira's default link type scheme


class JiraTracker(JiraClient):
    """The ``Tracker`` protocol for one Jira deployment, named ``name`` in rules and targets."""

    kind = "jira"
    bulk_limit = BULK_LIMIT

    def __init__(
        self,
        url: str,
        *,
        name: str = "jira",
        link_type: str = DEFAULT_LINK_TYPE,
        schema_ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        **options: Unpack[JiraOptions],
    ) -> None:
        """``link_type`` is the type ``link`` uses when given none; ``schema_ttl`` how long (seconds) a
        field schema is reused."""
        super().__init__(url, **options)
        self.name = name
        self.link_type = link_type
        self._ids = ProjectIds(self)
        self._schemas: TtlCache[FieldSchema] = TtlCache(schema_ttl, clock)
        self._own_user: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None, *, name: str = "jira") -> JiraTracker:
        """A tracker for the configured Jira (or ``url``, e.g. the sandbox's)."""
        return cls(
            url or settings.JIRA_URL or "",
            name=name,
            token=settings.secret("JIRA_TOKEN") or ("sandbox" if url else None),
            user=settings.JIRA_USER,
            password=settings.secret("JIRA_PASSWORD"),
            timeout=settings.JIRA_TIMEOUT,
        )

    @property
    def search_lag(self) -> float:
        """Jira Cloud's search is eventually consistent (Atlassian quotes up to a minute); Data Center
        indexes a create before answering, and a cluster replicates the index to other nodes within
        seconds."""
        return 60.0 if self.is_cloud else 10.0

    # -- the Tracker protocol ---------------------------------------------------------------------

    def create_issue(self, draft: IssueDraft, on_send: Callable[[], None] | None = None) -> IssueRef:
        """Create the issue with one POST (ids cached, no re-fetch). Never retried here."""
        fields = self._fields(draft)
        if on_send is not None:
            on_send()
        issue = call(lambda: self.client.create_issue(fields=fields, prefetch=False))
        return self._ref(str(issue.key), str(issue.id))

    def create_issues(
        self, drafts: Sequence[IssueDraft], on_send: Callable[[], None] | None = None
    ) -> list[IssueRef | TrackerError]:
        """Create up to ``bulk_limit`` issues with one ``POST /issue/bulk``; per draft its issue or why not.

        Jira answers ``{"issues": [...], "errors": [{"failedElementNumber", "status", "elementErrors"}]}``
        (201 when any was created, 400 when none was). The created issues carry no reference to their
        request element (JRACLOUD-81005); they come in request order with the failed elements left out,
        so an answer whose counts do not add up is treated as lost: the issues may exist, and each
        message's retry finds its own by label.
        """
        payload = json.dumps({"issueUpdates": [{"fields": self._fields(draft)} for draft in drafts]})
        if on_send is not None:
            on_send()
        answer = self.post_bulk(payload)
        issues = list(answer.get("issues") or [])
        failed = {_element_number(error): error for error in answer.get("errors") or []}
        if len(issues) + len(failed) != len(drafts) or not failed.keys() <= set(range(len(drafts))):
            raise TrackerUnavailable("jira's bulk create answer does not match the request")
        created = iter(issues)
        results: list[IssueRef | TrackerError] = []
        for index in range(len(drafts)):
            if index in failed:
                results.append(_element_error(failed[index]))
                continue
            issue = next(created)
            results.append(self._ref(str(issue["key"]), str(issue["id"])))
        return results

    def complete_issue(self, key: str, draft: IssueDraft) -> IssueRef:
        """Jira creates an issue with all its fields in one request: nothing is left to finish."""
        return IssueRef(tracker=self.name, key=key, url=self.issue_url(key))

    def find_issue(self, idempotency_key: str) -> IssueRef | None:
        """The issue carrying the label, searched by JQL (``/search`` or Cloud's ``/search/jql``)."""
        jql = f'labels = "{idempotency_key}" ORDER BY created ASC'
        path = "search/jql" if self.is_cloud else "search"
        data = self.get_json(path, {"jql": jql, "fields": "key", "maxResults": 2})
        issues = data.get("issues") or []
        if not issues:
            return None
        return self._ref(str(issues[0]["key"]), str(issues[0].get("id")))

    def get_state(self, key: str, *, all_fields: bool = False, fields: Sequence[str] = ()) -> IssueState:
        """The issue's status (done means status category ``done``), people and dates; ``fields`` holds
        the fields asked for by id (every field with ``all_fields``)."""
        data = self.get_json(f"issue/{key}", {"fields": state_fields(fields, all_fields)})
        ref = self._ref(str(data.get("key", key)), str(data.get("id", "")))
        return issue_state(data, ref, fields, all_fields)

    def get_comment(self, key: str, comment_id: str) -> Comment:
        """One comment; ``public`` from JSM's ``sd.public.comment`` property (None outside JSM)."""
        data = self.get_json(f"issue/{key}/comment/{comment_id}", {"expand": "properties"})
        author = data.get("author") or {}
        return Comment(
            id=str(data.get("id", comment_id)),
            body=str(data.get("body") or ""),
            author=user_id(author) or "",
            author_name=str(author.get("displayName") or ""),
            public=_jsm_public(data),
        )

    def update_comment(self, key: str, comment_id: str, body: str) -> None:
        """``PUT /issue/{key}/comment/{id}`` with the new body."""
        self.request("PUT", f"issue/{key}/comment/{comment_id}", body={"body": body})

    def add_internal_comment(self, key: str, body: str, marker: str) -> str:
        """A comment marked internal for JSM (``sd.public.comment``); plain projects ignore the property."""
        comment = call(lambda: self.client.add_comment(key, body, is_internal=True))
        return str(comment.id)

    def link(self, source: str, target: str, link_type: str | None = None) -> None:
        """Link two issues, read "``source`` <outward> ``target``" (``Blocks``: source blocks target);
        ``link_type`` is a type's name, outward or inward phrase, ``self.link_type`` when None.

        ``POST /issueLink`` with ``inwardIssue`` = source: Jira shows the inward issue with the type's
        outward phrase (mozilla/jira-bugzilla-integration#1285, atlassian/atlassian-mcp-server#112, both
        observed on live Jira). Jira reports a duplicate link as created, so repeating it is harmless.
        """
        call(lambda: self.client.create_issue_link(link_type or self.link_type, source, target))

    def link_issues(self, previous: str, new: str) -> None:
        """Link a conversation's new issue to its previous one with the default link type."""
        self.link(new, previous)

    def field_schema(self, target: Target) -> FieldSchema:
        """The create screen of ``target`` (its project and issue type), from createmeta; cached for
        ``schema_ttl`` seconds. A project or issue type that is not there raises ``UnknownTarget``."""
        return self._schemas.get(target, lambda: read_schema(self, target))

    def list_files(self, key: str) -> list[TrackerFile]:
        """The issue's attachments (``fields.attachment``) whose ``content`` is on ``JIRA_URL``'s origin.

        The session sends the hub's credentials with every request, so an address elsewhere is never
        fetched. Jira writes ``content`` with its configured base URL: one that names another host than
        ``JIRA_URL`` (a proxy, an old name) is logged, and ``JIRA_URL`` should be set to the base URL.
        """
        files = []
        for attachment in self._attachments(key):
            url = on_origin(str(attachment.get("content") or ""), self.url)
            if url is None:
                log.warning("jira.attachment_off_origin issue=%s attachment=%s", key, attachment.get("id"))
                continue
            name, size = str(attachment.get("filename")), int(attachment.get("size") or 0)
            files.append(TrackerFile(str(attachment.get("id")), name, size, url))
        return files

    def download_file(self, file: TrackerFile, max_bytes: int) -> bytes | None:
        """An attachment's bytes through the authenticated session, streamed and capped; an address off
        ``JIRA_URL``'s origin is refused without a request."""
        url = on_origin(file.url, self.url)
        if url is None:
            raise TrackerRejected(f"jira attachment {file.id} is not on {self.url}: not fetched", None)
        if file.size > max_bytes:
            return None
        return read_capped(self.stream(url), max_bytes)

    def own_user(self) -> str:
        """The hub's account: ``accountId`` on Cloud, the user name on Data Center."""
        if self._own_user is None:
            self._own_user = user_id(self.get_json("myself")) or ""
        return self._own_user

    def add_comment(self, key: str, body: str, marker: str) -> str:
        """Add a comment (its body carries ``marker``); return the comment id."""
        comment = call(lambda: self.client.add_comment(key, body))
        return str(comment.id)

    def find_comment(self, key: str, marker: str) -> str | None:
        """The id of the issue's comment containing ``marker``, newest pages last."""
        start = 0
        while True:
            params = {"startAt": start, "maxResults": COMMENT_PAGE, "orderBy": "created"}
            page = self.get_json(f"issue/{key}/comment", params)
            comments = page.get("comments") or []
            for comment in comments:
                if marker in str(comment.get("body", "")):
                    return str(comment["id"])
            start += len(comments)
            if not comments or start >= int(page.get("total", 0)):
                return None

    def attach_files(self, key: str, files: Sequence[FileUpload]) -> None:
        """Upload files not already on the issue (same name and size), one request each."""
        if not files:
            return
        present = {(a.get("filename"), a.get("size")) for a in self._attachments(key)}
        for upload in files:
            if (upload.filename, len(upload.content)) in present:
                continue
            call(
                lambda u=upload: self.client.add_attachment(  # type: ignore[misc]
                    issue=key, attachment=io.BytesIO(u.content), filename=u.filename
                )
            )

    def issue_url(self, key: str) -> str:
        """The issue's page in the browser."""
        return f"{self.url}/browse/{key}"

    # -- helpers ----------------------------------------------------------------------------------

    def _ref(self, key: str, issue_id: str | None = None) -> IssueRef:
        return IssueRef(tracker=self.name, key=key, url=self.issue_url(key), id=issue_id)

    def _attachments(self, key: str) -> list[dict[str, Any]]:
        data = self.get_json(f"issue/{key}", {"fields": "attachment"})
        return list((data.get("fields") or {}).get("attachment") or [])

    def _fields(self, draft: IssueDraft) -> dict[str, Any]:
        project_id = self._ids.project_id(draft.target.container)
        issue_type_id = self._ids.issue_type_id(project_id, draft.target.issue_type)
        return draft_fields(draft, project_id, issue_type_id, cloud=self.is_cloud)


def _element_number(error: Any) -> int:
    number = error.get("failedElementNumber") if isinstance(error, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else -1


def _element_error(error: dict[str, Any]) -> TrackerError:
    """One failed element of a bulk create, as the error a single create would have raised."""
    status = error.get("status")
    status = int(status) if isinstance(status, int | str) and str(status).isdigit() else 400
    elements = error.get("elementErrors")
    return error_for(status, describe_errors(elements if isinstance(elements, dict) else {}))


def _jsm_public(comment: dict[str, Any]) -> bool | None:
    """JSM's visibility: ``jsdPublic`` (Cloud payloads) or the ``sd.public.comment`` property."""
    if isinstance(comment.get("jsdPublic"), bool):
        return bool(comment["jsdPublic"])
    for prop in comment.get("properties") or []:
        if prop.get("key") == "sd.public.comment":
            return not bool((prop.get("value") or {}).get("internal"))
    return None
