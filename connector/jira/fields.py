"""Jira field values: a draft as a create's ``fields``, an issue's JSON as an ``IssueState`` (a
comment's as a ``Comment``), and the create metadata (createmeta) of a project and issue type as a
neutral ``FieldSchema``.

A create names its project and issue type by id (``{"id": ...}``), read once per process from
``GET /project/{key}`` (which lists the project's issue types), so a create costs one POST after the
first. Users are ``{"accountId"}`` on Cloud and ``{"name"}`` on Data Center (research/jira.md §1.1).

Create metadata comes from the per-project endpoints both deployments have (Data Center 8.4+, where
9.0 removed the old ``/issue/createmeta?expand=``; Cloud, where the old one is deprecated):
``GET /issue/createmeta/{project}/issuetypes`` and ``.../issuetypes/{issueTypeId}``, paged with
``startAt``/``maxResults`` (at most 200). Their answers differ (research/jira.md §1.3):

- Data Center: ``{"startAt", "maxResults", "total", "isLast", "values": [...]}`` for both;
- Cloud: ``PageOfCreateMetaIssueTypes {"issueTypes": [...], "startAt", "maxResults", "total"}`` and
  ``PageOfCreateMetaIssueTypeWithField {"fields": [...], "results": [...], ...}`` (the Cloud OpenAPI
  spec in ``shared/fixtures/jira``).

A field is ``{fieldId, key?, name, required, schema {type, items?, system?, custom?}, allowedValues?,
defaultValue?, hasDefaultValue, operations}`` in both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from connector.dates import parse_date, parse_datetime
from connector.errors import TrackerRejected, UnknownTarget
from connector.jira.client import JiraClient
from connector.types import (
    DONE,
    STATUS_CATEGORIES,
    Choice,
    Comment,
    FieldSchema,
    FieldSpec,
    IssueDraft,
    IssueRef,
    IssueState,
    Target,
)

# What get_state reads besides the fields asked for.
STATE_FIELDS = (
    "status",
    "summary",
    "labels",
    "assignee",
    "reporter",
    "created",
    "updated",
    "duedate",
    "issuetype",
    "priority",
    "project",
)
CREATEMETA_PAGE = 200  # the largest maxResults the createmeta endpoints take
TEXTAREA = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"
LABELS = "com.atlassian.jira.plugin.system.customfieldtypes:labels"
SCALAR_TYPES = {
    "string": "string",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "option": "option",
    "user": "user",
    "priority": "priority",
    "component": "component",
    "version": "version",
}
ARRAY_TYPES = {"option": "options", "user": "users", "component": "component", "version": "version"}


class ProjectIds:
    """Project and issue type ids by key and name, read once per process."""

    def __init__(self, http: JiraClient) -> None:
        self._http = http
        self._project_ids: dict[str, str] = {}
        self._issue_type_ids: dict[tuple[str, str], str] = {}

    def project_id(self, key: str) -> str:
        """The id of project ``key`` (and its issue types', remembered on the way)."""
        if key not in self._project_ids:
            project = self._http.get_json(f"project/{key}")
            self._project_ids[key] = str(project["id"])
            for issue_type in project.get("issueTypes") or []:
                self._issue_type_ids[(str(project["id"]), issue_type["name"].lower())] = str(issue_type["id"])
        return self._project_ids[key]

    def issue_type_id(self, project_id: str, name_or_id: str | None) -> str:
        """The id of an issue type given by name (case-insensitive) or id, in the project."""
        if not name_or_id:
            raise TrackerRejected(f"no issue type given for project {project_id}", 400)
        if name_or_id.isdigit():
            return name_or_id
        found = self._issue_type_ids.get((project_id, name_or_id.lower()))
        if found is None:
            raise TrackerRejected(f"issue type {name_or_id!r} is not available in project {project_id}", 400)
        return found


def draft_fields(draft: IssueDraft, project_id: str, issue_type_id: str, *, cloud: bool) -> dict[str, Any]:
    """The ``fields`` of ``POST /issue`` (and of each ``/issue/bulk`` element) for a draft."""
    fields: dict[str, Any] = {
        "project": {"id": project_id},
        "issuetype": {"id": issue_type_id},
        "summary": draft.title,
        "description": draft.body,
        "labels": list(draft.labels),
    }
    if draft.priority:
        fields["priority"] = {"name": draft.priority}
    if draft.components:
        fields["components"] = [{"name": name} for name in draft.components]
    if draft.assignee:
        fields["assignee"] = user_ref(draft.assignee, cloud=cloud)
    if draft.due_date:
        fields["duedate"] = draft.due_date.isoformat()
    if draft.parent:
        fields["parent"] = {"key": draft.parent}
    fields.update(draft.custom_fields)
    return fields


def user_ref(user: str, *, cloud: bool) -> dict[str, str]:
    """A user as Jira takes one: ``accountId`` on Cloud, the user name on Data Center."""
    return {"accountId" if cloud else "name": user}


def user_id(user: Any) -> str | None:
    """The id Jira assigns a user by: Cloud's ``accountId``, Data Center's ``name`` (or ``key``)."""
    if not isinstance(user, dict):
        return None
    return str(user.get("accountId") or user.get("name") or user.get("key") or "") or None


def state_fields(wanted: Sequence[str], all_fields: bool) -> str:
    """The ``fields`` parameter of an issue read: the state's own and the ones asked for."""
    return "*all" if all_fields else ",".join(dict.fromkeys((*STATE_FIELDS, *wanted)))


def issue_state(data: dict[str, Any], ref: IssueRef, wanted: Sequence[str], all_fields: bool) -> IssueState:
    """An issue's JSON (``GET /issue/{key}``, a search hit) as the hub's ``IssueState``."""
    fields = data.get("fields") or {}
    status = fields.get("status") or {}
    category = str((status.get("statusCategory") or {}).get("key") or "")
    return IssueState(
        ref=ref,
        done=category == DONE,
        status=str(status.get("name", "")),
        summary=str(fields.get("summary") or ""),
        labels=tuple(fields.get("labels") or ()),
        fields=dict(fields) if all_fields else {name: fields.get(name) for name in wanted},
        status_category=category if category in STATUS_CATEGORIES else "",
        assignee=user_id(fields.get("assignee")),
        reporter=user_id(fields.get("reporter")),
        created=parse_datetime(fields.get("created")),
        updated=parse_datetime(fields.get("updated")),
        due_date=parse_date(fields.get("duedate")),
        issue_type=str((fields.get("issuetype") or {}).get("name") or ""),
        priority=(fields.get("priority") or {}).get("name") or None,
        container=str((fields.get("project") or {}).get("key") or ""),
    )


def comment_from(data: dict[str, Any]) -> Comment:
    """A comment's JSON (``GET /issue/{key}/comment[/{id}]``) as a ``Comment``; ``public`` from JSM's
    visibility where Jira says (None outside JSM)."""
    author = data.get("author") or {}
    return Comment(
        id=str(data.get("id", "")),
        body=str(data.get("body") or ""),
        author=user_id(author) or "",
        author_name=str(author.get("displayName") or ""),
        public=_jsm_public(data),
        created=parse_datetime(data.get("created")),
    )


def _jsm_public(comment: dict[str, Any]) -> bool | None:
    """JSM's visibility: ``jsdPublic`` (Cloud), or the ``sd.public.comment`` property (read with
    ``expand=properties``)."""
    if isinstance(comment.get("jsdPublic"), bool):
        return bool(comment["jsdPublic"])
    for prop in comment.get("properties") or []:
        if prop.get("key") == "sd.public.comment":
            return not bool((prop.get("value") or {}).get("internal"))
    return None


# -- create metadata ----------------------------------------------------------------------------------


def read_schema(http: JiraClient, target: Target) -> FieldSchema:
    """The create screen of ``target``'s project and issue type (no fields when no type is named).

    A project or issue type that is not there raises ``UnknownTarget`` listing what is.
    """
    types = _issue_types(http, target.container)
    choices = tuple(Choice(str(t.get("id")), str(t.get("name"))) for t in types)
    if target.issue_type is None:
        return FieldSchema(target, (), choices)
    wanted = target.issue_type.lower()
    found = next((c for c in choices if wanted in (c.name.lower(), c.id)), None)
    if found is None:
        names = tuple(sorted(c.name for c in choices))
        raise UnknownTarget(
            f"issue type {target.issue_type!r} is not in project {target.container}; it has {list(names)}",
            "issue type",
            names,
        )
    path = f"issue/createmeta/{target.container}/issuetypes/{found.id}"
    fields = tuple(field_spec(meta) for meta in _pages(http, path, ("values", "fields", "results")))
    return FieldSchema(target, fields, choices)


def subtask_type_id(http: JiraClient, project: str) -> str | None:
    """The id of the project's first sub-task issue type (createmeta marks each type ``subtask``), or
    None when the project has none."""
    found = next((t for t in _issue_types(http, project) if t.get("subtask") is True), None)
    return str(found["id"]) if found is not None else None


def _issue_types(http: JiraClient, project: str) -> list[dict[str, Any]]:
    try:
        return list(_pages(http, f"issue/createmeta/{project}/issuetypes", ("values", "issueTypes")))
    except TrackerRejected as exc:
        try:
            keys = tuple(sorted(str(p.get("key")) for p in http.list_projects()))
        except TrackerRejected:
            keys = ()
        raise UnknownTarget(
            f"project {project!r} is not available ({exc}); there are {list(keys)}", "project", keys
        ) from None


def _pages(http: JiraClient, path: str, keys: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Every item of a createmeta list, under whichever of ``keys`` the deployment uses."""
    start = 0
    while True:
        page = http.request("GET", path, params={"startAt": start, "maxResults": CREATEMETA_PAGE}) or {}
        items: list[Any] = next((page[k] for k in keys if isinstance(page.get(k), list)), [])
        yield from (item for item in items if isinstance(item, dict))
        start += len(items)
        if not items or page.get("isLast") is True or start >= int(page.get("total") or start):
            return


def field_spec(meta: dict[str, Any]) -> FieldSpec:
    """One createmeta field as a ``FieldSpec``; a field Jira fills by default is not required."""
    schema = meta.get("schema") or {}
    field_id = str(meta.get("fieldId") or meta.get("key") or "")
    return FieldSpec(
        id=field_id,
        name=str(meta.get("name") or field_id),
        type=field_type(schema),
        required=bool(meta.get("required")) and not meta.get("hasDefaultValue"),
        allowed=tuple(_choice(v) for v in meta.get("allowedValues") or [] if isinstance(v, dict)),
        default=meta.get("defaultValue"),
        system=not schema.get("custom"),
    )


def field_type(schema: dict[str, Any]) -> str:
    """A createmeta ``schema`` as one of the neutral field types (``any`` when none fits)."""
    kind, custom = schema.get("type"), schema.get("custom")
    if kind == "string" and (schema.get("system") in ("description", "environment") or custom == TEXTAREA):
        return "text"
    if kind == "array":
        if schema.get("system") == "labels" or custom == LABELS:
            return "labels"
        return ARRAY_TYPES.get(str(schema.get("items")), "any")
    return SCALAR_TYPES.get(str(kind), "any")


def _choice(value: dict[str, Any]) -> Choice:
    """An allowed value: options have ``value``, priorities, components and versions ``name``."""
    name = value.get("name") or value.get("value") or value.get("key") or ""
    return Choice(str(value.get("id") or value.get("key") or name), str(name))
