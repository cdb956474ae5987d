"""The ``Tracker`` protocol for Jira (Data Center and Cloud), REST v2, on top of its HTTP client.

Cloud removed ``/rest/api/2/search`` (410 since 2025) in favour of ``/rest/api/2/search/jql`` (token
paging, no ``total``, eventually consistent); Data Center keeps ``/search`` (``search``). Cloud can move
an issue to another project (the bulk move task, ``move``); Data Center cannot (JRASERVER-71343).
Workflow transitions are in ``workflow``, write values in ``values``, JQL in ``jql``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Unpack

from redis import Redis

from config.settings import Settings
from connector.base import CAN_BULK_CREATE, CAN_MOVE, CAN_REMOTE_LINKS
from connector.cache import DEFAULT_TTL, TtlCache
from connector.errors import MoveUnsupported, TrackerError, TrackerRejected, TrackerUnavailable
from connector.jira import links, workflow
from connector.jira.client import JiraOptions, call, describe_errors, error_for
from connector.jira.fields import (
    ProjectIds,
    comment_from,
    draft_fields,
    issue_state,
    read_schema,
    state_fields,
    subtask_type_id,
    user_id,
    user_ref,
)
from connector.jira.jql import quote, to_jql
from connector.jira.move import (
    BulkMover,
    LocalLedger,
    MoveLedger,
    RedisLedger,
    mandatory_fields,
    move_mapping,
)
from connector.jira.parts import JiraParts
from connector.jira.search import issue_pages
from connector.jira.values import SYSTEM_SPECS, find_spec, jira_value, spec_from_field
from connector.types import (
    Comment,
    FieldSchema,
    FieldSpec,
    IssueChanges,
    IssueDraft,
    IssueRef,
    IssueState,
    LinkType,
    SearchQuery,
    Target,
    Transition,
)

log = logging.getLogger(__name__)

COMMENT_PAGE = 100
CHANGE_FIELDS = ("status", "comment")  # what polling reconciliation reads of an updated issue
BULK_LIMIT = 50  # issues per POST /issue/bulk, Jira's documented maximum (Cloud and Data Center)
DEFAULT_LINK_TYPE = "Relates"  # in every Jira's default link type scheme


class JiraTracker(JiraParts):
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
        sleep: Callable[[float], None] = time.sleep,
        redis: Redis | None = None,
        jql_timezone: tzinfo = UTC,
        **options: Unpack[JiraOptions],
    ) -> None:
        """``link_type`` is the type ``link`` uses when given none; ``schema_ttl`` how long (seconds) a
        field schema, the link types and the field list are reused. ``redis`` shares the site's move
        slots between processes (without it they are this process's); ``clock`` and ``sleep`` pace the
        move's polling. ``jql_timezone`` is the hub's Jira user's time zone, in which JQL reads dates."""
        super().__init__(url, **options)
        self.name = name
        self.link_type = link_type
        self.jql_timezone = jql_timezone
        self._ids = ProjectIds(self)
        self._schemas: TtlCache[FieldSchema] = TtlCache(schema_ttl, clock)
        self._meta: TtlCache[Any] = TtlCache(schema_ttl, clock)
        ledger: MoveLedger = RedisLedger(redis, self.url) if redis is not None else LocalLedger(clock)
        self._mover = BulkMover(self, ledger, clock=clock, sleep=sleep)
        self._own_user: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, url: str | None = None, *, name: str = "jira", redis: Redis | None = None
    ) -> JiraTracker:
        """A tracker for the configured Jira (or ``url``, e.g. the sandbox's); ``redis`` shares the move
        slots of a Cloud site between processes."""
        return cls(
            url or settings.JIRA_URL or "",
            name=name,
            redis=redis,
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
        jql = f"labels = {quote(idempotency_key)} ORDER BY created ASC"
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
        return comment_from({"id": comment_id, **data})

    def update_comment(self, key: str, comment_id: str, body: str) -> None:
        """``PUT /issue/{key}/comment/{id}`` with the new body."""
        self.request("PUT", f"issue/{key}/comment/{comment_id}", body={"body": body})

    def add_internal_comment(self, key: str, body: str, marker: str) -> str:
        """A comment marked internal for JSM (``sd.public.comment``); plain projects ignore the property."""
        comment = call(lambda: self.client.add_comment(key, body, is_internal=True))
        return str(comment.id)

    def link(self, source: str, target: str, link_type: str | None = None) -> None:
        """Link two issues, read "``source`` <outward> ``target``" (see ``links``); ``link_type`` is a
        type's name, outward or inward phrase (case-insensitive), ``self.link_type`` when None.
        ``TrackerRejected`` naming the types there are when this Jira has no such type. Jira reports a
        duplicate link as created, so repeating it is harmless.
        """
        kind, reverse = links.resolve(self.link_types(), link_type or self.link_type)
        self.request("POST", "issueLink", body=links.link_body(kind, reverse, source, target))

    def link_issues(self, previous: str, new: str) -> None:
        """Link a conversation's new issue to its previous one with the default link type."""
        self.link(new, previous)

    def field_schema(self, target: Target) -> FieldSchema:
        """The create screen of ``target`` (its project and issue type), from createmeta; cached for
        ``schema_ttl`` seconds. A project or issue type that is not there raises ``UnknownTarget``."""
        return self._schemas.get(target, lambda: read_schema(self, target))

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
        found = (c for c in self._comment_pages(key) if marker in str(c.get("body", "")))
        comment = next(found, None)
        return None if comment is None else str(comment["id"])

    def comments(self, key: str) -> list[Comment]:
        """Every comment, oldest first, with its author, date and JSM visibility (``jsdPublic`` on Cloud,
        the ``sd.public.comment`` property on Data Center; None outside JSM)."""
        return [comment_from(c) for c in self._comment_pages(key, expand="properties")]

    def issue_url(self, key: str) -> str:
        """The issue's page in the browser."""
        return f"{self.url}/browse/{key}"

    # -- routing, automations, the console ---------------------------------------------------------

    def capabilities(self) -> frozenset[str]:
        """Bulk create and remote links everywhere; moving only on Cloud; no checklists."""
        return frozenset({CAN_BULK_CREATE, CAN_REMOTE_LINKS} | ({CAN_MOVE} if self.is_cloud else set()))

    def transitions(self, key: str) -> list[Transition]:
        """The transitions the issue can take now, each with its screen's fields (required flags,
        allowed values)."""
        data = self.get_json(f"issue/{key}/transitions", {"expand": "transitions.fields"})
        return workflow.transitions_from(data)

    def transition(
        self,
        key: str,
        to: str,
        *,
        fields: Mapping[str, Any] | None = None,
        resolution: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Take the transition ``to`` means (its id, its name, or its target status's name, case-insensitive),
        with the screen's ``fields``, a ``resolution`` and a ``comment`` in the same POST. An issue in that
        status already is left alone, so repeating the call by status name is harmless; a transition's
        own name or id may not be offered any more once it was taken."""
        status = self.get_state(key).status
        chosen = workflow.pick(self.transitions(key), to, status)
        if chosen is None:
            return
        body = workflow.transition_body(chosen, fields or {}, resolution, comment, cloud=self.is_cloud)
        self.request("POST", f"issue/{key}/transitions", body=body)

    def update_fields(
        self,
        key: str,
        fields: Mapping[str, Any],
        *,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
    ) -> None:
        """One ``PUT /issue/{key}``: ``fields`` by id or name (values mapped as the create maps them) and
        the labels added and removed as ``update`` operations. Setting is repeatable by nature."""
        labels = [{"add": label} for label in add_labels] + [{"remove": label} for label in remove_labels]
        if not fields and not labels:
            return
        values = {}
        for id_or_name, value in fields.items():
            spec = self._field_spec(id_or_name)
            values[spec.id] = jira_value(spec, value, cloud=self.is_cloud)
        if labels and "labels" in values:
            raise TrackerRejected("labels are either set or added/removed, not both in one edit", 400)
        body: dict[str, Any] = {"fields": values} if values else {}
        if labels:
            body["update"] = {"labels": labels}
        self.request("PUT", f"issue/{key}", body=body)

    def assign(self, key: str, user: str | None) -> None:
        """``PUT /issue/{key}/assignee``: the user name on Data Center, the account id on Cloud; None
        unassigns (research/jira.md §1.8)."""
        body = (
            user_ref(user, cloud=self.is_cloud) if user else {"accountId" if self.is_cloud else "name": None}
        )
        self.request("PUT", f"issue/{key}/assignee", body=body)

    def search(
        self, query: SearchQuery, *, fields: Sequence[str] = (), page_size: int = 100
    ) -> Iterator[IssueState]:
        """The issues ``query`` finds (as JQL, see ``jql``), read page by page as the caller goes, each
        with the state's own fields and ``fields``."""
        jql = to_jql(query, tz=self.jql_timezone, bounded=self.is_cloud)
        wanted = state_fields(fields, False).split(",")
        pages = issue_pages(self, jql, wanted, page_size, cloud=self.is_cloud)
        return (issue_state(i, self._ref(str(i.get("key")), str(i.get("id"))), fields, False) for i in pages)

    def changes_since(
        self, containers: Sequence[str], since: datetime, *, page_size: int = 100
    ) -> Iterator[IssueChanges]:
        """The issues of ``containers`` updated since ``since``, page by page, each with its status, its
        comments and its changelog, all in the search's own answer: ``fields=status,comment`` and
        ``expand=changelog`` (REST v2 ``search``; an issue's ``changelog`` is ``{startAt, maxResults,
        total, histories[{id, author, created, items[{field, fieldtype, fieldId, from, fromString, to,
        toString}]}]}``, the items a ``jira:issue_updated`` webhook carries). Nothing is read per issue;
        an issue whose comment page is not whole says so (``comments_complete``), and one whose
        changelog is cut (``histories_complete``: Cloud's enhanced search returns an issue's latest 40
        histories at most, per faros-ai/airbyte-connectors#2003's migration notes; Data Center all)."""
        query = SearchQuery(containers=tuple(containers), updated_after=since)
        jql = to_jql(query, tz=self.jql_timezone, bounded=self.is_cloud)
        for issue in issue_pages(
            self, jql, CHANGE_FIELDS, page_size, cloud=self.is_cloud, expand="changelog"
        ):
            comments = (issue.get("fields") or {}).get("comment") or {}
            listed = [c for c in comments.get("comments") or [] if isinstance(c, dict)]
            changelog = issue.get("changelog") or {}
            histories = changelog.get("histories") or []
            yield IssueChanges(
                ref=self._ref(str(issue.get("key")), str(issue.get("id"))),
                issue=issue,
                histories=tuple(h for h in histories if isinstance(h, dict)),
                comments=tuple(comment_from(c) for c in listed),
                comments_complete=int(comments.get("total") or 0) <= len(listed),
                histories_complete=int(changelog.get("total") or 0) <= len(histories),
            )

    def link_types(self) -> list[LinkType]:
        """``GET /issueLinkType``, reused for ``schema_ttl`` seconds."""
        return links.link_types_from(self._meta.get("link_types", lambda: self.get_json("issueLinkType")))

    def add_remote_link(self, key: str, url: str, title: str, *, global_id: str) -> None:
        """``POST /issue/{key}/remotelink`` upserted by ``global_id``, so repeating it is harmless."""
        self.request("POST", f"issue/{key}/remotelink", body=links.remote_link_body(url, title, global_id))

    def move(self, key: str, target: Target, *, fields: Mapping[str, Any] | None = None) -> IssueRef:
        """Cloud: move the issue to ``target``'s project and issue type (the issue's own type when none)
        with the bulk move task (``move``); ``fields`` fill the target's mandatory fields (by id or name,
        checked against its create screen). Returns the issue under its new key; an issue there already
        is returned as it is. ``TrackerRejected`` when Jira refuses (permissions, fields), for the
        caller to clone instead. Data Center: ``MoveUnsupported`` (JRASERVER-71343)."""
        if not self.is_cloud:
            raise MoveUnsupported("Jira Data Center has no REST API to move issues (JRASERVER-71343)")
        data = self.get_json(f"issue/{key}", {"fields": "project,issuetype"})
        issue_id, fields_now = str(data.get("id")), data.get("fields") or {}
        issue_type = target.issue_type or str((fields_now.get("issuetype") or {}).get("name") or "")
        type_id = self._ids.issue_type_id(self._ids.project_id(target.container), issue_type)
        project_now = str((fields_now.get("project") or {}).get("key") or "")
        if (project_now, str((fields_now.get("issuetype") or {}).get("id"))) == (target.container, type_id):
            self._mover.forget(issue_id)
            return self._ref(str(data.get("key") or key), issue_id)
        schema = self.field_schema(Target(self.name, target.container, type_id)) if fields else None
        mandatory = mandatory_fields(schema, fields or {}) if schema else {}
        self._mover.move(
            issue_id, move_mapping(str(data.get("key") or key), target.container, type_id, mandatory)
        )
        moved = self.get_json(f"issue/{issue_id}", {"fields": "project"})
        return self._ref(str(moved.get("key")), issue_id)

    def subtasks(self, key: str) -> list[IssueState]:
        """The issue's sub-tasks as its ``fields.subtasks`` lists them (key, summary, status, priority,
        type: Jira REST v2's issue representation), in one read; what a checklist of sub-tasks looks
        up before it creates one."""
        data = self.get_json(f"issue/{key}", {"fields": "subtasks"})
        found = (data.get("fields") or {}).get("subtasks") or []
        return [issue_state(s, self._ref(str(s["key"]), str(s.get("id"))), (), False) for s in found]

    def subtask_type(self, project: str) -> str:
        """The id of the project's sub-task issue type (cached for ``schema_ttl``); ``TrackerRejected``
        when the project has none (a Jira admin can add one to its issue type scheme)."""
        found = self._meta.get(("subtask-type", project), lambda: subtask_type_id(self, project))
        if found is None:
            raise TrackerRejected(f"project {project} has no sub-task issue type", 400)
        return str(found)

    # -- helpers ----------------------------------------------------------------------------------

    def _ref(self, key: str, issue_id: str | None = None) -> IssueRef:
        return IssueRef(tracker=self.name, key=key, url=self.issue_url(key), id=issue_id)

    def _comment_pages(self, key: str, expand: str = "") -> Iterator[dict[str, Any]]:
        """The issue's comments, oldest first, a page per request as they are read."""
        start = 0
        while True:
            params: dict[str, Any] = {"startAt": start, "maxResults": COMMENT_PAGE, "orderBy": "created"}
            if expand:
                params["expand"] = expand
            page = self.get_json(f"issue/{key}/comment", params)
            comments = [c for c in page.get("comments") or [] if isinstance(c, dict)]
            yield from comments
            start += len(comments)
            if not comments or start >= int(page.get("total", 0)):
                return

    def _field_spec(self, id_or_name: str) -> FieldSpec:
        """A field to edit: Jira's own by id without a request, others from ``GET /field`` (cached)."""
        if id_or_name in SYSTEM_SPECS:
            return SYSTEM_SPECS[id_or_name]
        specs = self._meta.get("fields", lambda: {s.id: s for s in map(spec_from_field, self.list_fields())})
        return find_spec({**SYSTEM_SPECS, **specs}, id_or_name)

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
