"""What a Jira issue has besides its fields, for routing and automations: watchers, and the Kaiten parts
Jira refuses (checklists, archiving one issue), each with a reason that names Jira's counterpart."""

from __future__ import annotations

import json
from collections.abc import Sequence

from connector.errors import Unsupported
from connector.jira.fields import user_id
from connector.jira.files import JiraFiles
from connector.types import Checklist


class JiraParts(JiraFiles):
    """Watchers, and the refusals of what only Kaiten has; ``JiraTracker`` builds on it."""

    def add_watchers(self, key: str, users: Sequence[str]) -> None:
        """``POST /issue/{key}/watchers`` with each user as a JSON string (a user name on Data Center,
        an account id on Cloud: Atlassian's REST reference, "Add watcher"); Jira answers 204 for a user
        who watches already, so repeating it is harmless."""
        for user in users:
            self.request("POST", f"issue/{key}/watchers", body=json.dumps(user))

    def watchers(self, key: str) -> list[str]:
        """``GET /issue/{key}/watchers`` (``{"watchers": [user...]}``, Atlassian's REST reference, "Get
        issue watchers"): each as a user name on Data Center, an account id on Cloud."""
        data = self.get_json(f"issue/{key}/watchers")
        return [found for user in data.get("watchers") or [] if (found := user_id(user))]

    def archive(self, key: str, *, comment: str | None = None) -> None:
        """Jira Data Center and Cloud archive issues only in bulk, as an admin; a route closes them."""
        raise Unsupported("Jira issues are not archived one by one; close the issue with a transition")

    def checklists(self, key: str) -> list[Checklist]:
        """Jira has no checklists: its counterpart is sub-tasks (``create_issue`` with ``draft.parent``)."""
        raise Unsupported("Jira has no checklists; create sub-tasks (a draft with a parent) instead")

    def add_checklist(self, key: str, name: str, items: Sequence[str]) -> str:
        """Jira has no checklists: its counterpart is sub-tasks (``create_issue`` with ``draft.parent``)."""
        raise Unsupported("Jira has no checklists; create sub-tasks (a draft with a parent) instead")

    def check_item(self, key: str, checklist_id: str, item_id: str) -> None:
        """Jira has no checklists."""
        raise Unsupported("Jira has no checklists")
