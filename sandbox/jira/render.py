"""Rows and catalogue entries as Jira's REST API v2 answers them: users, statuses, priorities,
projects, fields, comments, attachments, links, transitions and whole issues (with ``fields`` and
``expand`` as Jira reads them)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from sandbox.jira.catalogue import (
    CATEGORIES,
    CUSTOM_FIELDS,
    PRIORITY_COLOURS,
    RESOLUTIONS,
    TRANSITIONS,
    Component,
    FieldDef,
    IssueType,
    LinkType,
    Named,
    Project,
    Status,
    Transition,
    User,
)
from sandbox.jira.context import api_url, catalogue, is_cloud, jira_state, site_url
from sandbox.jira.store import find_issue, issue_labels

AVATAR_SIZES = ("48x48", "24x24", "16x16", "32x32")


def _avatars(kind: str, ident: str) -> dict[str, str]:
    return {size: f"{site_url()}/secure/{kind}avatar?size={size}&avatarId={ident}" for size in AVATAR_SIZES}


def user_json(name: str | None) -> dict[str, Any] | None:
    """A user as Data Center shows one (``name``, ``key``) or, on Cloud, by ``accountId`` only."""
    if name is None:
        return None
    user = jira_state().cat.user(name) or User(name, name, "")
    if is_cloud():
        ident = {"self": f"{api_url()}/user?accountId={user.account_id}", "accountId": user.account_id}
        ident["accountType"] = "atlassian"
    else:
        ident = {"self": f"{api_url()}/user?username={quote(user.name)}", "name": user.name, "key": user.name}
    return {
        **ident,
        "emailAddress": user.email,
        "avatarUrls": _avatars("user", "10122"),
        "displayName": user.display_name,
        "active": True,
        "timeZone": "UTC",
    }


def status_json(status: Status) -> dict[str, Any]:
    cid, cname, colour = CATEGORIES[status.category]
    return {
        "self": f"{api_url()}/status/{status.id}",
        "description": "",
        "iconUrl": f"{site_url()}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": {
            "self": f"{api_url()}/statuscategory/{cid}",
            "id": cid,
            "key": status.category,
            "colorName": colour,
            "name": cname,
        },
    }


def priority_json(priority: Named, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": f"{api_url()}/priority/{priority.id}",
        "iconUrl": f"{site_url()}/images/icons/priorities/{priority.name.lower()}.svg",
        "name": priority.name,
        "id": priority.id,
    }
    if full:
        out.update(statusColor=PRIORITY_COLOURS[priority.id], description=priority.description)
    return out


def resolution_json(resolution: Named) -> dict[str, Any]:
    return {
        "self": f"{api_url()}/resolution/{resolution.id}",
        "id": resolution.id,
        "description": resolution.description,
        "name": resolution.name,
    }


def issue_type_json(issue_type: IssueType) -> dict[str, Any]:
    return {
        "self": f"{api_url()}/issuetype/{issue_type.id}",
        "id": issue_type.id,
        "description": issue_type.description,
        "iconUrl": f"{site_url()}/secure/viewavatar?size=xsmall&avatarId=10318&avatarType=issuetype",
        "name": issue_type.name,
        "subtask": issue_type.subtask,
        "avatarId": 10318,
    }


def component_json(component: Component) -> dict[str, Any]:
    return {"self": f"{api_url()}/component/{component.id}", "id": component.id, "name": component.name}


def project_json(project: Project, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "expand": "description,lead,url,projectKeys",
        "self": f"{api_url()}/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "avatarUrls": _avatars("project", "10324"),
        "projectTypeKey": "software",
    }
    if full:
        out.update(
            description="",
            lead=user_json(project.lead),
            components=[component_json(c) for c in project.components],
            issueTypes=[issue_type_json(t) for t in jira_state().cat.project_issue_types(project)],
            assigneeType="UNASSIGNED",
            versions=[],
            roles={},
            projectKeys=[project.key],
        )
    return out


def link_type_json(link_type: LinkType) -> dict[str, Any]:
    return {
        "id": link_type.id,
        "name": link_type.name,
        "inward": link_type.inward,
        "outward": link_type.outward,
        "self": f"{api_url()}/issueLinkType/{link_type.id}",
    }


def field_json(fdef: FieldDef) -> dict[str, Any]:
    clause_names = [f"cf[{fdef.schema['customId']}]", fdef.name] if fdef.custom else [fdef.id]
    return {
        "id": fdef.id,
        "name": fdef.name,
        "custom": fdef.custom,
        "orderable": fdef.on_screen,
        "navigable": True,
        "searchable": True,
        "clauseNames": clause_names,
        "schema": fdef.schema,
    }


def option_json(option: Named) -> dict[str, Any]:
    return {
        "self": f"{api_url()}/customFieldOption/{option.id}",
        "value": option.name,
        "id": option.id,
        "disabled": False,
    }


def comment_json(row: sqlite3.Row, *, expand: str = "") -> dict[str, Any]:
    extra = json.loads(row["extra"])
    out: dict[str, Any] = {
        "self": f"{api_url()}/issue/{row['issue_id']}/comment/{row['id']}",
        "id": str(row["id"]),
        "author": user_json(row["author"]),
        "body": row["body"],
        "updateAuthor": user_json(row["update_author"]),
        "created": row["created"],
        "updated": row["updated"],
    }
    if extra.get("visibility"):
        out["visibility"] = extra["visibility"]
    if is_cloud():  # Cloud says on every comment whether a JSM customer sees it
        internal = any(
            p.get("key") == "sd.public.comment" and (p.get("value") or {}).get("internal")
            for p in extra.get("properties", [])
            if isinstance(p, dict)
        )
        out["jsdPublic"] = not internal
    if "properties" in expand:
        out["properties"] = extra.get("properties", [])
    return out


INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def attachment_json(row: sqlite3.Row) -> dict[str, Any]:
    content = f"{site_url()}/secure/attachment/{row['id']}/{quote(row['filename'])}"
    out: dict[str, Any] = {
        "self": f"{api_url()}/attachment/{row['id']}",
        "id": str(row["id"]),
        "filename": row["filename"],
        "author": user_json(row["author"]),
        "created": row["created"],
        "size": row["size"],
        "mimeType": row["mime_type"],
        "content": content,
    }
    if row["mime_type"] in INLINE_TYPES:
        out["thumbnail"] = content
    return out


def linked_issue_json(row: sqlite3.Row) -> dict[str, Any]:
    cat = jira_state().cat
    status = cat.status(row["status_id"])
    priority = cat.priority(row["priority_id"])
    issue_type = cat.issue_type(row["issuetype_id"])
    return {
        "id": str(row["id"]),
        "key": row["key"],
        "self": f"{api_url()}/issue/{row['id']}",
        "fields": {
            "summary": row["summary"],
            "status": status_json(status) if status else None,
            "priority": priority_json(priority) if priority else None,
            "issuetype": issue_type_json(issue_type) if issue_type else None,
        },
    }


def _subtasks(row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The issue's sub-tasks (sandbox/jira/subtasks.py), oldest first, each as a linked issue shows."""
    rows = conn.execute(
        "SELECT * FROM issue WHERE json_extract(doc, '$.parent') = ? ORDER BY id", (row["id"],)
    ).fetchall()
    return [linked_issue_json(sub) for sub in rows]


def _parent(row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection) -> dict[str, Any] | None:
    """A sub-task's parent (None on a standard issue: ``issue_json`` then leaves the field out)."""
    parent = doc.get("parent")
    found = conn.execute("SELECT * FROM issue WHERE id = ?", (parent,)).fetchone() if parent else None
    return linked_issue_json(found) if found is not None else None


def _status_category_changed(row: sqlite3.Row, conn: sqlite3.Connection) -> str:
    """``statuscategorychangedate``: the last change of status that changed its category, else the
    creation (Jira Cloud and Data Center both return the field)."""
    cat = catalogue()
    entries = conn.execute(
        "SELECT created, items FROM changelog WHERE issue_id = ? ORDER BY id DESC", (row["id"],)
    )
    for entry in entries:
        for item in json.loads(entry["items"]):
            if item.get("field") != "status":
                continue
            old, new = cat.status(item.get("from")), cat.status(item.get("to"))
            if old is None or new is None or old.category != new.category:
                return str(entry["created"])
    return str(row["created"])


def _issue_links(conn: sqlite3.Connection, issue_id: int) -> list[dict[str, Any]]:
    """Each link as seen from this issue: ``outwardIssue`` on the "from" side, else ``inwardIssue``."""
    rows = conn.execute(
        "SELECT * FROM issue_link WHERE inward_id = ? OR outward_id = ? ORDER BY id", (issue_id, issue_id)
    ).fetchall()
    out = []
    for link in rows:
        link_type = jira_state().cat.link_type(link["type_id"])
        if link_type is None:
            continue
        from_side = link["outward_id"] == issue_id
        other = find_issue(conn, str(link["inward_id"] if from_side else link["outward_id"]))
        if other is None:
            continue
        out.append(
            {
                "id": str(link["id"]),
                "self": f"{api_url()}/issueLink/{link['id']}",
                "type": link_type_json(link_type),
                ("outwardIssue" if from_side else "inwardIssue"): linked_issue_json(other),
            }
        )
    return out


FieldRenderer = Callable[[sqlite3.Row, dict[str, Any], sqlite3.Connection], Any]


def _named_or_none(value: Any, render: Callable[[Any], dict[str, Any]]) -> dict[str, Any] | None:
    return render(value) if value is not None else None


def _render_comments(row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection) -> dict[str, Any]:
    rows = conn.execute("SELECT * FROM comment WHERE issue_id = ? ORDER BY id", (row["id"],)).fetchall()
    return {
        "comments": [comment_json(c) for c in rows],
        "maxResults": len(rows),
        "total": len(rows),
        "startAt": 0,
    }


def _render_attachments(
    row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, issue_id, filename, mime_type, size, author, created FROM attachment WHERE issue_id = ? "
        "ORDER BY id",
        (row["id"],),
    ).fetchall()
    return [attachment_json(a) for a in rows]


def _render_components(
    row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection
) -> list[dict[str, Any]]:
    project = jira_state().cat.project(row["project_id"])
    by_id = {c.id: c for c in project.components} if project else {}
    return [component_json(by_id[c]) for c in doc.get("components", []) if c in by_id]


def _custom_value(fdef: FieldDef) -> FieldRenderer:
    def render(row: sqlite3.Row, doc: dict[str, Any], conn: sqlite3.Connection) -> Any:
        value = doc.get(fdef.id)
        if value is not None and fdef.schema["type"] == "option":
            option = next((o for o in fdef.options if o.id == value), None)
            return option_json(option) if option else None
        return value

    return render


FIELD_RENDERERS: dict[str, FieldRenderer] = {
    "summary": lambda r, d, c: r["summary"],
    "description": lambda r, d, c: d.get("description"),
    "labels": lambda r, d, c: issue_labels(c, r["id"]),
    "status": lambda r, d, c: _named_or_none(catalogue().status(r["status_id"]), status_json),
    "priority": lambda r, d, c: _named_or_none(catalogue().priority(r["priority_id"]), priority_json),
    "resolution": lambda r, d, c: _named_or_none(catalogue().resolution(r["resolution_id"]), resolution_json),
    "resolutiondate": lambda r, d, c: r["resolutiondate"],
    "assignee": lambda r, d, c: user_json(r["assignee"]),
    "reporter": lambda r, d, c: user_json(r["reporter"]),
    "creator": lambda r, d, c: user_json(r["creator"]),
    "issuetype": lambda r, d, c: _named_or_none(catalogue().issue_type(r["issuetype_id"]), issue_type_json),
    "project": lambda r, d, c: _named_or_none(catalogue().project(r["project_id"]), project_json),
    "created": lambda r, d, c: r["created"],
    "updated": lambda r, d, c: r["updated"],
    "statuscategorychangedate": lambda r, d, c: _status_category_changed(r, c),
    "duedate": lambda r, d, c: d.get("duedate"),
    "components": _render_components,
    "comment": _render_comments,
    "attachment": _render_attachments,
    "issuelinks": lambda r, d, c: _issue_links(c, r["id"]),
    "subtasks": _subtasks,
    "parent": _parent,
    "fixVersions": lambda r, d, c: [],
    "versions": lambda r, d, c: [],
    "environment": lambda r, d, c: None,
    **{f.id: _custom_value(f) for f in CUSTOM_FIELDS},
}


def wanted_fields(specs: Iterable[str] | None, default: str = "*all") -> list[str]:
    """Jira's ``fields`` parameter: ``*all``, ``*navigable``, names, and ``-name`` to leave one out."""
    items = [part.strip() for spec in (specs or [default]) for part in str(spec).split(",") if part.strip()]
    items = items or [default]
    chosen: list[str] = []
    for item in items:
        if item in ("*all", "*navigable"):
            chosen.extend(FIELD_RENDERERS)
        elif not item.startswith("-") and item in FIELD_RENDERERS:
            chosen.append(item)
    excluded = {item[1:] for item in items if item.startswith("-")}
    return [f for f in dict.fromkeys(chosen) if f not in excluded]


def issue_json(
    row: sqlite3.Row, conn: sqlite3.Connection, fields: Sequence[str], expand: str = ""
) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    out: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": str(row["id"]),
        "self": f"{api_url()}/issue/{row['id']}",
        "key": row["key"],
        "fields": {name: FIELD_RENDERERS[name](row, doc, conn) for name in fields},
    }
    if out["fields"].get("parent", "") is None:
        del out["fields"]["parent"]  # only a sub-task has one
    if "names" in expand:
        defs = catalogue().fields
        out["names"] = {name: defs[name].name for name in fields if name in defs}
    if "transitions" in expand:
        out["transitions"] = [transition_json(t, "fields" in expand) for t in available_transitions(row)]
    if "changelog" in expand:
        out["changelog"] = changelog_json(row, conn)
    return out


def changelog_json(row: sqlite3.Row, conn: sqlite3.Connection) -> dict[str, Any]:
    """``expand=changelog`` on an issue or a search: ``{startAt, maxResults, total, histories[]}``, each
    history ``{id, author, created, items}`` (REST v2 ``Changelog``; Cloud's search cuts it to the
    latest 40 histories, this look-alike gives all of them)."""
    rows = conn.execute(
        "SELECT id, author, created, items FROM changelog WHERE issue_id = ? ORDER BY id", (row["id"],)
    ).fetchall()
    histories = [
        {
            "id": str(h["id"]),
            "author": user_json(h["author"]),
            "created": h["created"],
            "items": json.loads(h["items"]),
        }
        for h in rows
    ]
    return {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}


def transition_json(transition: Transition, with_fields: bool = False) -> dict[str, Any]:
    status = catalogue().status(transition.to)
    assert status is not None
    out: dict[str, Any] = {
        "id": transition.id,
        "name": transition.name,
        "to": status_json(status),
        "hasScreen": False,
        "isGlobal": False,
        "isInitial": False,
        "isConditional": False,
    }
    if with_fields:
        out["fields"] = _transition_fields(transition)
    return out


def _transition_fields(transition: Transition) -> dict[str, Any]:
    status = catalogue().status(transition.to)
    if status is None or status.category != "done":
        return {}
    return {
        "resolution": {
            "required": True,
            "schema": {"type": "resolution", "system": "resolution"},
            "name": "Resolution",
            "fieldId": "resolution",
            "hasDefaultValue": True,
            "operations": ["set"],
            "allowedValues": [resolution_json(r) for r in RESOLUTIONS],
        }
    }


def available_transitions(row: sqlite3.Row) -> list[Transition]:
    return [t for t in TRANSITIONS if row["status_id"] in t.sources]


def remote_link_json(row: sqlite3.Row, issue_key: str) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    out: dict[str, Any] = {"id": row["id"], "self": f"{api_url()}/issue/{issue_key}/remotelink/{row['id']}"}
    if row["global_id"] is not None:
        out["globalId"] = row["global_id"]
    out.update({k: doc[k] for k in ("application", "relationship", "object") if k in doc})
    return out
