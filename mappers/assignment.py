"""Whom an ``assign`` action picks: pure, the day and the open issues passed in.

``least_open`` (load-aware): among the listed users not away today (``absences``), the one with the
fewest open issues; a tie goes to the one listed first, so the choice is the same on a retry. The open
issues come from one search (:func:`load_query`: not done, assigned to any of the candidates, in the
rule's projects or boards), not one per user. ``round_robin``: the user after the last one chosen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date

from config.automation_actions import AssignAction
from connector.types import IssueState, SearchQuery


def load_query(action: AssignAction, day: date, containers: Sequence[str]) -> SearchQuery | None:
    """The search counting the open issues of ``least_open``'s available users; None when nobody is
    available."""
    available = action.available(day)
    if not available:
        return None
    return SearchQuery(containers=tuple(containers), assignees=available, not_done=True)


def least_open(action: AssignAction, day: date, open_issues: Iterable[IssueState]) -> str | None:
    """The available user with the fewest of ``open_issues``, the first listed on a tie; None when
    everyone is away."""
    available = action.available(day)
    load = Counter(issue.assignee for issue in open_issues if issue.assignee in available and not issue.done)
    return min(available, key=lambda user: (load[user], available.index(user)), default=None)


def next_in_turn(users: Sequence[str], last: str | None) -> str:
    """``round_robin``: the user after ``last`` (the first when ``last`` is none of them)."""
    if not users:
        raise ValueError("round_robin needs at least one user")
    if last not in users:
        return users[0]
    return users[(users.index(last) + 1) % len(users)]
