"""``trackerhub check``: the rule file against the live tracker, as a readable report.

Every project, issue type and custom field a rule names must exist; the report says which rule, which
name, and what exists instead. Issue types are read with the per-project createmeta endpoints
(``/issue/createmeta/{project}/issuetypes``) whose shape differs on Cloud (``issueTypes``) and Data Center
(``values``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.rules import HubConfig
from config.settings import Settings
from connector.errors import TrackerError
from connector.jira import JiraTracker


@dataclass
class Problems:
    """Errors (the hub would fail) and notes (worth knowing) found by the check."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        """Lines for the terminal."""
        lines = [f"ERROR {e}" for e in self.errors] + [f"note  {n}" for n in self.notes]
        summary = (
            "OK: the rule file matches the tracker" if not self.errors else f"{len(self.errors)} error(s)"
        )
        return [*lines, summary]


def check_config(settings: Settings, config: HubConfig) -> Problems:
    """Check every Jira rule against the configured Jira."""
    problems = Problems()
    tracker = JiraTracker.from_settings(settings)
    if not settings.JIRA_URL:
        problems.errors.append("JIRA_URL is not set")
        return problems
    try:
        info = tracker.server_info()
        problems.notes.append(
            f"Jira {info.get('version', '?')} ({info.get('deploymentType', '?')}) at {tracker.url}"
        )
        fields = {f["id"]: f for f in tracker.get_json("field")}
    except TrackerError as exc:
        problems.errors.append(f"cannot reach Jira at {tracker.url}: {exc}")
        return problems
    for index, rule in enumerate(config.rules):
        where = f"rules[{index}] {rule.name!r}"
        _check_rule(tracker, where, rule.target.project, rule.target.issue_type, problems)
        for field_id in rule.fields.custom_fields:
            if field_id not in fields:
                customs = sorted(k for k in fields if k.startswith("customfield_"))
                problems.errors.append(
                    f"{where}: custom field {field_id} does not exist; there are {customs}"
                )
    return problems


def _check_rule(tracker: JiraTracker, where: str, project: str, issue_type: str, problems: Problems) -> None:
    try:
        data: Any = tracker.get_json(f"issue/createmeta/{project}/issuetypes")
    except TrackerError as exc:
        projects = sorted(str(p.get("key")) for p in _projects(tracker))
        problems.errors.append(f"{where}: project {project!r} is not available ({exc}); there are {projects}")
        return
    types = data.get("values") or data.get("issueTypes") or []
    names = {str(t.get("name")) for t in types} | {str(t.get("id")) for t in types}
    if issue_type not in names and issue_type.lower() not in {n.lower() for n in names}:
        have = sorted(str(t.get("name")) for t in types)
        problems.errors.append(
            f"{where}: issue type {issue_type!r} is not in project {project}; it has {have}"
        )


def _projects(tracker: JiraTracker) -> list[dict[str, Any]]:
    try:
        return list(tracker.get_json("project"))
    except TrackerError:
        return []
