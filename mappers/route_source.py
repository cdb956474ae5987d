"""The issue being routed, as a route sees it, pure: its fields by the names a route may use, and the
``source`` a route's templates render over.

A route names a source field by one of the names every issue has (``SourceIssue.standard_values``), by
its id (``customfield_10050``, ``id_501``), or by the name the source tracker shows (``Equipment model``);
values read as plain data (``mappers.field_values.plain_value``): an option's text, a user's id, a
Kaiten select's value names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.types import Comment, FieldSpec, IssueState, TrackerFile
from mappers.field_values import plain_value
from mappers.route_text import plain_text


@dataclass(frozen=True)
class SourceIssue:
    """The issue being routed, as the job read it.

    ``kind`` is its tracker's kind (``jira`` or ``kaiten``: the markup ``description`` and comment bodies
    are written in); ``fields`` are the source's field specs (Jira createmeta / field list, Kaiten
    properties), so a route can name a source field by its name and a select's value ids read as names.
    """

    state: IssueState
    kind: str
    description: str = ""
    fields: tuple[FieldSpec, ...] = ()
    comments: tuple[Comment, ...] = ()
    files: tuple[TrackerFile, ...] = ()

    def standard_values(self) -> dict[str, Any]:
        """The fields every issue has, by the names a route may use for them (lowercase)."""
        state = self.state
        return {
            "summary": state.summary,
            "title": state.summary,
            "description": self.description,
            "priority": state.priority,
            "asap": (state.priority or "").casefold() == "asap" if self.kind == "kaiten" else None,
            "labels": state.labels,
            "tags": state.labels,
            "reporter": state.reporter,
            "assignee": state.assignee,
            "responsible": state.assignee,
            "status": state.status,
            "issue_type": state.issue_type,
            "issuetype": state.issue_type,
            "due_date": state.due_date,
            "duedate": state.due_date,
            "created": state.created,
            "key": state.ref.key,
            "project": state.container,
            "board": state.container,
        }

    def value(self, name: str) -> tuple[Any, bool]:
        """A field's plain value by a standard name, its id or its name; and whether it is markup text
        (the description, a multi-line text field) rather than plain."""
        folded, standard = name.casefold(), self.standard_values()
        if folded in standard:
            return standard[folded], folded == "description"
        spec = next((s for s in self.fields if s.id == name), None) or next(
            (s for s in self.fields if s.name.casefold() == folded), None
        )
        raw = self.state.fields.get(spec.id if spec is not None else name)
        if raw is None and spec is None:
            raw = next((v for k, v in self.state.fields.items() if k.casefold() == folded), None)
        return plain_value(raw, spec), spec is not None and spec.type == "text"

    def template_variables(self) -> dict[str, Any]:
        """What a route's template sees as ``source``: ``key``, ``url``, ``summary``, ``description``
        (plain text), ``status``, ``priority``, ``labels``, ``reporter``, ``assignee``, ``issue_type``,
        ``project``, ``due_date``, ``created``, and ``fields`` by id and by name (a field the issue does
        not have is empty, not an error)."""
        state = self.state
        specs = {spec.id: spec for spec in self.fields}
        fields = _Fields()
        for spec in self.fields:
            if spec.id in state.fields:
                fields[spec.name] = plain_value(state.fields[spec.id], spec)
        for field_id, raw in state.fields.items():
            fields[field_id] = plain_value(raw, specs.get(field_id))
        standard = self.standard_values()
        shown = ("summary", "status", "priority", "reporter", "assignee", "issue_type", "project", "due_date")
        return {
            **{name: standard[name] for name in (*shown, "created", "key")},
            "url": state.ref.url,
            "labels": list(state.labels),
            "description": plain_text(self.description, self.kind),
            "fields": fields,
        }


class _Fields(dict[str, Any]):
    """A source's fields for templates: a field the issue does not have is empty, not an error."""

    def __missing__(self, key: str) -> None:
        return None
