"""The ``checklist`` action on Jira: each item a sub-task of the issue.

Jira has no checklists; its counterpart is sub-tasks (an issue of the project's sub-task type, created
with ``fields.parent``). The issue's sub-tasks are read first (one ``GET``, its ``fields.subtasks``) and
an item that already has a sub-task of its title is left alone, so a firing run again after a crash
half-way creates only the missing ones, and a stage checklist added again when the issue re-enters
its status adds nothing (as Kaiten finds its checklist by name).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from connector.types import IssueDraft, Target

if TYPE_CHECKING:
    from connector.jira.tracker import JiraTracker
    from jobs.automations.actions import ActionRun


def add_subtasks(run: ActionRun, name: str, items: Sequence[str]) -> dict[str, Any]:
    """The sub-tasks of the checklist ``name`` on the firing's issue, each item once; what was created
    and what was there already."""
    tracker = cast("JiraTracker", run.tracker)  # the firing's tracker is a Jira (behind its breaker)
    there = {state.summary.strip().casefold() for state in tracker.subtasks(run.key)}
    missing = [(n, item) for n, item in enumerate(items) if item.strip().casefold() not in there]
    created: list[str] = []
    if missing:
        project = str(run.issue.get("container") or run.key.rpartition("-")[0])
        target = Target(run.firing.tracker, project, tracker.subtask_type(project))
        markup = run.ctx.markup(run.firing.tracker)
        body = markup.escape(f"{name} ({run.key})")
        for n, item in missing:
            draft = IssueDraft(target, item, body, f"{run.marker}-{n}", parent=run.key)
            created.append(tracker.create_issue(draft).key)
    return {"checklist": name, "subtasks": created, "there": len(items) - len(missing)}
