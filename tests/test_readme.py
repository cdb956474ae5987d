"""README.md tells an admin every Jira permission the hub's user needs for what the connector does."""

from __future__ import annotations

import pytest

from connector.jira import JiraTracker
from tests.conftest import REPO_ROOT

# what JiraTracker does → the Jira project permission it needs (Jira's own names)
NEEDED = {
    "create_issue": "Create Issues",
    "create_issues": "Create Issues",
    "get_state": "Browse Projects",
    "add_comment": "Add Comments",
    "add_internal_comment": "Add Comments",
    "update_comment": "Edit All Comments",  # the engineer's comment, for an in-place ::key expansion
    "attach_files": "Create Attachments",
    "link_issues": "Link Issues",
    "link": "Link Issues",
    "field_schema": "Create Issues",  # createmeta lists what the user may create
    "comments": "Browse Projects",
    "search": "Browse Projects",
    "transitions": "Browse Projects",
    "link_types": "Browse Projects",
    "transition": "Transition Issues",
    "update_fields": "Edit Issues",
    "assign": "Assign Issues",
    "add_remote_link": "Link Issues",
    "move": "Move Issues",
}
# operations that need a second permission besides the one above
ALSO_NEEDED = {
    "transition": "Resolve Issues",  # a resolution set on the way
    "move": "Bulk Change",  # Cloud's bulk move: a global permission
}


def jira_section() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index("## Connecting a real Jira")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize(("operation", "permission"), sorted(NEEDED.items()))
def test_readme_lists_the_jira_permission_each_operation_needs(operation: str, permission: str) -> None:
    assert callable(getattr(JiraTracker, operation, None)), f"JiraTracker has no {operation} any more"
    assert f"*{permission}*" in jira_section()


@pytest.mark.parametrize(("operation", "permission"), sorted(ALSO_NEEDED.items()))
def test_readme_lists_the_second_permission_some_operations_need(operation: str, permission: str) -> None:
    assert callable(getattr(JiraTracker, operation, None)), f"JiraTracker has no {operation} any more"
    assert f"*{permission}*" in jira_section()
