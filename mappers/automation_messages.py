"""The team's messages from automations: a notification about one issue, a digest of many (pure code).

Issue fields arrive as the scan saw them (``jobs.automations.scan.issue_payload``). The texts are plain:
the Telegram client escapes them for HTML, and an e-mail carries them as text/plain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mappers.canned import sandbox_environment
from mappers.markup import one_line

CRITICAL_MARK = "🔴"


def notification_text(rule: str, issue: Mapping[str, Any], note: str = "") -> str:
    """``[KEY] summary``, its status, priority and assignee, and its link."""
    lines = [f"[{issue.get('key', '')}] {one_line(str(issue.get('summary') or ''), 200)}"]
    if note:
        lines.append(note)
    facts = [
        f"status: {issue.get('status') or '-'}",
        f"priority: {issue.get('priority') or '-'}",
        f"assignee: {issue.get('assignee') or 'nobody'}",
    ]
    lines.append(", ".join(facts))
    if issue.get("url"):
        lines.append(str(issue["url"]))
    lines.append(f"(automation {rule})")
    return "\n".join(lines)


def digest_text(rule: str, title: str, issues: Sequence[Mapping[str, Any]], critical: Sequence[str]) -> str:
    """One line per issue, the critical priorities first and marked, with a count on top."""
    wanted = {c.casefold() for c in critical}

    def is_critical(issue: Mapping[str, Any]) -> bool:
        return str(issue.get("priority") or "").casefold() in wanted

    ordered = sorted(issues, key=lambda issue: (not is_critical(issue), str(issue.get("key", ""))))
    marked = sum(1 for issue in issues if is_critical(issue))
    head = f"{title or rule}: {len(issues)} issue(s)" + (f", {marked} critical" if marked else "")
    lines = [head]
    for issue in ordered:
        mark = f"{CRITICAL_MARK} " if is_critical(issue) else ""
        summary = one_line(str(issue.get("summary") or ""), 120)
        lines.append(f"{mark}{issue.get('key', '')} {summary} {issue.get('url') or ''}".rstrip())
    return "\n".join(lines)


def render_text(template: str, issue: Mapping[str, Any]) -> str:
    """A rule's text template (``{{ issue.key }}``, a date rule's ``{{ due_date }}``, a ``linked_resolved``
    rule's ``{{ linked.key }}``, an ``sla`` rule's ``{{ sla.state }}`` and ``{{ sla.remaining }}``) rendered
    in the sandboxed environment canned responses use; a text without ``{`` is returned as it is."""
    if "{" not in template:
        return template
    environment = sandbox_environment()
    variables = {
        "issue": dict(issue),
        "due_date": issue.get("date") or "",
        "linked": dict(issue.get("linked") or {}),  # linked_resolved: the resolved issue (key, summary, url)
    }
    if "sla" in issue:
        variables["sla"] = issue["sla"]
    return str(environment.from_string(template).render(**variables))
