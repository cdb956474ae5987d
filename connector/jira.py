"""Jira (Data Center and Cloud) through the ``jira`` library, REST v2.

The library's own retry layer is switched off (``max_retries=0``): it would re-POST a create on a
connection reset or a 503 (research/jira.md, "the library retries POSTs"). The hub has one retry layer,
in the jobs, which honours ``Retry-After`` and re-enqueues instead of sleeping. Every call has a timeout.

Deployment type (Server/Data Center or Cloud) is detected once per process from ``serverInfo``, which the
library calls in its constructor. Cloud removed ``/rest/api/2/search`` (410 since 2025) in favour of
``/rest/api/2/search/jql`` (token paging, no ``total``, eventually consistent); Data Center keeps
``/search``. Shapes: https://docs.atlassian.com/software/jira/docs/api/REST/latest/ and the Cloud OpenAPI
spec in ``shared/fixtures/jira``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError

from config.settings import Settings
from connector.errors import TrackerError, TrackerRejected, TrackerUnavailable
from connector.origins import on_origin
from connector.sessions import pin_environment
from connector.streams import read_capped
from connector.types import Comment, FileUpload, IssueDraft, IssueRef, IssueState, TrackerFile

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
COMMENT_PAGE = 100
BULK_LIMIT = 50  # issues per POST /issue/bulk, Jira's documented maximum (Cloud and Data Center)


class JiraTracker:
    """The ``Tracker`` protocol for one Jira deployment."""

    name = "jira"
    bulk_limit = BULK_LIMIT

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        client_factory: Callable[..., JIRA] = JIRA,
    ) -> None:
        self.url = url.rstrip("/")
        self._auth: dict[str, Any] = {}
        if token:
            self._auth["token_auth"] = token
        elif user and password:
            self._auth["basic_auth"] = (user, password)
        self._timeout = timeout
        self._client_factory = client_factory
        self._client: JIRA | None = None
        self._lock = threading.Lock()
        self._project_ids: dict[str, str] = {}
        self._issue_type_ids: dict[tuple[str, str], str] = {}
        self._own_user: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> JiraTracker:
        """A tracker for the configured Jira (or ``url``, e.g. the sandbox's)."""
        return cls(
            url or settings.JIRA_URL or "",
            token=settings.secret("JIRA_TOKEN") or ("sandbox" if url else None),
            user=settings.JIRA_USER,
            password=settings.secret("JIRA_PASSWORD"),
            timeout=settings.JIRA_TIMEOUT,
        )

    # -- the library client, built once per process ------------------------------------------------

    @property
    def client(self) -> JIRA:
        """The ``jira`` client; its constructor's ``serverInfo`` call detects Cloud vs Data Center."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    client = _call(
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
    def search_lag(self) -> float:
        """Jira Cloud's search is eventually consistent (Atlassian quotes up to a minute); Data Center
        indexes a create before answering, and a cluster replicates the index to other nodes within
        seconds."""
        return 60.0 if self.is_cloud else 10.0

    @property
    def is_cloud(self) -> bool:
        """Whether the deployment is Jira Cloud (search and user fields differ)."""
        return bool(getattr(self.client, "_is_cloud", False))

    # -- the Tracker protocol ---------------------------------------------------------------------

    def create_issue(self, draft: IssueDraft, on_send: Callable[[], None] | None = None) -> IssueRef:
        """Create the issue with one POST (ids cached, no re-fetch). Never retried here."""
        fields = self._fields(draft)
        if on_send is not None:
            on_send()
        issue = _call(lambda: self.client.create_issue(fields=fields, prefetch=False))
        key = str(issue.key)
        return IssueRef(tracker=self.name, key=key, url=self.issue_url(key), id=str(issue.id))

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
        answer = _call(lambda: self._post_bulk(payload))
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
            key = str(issue["key"])
            results.append(IssueRef(tracker=self.name, key=key, url=self.issue_url(key), id=str(issue["id"])))
        return results

    def _post_bulk(self, payload: str) -> dict[str, Any]:
        try:
            answer = self.client._session.post(self.client._get_url("issue/bulk"), data=payload).json()
        except ValueError:  # not JSON: the issues may exist, and each message's retry finds its own
            raise TrackerUnavailable("jira's bulk create answer is not JSON") from None
        except JIRAError as exc:
            # every element refused: a 400 whose body lists each element's errors, as a partial 201 does
            body = _json_body(getattr(exc, "response", None))
            if exc.status_code == 400 and isinstance(body.get("errors"), list) and body["errors"]:
                return body
            raise
        return answer if isinstance(answer, dict) else {}

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
        key = str(issues[0]["key"])
        return IssueRef(tracker=self.name, key=key, url=self.issue_url(key), id=str(issues[0].get("id")))

    def get_state(self, key: str, *, all_fields: bool = False) -> IssueState:
        """The issue's status (done means status category ``done``); with ``all_fields`` its fields too."""
        data = self.get_json(f"issue/{key}", {"fields": "*all" if all_fields else "status,summary,labels"})
        fields = data.get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key", "")
        real_key = str(data.get("key", key))
        return IssueState(
            ref=IssueRef(
                tracker=self.name, key=real_key, url=self.issue_url(real_key), id=str(data.get("id", ""))
            ),
            done=category == "done",
            status=str(status.get("name", "")),
            summary=str(fields.get("summary") or ""),
            labels=tuple(fields.get("labels") or ()),
            fields=dict(fields) if all_fields else {},
        )

    def get_comment(self, key: str, comment_id: str) -> Comment:
        """One comment; ``public`` from JSM's ``sd.public.comment`` property (None outside JSM)."""
        data = self.get_json(f"issue/{key}/comment/{comment_id}", {"expand": "properties"})
        author = data.get("author") or {}
        return Comment(
            id=str(data.get("id", comment_id)),
            body=str(data.get("body") or ""),
            author=str(author.get("accountId") or author.get("name") or author.get("key") or ""),
            author_name=str(author.get("displayName") or ""),
            public=_jsm_public(data),
        )

    def update_comment(self, key: str, comment_id: str, body: str) -> None:
        """``PUT /issue/{key}/comment/{id}`` with the new body."""
        _call(
            lambda: self.client._session.put(
                self.client._get_url(f"issue/{key}/comment/{comment_id}"), json={"body": body}
            )
        )

    def add_internal_comment(self, key: str, body: str, marker: str) -> str:
        """A comment marked internal for JSM (``sd.public.comment``); plain projects ignore the property."""
        comment = _call(lambda: self.client.add_comment(key, body, is_internal=True))
        return str(comment.id)

    def link_issues(self, previous: str, new: str) -> None:
        """A "Relates" link (``POST /issueLink``; Jira reports a duplicate link as created)."""
        _call(lambda: self.client.create_issue_link("Relates", new, previous))

    def list_files(self, key: str) -> list[TrackerFile]:
        """The issue's attachments (``fields.attachment``) whose ``content`` is on ``JIRA_URL``'s origin.

        The session sends the hub's credentials with every request, so an address elsewhere is never
        fetched. Jira writes ``content`` with its configured base URL: one that names another host than
        ``JIRA_URL`` (a proxy, an old name) is logged, and ``JIRA_URL`` should be set to the base URL.
        """
        data = self.get_json(f"issue/{key}", {"fields": "attachment"})
        files = []
        for attachment in (data.get("fields") or {}).get("attachment") or []:
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
        response = _call(lambda: self.client._session.get(url, stream=True))
        return read_capped(response, max_bytes)

    def own_user(self) -> str:
        """The hub's account: ``accountId`` on Cloud, the user name on Data Center."""
        if self._own_user is None:
            me = self.get_json("myself")
            self._own_user = str(me.get("accountId") or me.get("name") or me.get("key") or "")
        return self._own_user

    def add_comment(self, key: str, body: str, marker: str) -> str:
        """Add a comment (its body carries ``marker``); return the comment id."""
        comment = _call(lambda: self.client.add_comment(key, body))
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
        data = self.get_json(f"issue/{key}", {"fields": "attachment"})
        present = {
            (a.get("filename"), a.get("size")) for a in (data.get("fields") or {}).get("attachment") or []
        }
        for upload in files:
            if (upload.filename, len(upload.content)) in present:
                continue
            _call(
                lambda u=upload: self.client.add_attachment(  # type: ignore[misc]
                    issue=key, attachment=io.BytesIO(u.content), filename=u.filename
                )
            )

    def issue_url(self, key: str) -> str:
        """The issue's page in the browser."""
        return f"{self.url}/browse/{key}"

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``/rest/api/2/<path>`` and decode it, with the connector's error translation."""
        return _call(lambda: self.client._get_json(path, params=params))

    def server_info(self) -> dict[str, Any]:
        """Jira's ``serverInfo`` (for ``trackerhub check`` and the health page)."""
        return dict(_call(lambda: self.client.server_info()))

    # -- field mapping ----------------------------------------------------------------------------

    def _fields(self, draft: IssueDraft) -> dict[str, Any]:
        project_id = self._project_id(draft.project)
        fields: dict[str, Any] = {
            "project": {"id": project_id},
            "issuetype": {"id": self._issue_type_id(project_id, draft.issue_type)},
            "summary": draft.title,
            "description": draft.body,
            "labels": list(draft.labels),
        }
        if draft.priority:
            fields["priority"] = {"name": draft.priority}
        if draft.components:
            fields["components"] = [{"name": name} for name in draft.components]
        if draft.assignee:
            fields["assignee"] = {"accountId" if self.is_cloud else "name": draft.assignee}
        fields.update(draft.custom_fields)
        return fields

    def _project_id(self, key: str) -> str:
        if key not in self._project_ids:
            project = self.get_json(f"project/{key}")
            self._project_ids[key] = str(project["id"])
            for issue_type in project.get("issueTypes") or []:
                self._issue_type_ids[(str(project["id"]), issue_type["name"].lower())] = str(issue_type["id"])
        return self._project_ids[key]

    def _issue_type_id(self, project_id: str, name_or_id: str) -> str:
        if name_or_id.isdigit():
            return name_or_id
        found = self._issue_type_ids.get((project_id, name_or_id.lower()))
        if found is None:
            raise TrackerRejected(f"issue type {name_or_id!r} is not available in project {project_id}", 400)
        return found


def _call(action: Callable[[], T]) -> T:
    """Run one library call, translating its failures into the connector's errors."""
    try:
        return action()
    except JIRAError as exc:
        raise _translate(exc) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TrackerUnavailable(f"jira unreachable: {type(exc).__name__}") from None


def _translate(exc: JIRAError) -> Exception:
    response = getattr(exc, "response", None)
    return _error_for(exc.status_code, _error_text(exc), _retry_after(response))


def _error_for(status: int | None, text: str, retry_after: float | None = None) -> TrackerError:
    """Jira's answer ``status`` as the connector's error: transient (try later) or a refusal."""
    if status is None or status in RETRYABLE_STATUS:
        return TrackerUnavailable(f"jira answered {status}: {text}", retry_after=retry_after, status=status)
    return TrackerRejected(f"jira answered {status}: {text}", status)


def _error_text(exc: JIRAError) -> str:
    return _describe_errors(_json_body(getattr(exc, "response", None))) or str(exc.text or "")[:200]


def _json_body(response: requests.Response | None) -> dict[str, Any]:
    try:
        data = response.json() if response is not None else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _describe_errors(data: dict[str, Any]) -> str:
    """Jira's error collection (``errorMessages`` and per-field ``errors``) as one line."""
    messages = list(data.get("errorMessages") or [])
    errors = data.get("errors")
    if isinstance(errors, dict):
        messages += [f"{field}: {msg}" for field, msg in errors.items()]
    return "; ".join(str(m) for m in messages)[:500]


def _element_number(error: Any) -> int:
    number = error.get("failedElementNumber") if isinstance(error, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else -1


def _element_error(error: dict[str, Any]) -> TrackerError:
    """One failed element of a bulk create, as the error a single create would have raised."""
    status = error.get("status")
    status = int(status) if isinstance(status, int | str) and str(status).isdigit() else 400
    elements = error.get("elementErrors")
    return _error_for(status, _describe_errors(elements if isinstance(elements, dict) else {}))


def _jsm_public(comment: dict[str, Any]) -> bool | None:
    """JSM's visibility: ``jsdPublic`` (Cloud payloads) or the ``sd.public.comment`` property."""
    if isinstance(comment.get("jsdPublic"), bool):
        return bool(comment["jsdPublic"])
    for prop in comment.get("properties") or []:
        if prop.get("key") == "sd.public.comment":
            return not bool((prop.get("value") or {}).get("internal"))
    return None


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
