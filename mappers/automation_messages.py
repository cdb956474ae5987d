"""The team's messages from automations: a notification about one issue, a digest of many (pure code).

Issue fields arrive as the scan saw them (``jobs.automations.scan.issue_payload``). The texts are plain:
the Telegram client escapes them for HTML, and an e-mail carries them as text/plain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from mappers.canned import sandbox_environment
from mappers.markup import one_line

CRITICAL_MARK = "🔴"
T = TypeVar("T")


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
    ordered = critical_first(issues, lambda one: (one.get("priority"), str(one.get("key", ""))), critical)
    marked = sum(1 for issue in issues if is_critical(issue.get("priority"), critical))
    head = f"{title or rule}: {len(issues)} issue(s)" + (f", {marked} critical" if marked else "")
    lines = [head]
    for issue in ordered:
        mark = f"{CRITICAL_MARK} " if is_critical(issue.get("priority"), critical) else ""
        summary = one_line(str(issue.get("summary") or ""), 120)
        lines.append(f"{mark}{issue.get('key', '')} {summary} {issue.get('url') or ''}".rstrip())
    return "\n".join(lines)


def is_critical(priority: object, critical: Sequence[str]) -> bool:
    """Whether ``priority`` is one of the ``critical`` ones (compared without regard to case)."""
    return str(priority or "").casefold() in {c.casefold() for c in critical}


def critical_first(
    items: Sequence[T], facts: Callable[[T], tuple[object, str]], critical: Sequence[str]
) -> list[T]:
    """``items`` with the critical priorities first, each part by key; ``facts`` gives an item's
    priority and key."""

    def order(item: T) -> tuple[bool, str]:
        priority, key = facts(item)
        return not is_critical(priority, critical), key

    return sorted(items, key=order)


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
