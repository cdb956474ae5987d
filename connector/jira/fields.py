"""Jira field values: a draft as the ``fields`` of a create request, with project and issue type ids.

A create names its project and issue type by id (``{"id": ...}``), read once per process from
``GET /project/{key}`` (which lists the project's issue types), so a create costs one POST after the
first. Users are ``{"accountId"}`` on Cloud and ``{"name"}`` on Data Center (research/jira.md §1.1).
"""

from __future__ import annotations

from typing import Any

from connector.errors import TrackerRejected
from connector.jira.client import JiraClient
from connector.types import IssueDraft


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

    def issue_type_id(self, project_id: str, name_or_id: str) -> str:
        """The id of an issue type given by name (case-insensitive) or id, in the project."""
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
    fields.update(draft.custom_fields)
    return fields


def user_ref(user: str, *, cloud: bool) -> dict[str, str]:
    """A user as Jira takes one: ``accountId`` on Cloud, the user name on Data Center."""
    return {"accountId" if cloud else "name": user}
