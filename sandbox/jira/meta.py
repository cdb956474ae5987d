"""Metadata: ``serverInfo``, users, fields, projects, issue types, priorities, statuses,
resolutions, link types, and createmeta (``issue/createmeta/{project}/issuetypes[/{id}]``) in the Data
Center 8.4+ shape (``{"values": [...]}`` pages) or, on Cloud, ``PageOfCreateMetaIssueTypes``
(``issueTypes``) and ``PageOfCreateMetaIssueTypeWithField`` (``fields``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.app import ApiRoute
from sandbox.jira.catalogue import (
    CLOUD_VERSION,
    DEFAULT_PRIORITY,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    SERVER_VERSION,
    STATUSES,
    FieldDef,
    IssueType,
    Project,
    User,
)
from sandbox.jira.context import (
    API_PREFIXES,
    api_url,
    catalogue,
    current_user,
    int_param,
    is_cloud,
    paged,
    project_or_404,
    site_url,
)
from sandbox.jira.errors import JiraError
from sandbox.jira.render import (
    component_json,
    field_json,
    issue_type_json,
    link_type_json,
    option_json,
    priority_json,
    project_json,
    resolution_json,
    status_json,
    user_json,
)
from sandbox.jira.store import stamp_now

bp = Blueprint("jira_meta", __name__)
api_route = ApiRoute(bp, API_PREFIXES)  # the library uses both versions


@api_route("/serverInfo")
def server_info() -> Response:
    """``deploymentType`` is what the ``jira`` library (and the hub) tell Cloud from Data Center by."""
    version = CLOUD_VERSION if is_cloud() else SERVER_VERSION
    return jsonify(
        baseUrl=site_url(),
        version=".".join(map(str, version)) + ("-SNAPSHOT" if is_cloud() else ""),
        versionNumbers=list(version),
        deploymentType="Cloud" if is_cloud() else "Server",
        buildNumber=100300 if is_cloud() else 912000,
        buildDate="2023-11-28T00:00:00.000+0000",
        serverTime=stamp_now(),
        scmInfo="trackerhub-sandbox",
        serverTitle="trackerhub sandbox Jira",
    )


@api_route("/myself")
def myself() -> Response:
    out = user_json(current_user()) or {}
    out.update(locale="en_US", groups={"size": 1, "items": []}, expand="groups,applicationRoles")
    return jsonify(out)


@api_route("/user")
def get_user() -> Response:
    if is_cloud():
        account = request.args.get("accountId") or ""
        user = catalogue().user_by_account_id(account)
        if user is None:
            raise JiraError(404, [f"Specified user with accountId '{account}' does not exist"])
        return jsonify(user_json(user.name))
    name = request.args.get("username") or request.args.get("key") or ""
    if catalogue().user(name) is None:
        raise JiraError(404, [f"The user named '{name}' does not exist"])
    return jsonify(user_json(name))


def _user_matches(user: User, query: str) -> bool:
    parts = (user.name.lower(), user.email.lower(), *user.display_name.lower().split())
    return any(part.startswith(query) for part in parts)


@api_route("/user/search")
def search_users() -> Response:
    query = (request.args.get("query" if is_cloud() else "username") or "").strip().lower()
    if not query:
        raise JiraError(400, ["The username query parameter was not provided"])
    matches = [u for u in catalogue().users() if query == "." or _user_matches(u, query)]
    start = int_param("startAt", 0)
    limit = int_param("maxResults", 50, 1, 1000)
    return jsonify([user_json(u.name) for u in matches[start : start + limit]])


@api_route("/field")
def fields_list() -> Response:
    return jsonify([field_json(f) for f in catalogue().fields.values()])


@api_route("/project")
def projects() -> Response:
    full = "issueTypes" in (request.args.get("expand") or "")
    return jsonify([project_json(p, full=full) for p in catalogue().projects])


@api_route("/project/<ref>")
def project_detail(ref: str) -> Response:
    return jsonify(project_json(project_or_404(ref), full=True))


@api_route("/project/<ref>/components")
def project_components(ref: str) -> Response:
    return jsonify([component_json(c) for c in project_or_404(ref).components])


@api_route("/project/<ref>/statuses")
def project_statuses(ref: str) -> Response:
    project = project_or_404(ref)
    statuses = [status_json(s) for s in STATUSES]
    types = catalogue().project_issue_types(project)
    return jsonify([{**issue_type_json(t), "statuses": statuses} for t in types])


@api_route("/issuetype")
def issue_types() -> Response:
    return jsonify([issue_type_json(t) for t in ISSUE_TYPES])


@api_route("/issuetype/<ref>")
def issue_type_detail(ref: str) -> Response:
    issue_type = catalogue().issue_type(ref)
    if issue_type is None:
        raise JiraError(404, [f"The issue type with id '{ref}' does not exist"])
    return jsonify(issue_type_json(issue_type))


@api_route("/priority")
def priorities() -> Response:
    return jsonify([priority_json(p, full=True) for p in PRIORITIES])


@api_route("/priority/<ref>")
def priority_detail(ref: str) -> Response:
    priority = catalogue().priority(ref)
    if priority is None:
        raise JiraError(404, [f"The priority with id '{ref}' does not exist"])
    return jsonify(priority_json(priority, full=True))


@api_route("/status")
def statuses() -> Response:
    return jsonify([status_json(s) for s in STATUSES])


@api_route("/status/<ref>")
def status_detail(ref: str) -> Response:
    status = catalogue().status(ref)
    if status is None:
        raise JiraError(404, [f"The status with id '{ref}' does not exist"])
    return jsonify(status_json(status))


@api_route("/resolution")
def resolutions() -> Response:
    return jsonify([resolution_json(r) for r in RESOLUTIONS])


@api_route("/issueLinkType")
def link_types() -> Response:
    return jsonify(issueLinkTypes=[link_type_json(t) for t in LINK_TYPES])


@api_route("/issueLinkType/<ref>")
def link_type_detail(ref: str) -> Response:
    link_type = catalogue().link_type(ref)
    if link_type is None:
        raise JiraError(404, [f"No issue link type with id '{ref}' found."])
    return jsonify(link_type_json(link_type))


@api_route("/issue/createmeta/<ref>/issuetypes")
def createmeta_issue_types(ref: str) -> Response:
    project = project_or_404(ref)
    values = [issue_type_json(t) for t in catalogue().project_issue_types(project)]
    return jsonify(_createmeta_page(values, "issueTypes"))


@api_route("/issue/createmeta/<ref>/issuetypes/<type_id>")
def createmeta_fields(ref: str, type_id: str) -> Response:
    project = project_or_404(ref)
    issue_type = catalogue().issue_type(type_id)
    if issue_type is None or issue_type.id != type_id or issue_type.id not in project.issue_type_ids:
        raise JiraError(404, [f"Issue type with id '{type_id}' does not exist in project '{project.key}'."])
    values = [createmeta_field_json(f, project, issue_type) for f in catalogue().screen(project, issue_type)]
    return jsonify(_createmeta_page(values, "fields"))


def _createmeta_page(values: list[dict[str, Any]], cloud_key: str) -> dict[str, Any]:
    """Data Center's ``values`` page, or Cloud's page with the items under ``cloud_key`` (no ``isLast``)."""
    page = paged(values, int_param("startAt", 0), int_param("maxResults", 50, 1, 200))
    if not is_cloud():
        return page
    return {
        "maxResults": page["maxResults"],
        "startAt": page["startAt"],
        "total": page["total"],
        cloud_key: page["values"],
    }


def createmeta_field_json(fdef: FieldDef, project: Project, issue_type: IssueType) -> dict[str, Any]:
    out: dict[str, Any] = {
        "required": catalogue().required(fdef, project, issue_type),
        "schema": fdef.schema,
        "name": fdef.name,
        "fieldId": fdef.id,
        "hasDefaultValue": fdef.id in ("priority", "reporter"),
        "operations": list(fdef.operations),
    }
    allowed = _allowed_values(fdef, project, issue_type)
    if allowed is not None:
        out["allowedValues"] = allowed
    if fdef.id == "priority":
        default = catalogue().priority(DEFAULT_PRIORITY)
        out["defaultValue"] = priority_json(default) if default else None
    if fdef.id in ("assignee", "reporter"):
        out["autoCompleteUrl"] = f"{api_url()}/user/search?username="
    if fdef.id == "labels":
        out["autoCompleteUrl"] = f"{site_url()}/rest/api/1.0/labels/suggest?query="
    return out


def _allowed_values(fdef: FieldDef, project: Project, issue_type: IssueType) -> list[dict[str, Any]] | None:
    if fdef.id == "project":
        return [project_json(project)]
    if fdef.id == "issuetype":
        return [issue_type_json(issue_type)]
    if fdef.id == "priority":
        return [priority_json(p) for p in PRIORITIES]
    if fdef.id == "components":
        return [component_json(c) for c in project.components]
    if fdef.options:
        return [option_json(o) for o in fdef.options]
    return None
