"""What the route planner's tests plan over, read once per session from the look-alikes through the real
connectors: the targets' create screens (Jira createmeta, Kaiten card types and properties) and source
issues (a Jira issue and a Kaiten card created there and read back with their comments)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from connector.jira import JiraTracker
from connector.kaiten import KaitenTracker
from connector.types import FieldSchema, IssueDraft, Target
from mappers.autofill import SourceIssue
from tests.sandboxes import run_jira, run_kaiten

JIRA_DESCRIPTION = "h2. Printer\nThe *fuser* is broken, see [~admin] and {color:red}now{color}.\n!shot.png!"
KAITEN_DESCRIPTION = "## Printer\nThe **fuser** is broken, ask @alice, see [docs](https://evil.example)."


@dataclass(frozen=True)
class Readings:
    """Create screens by (tracker, container, issue type), and one source issue per tracker kind."""

    schemas: dict[tuple[str, str, str | None], FieldSchema]
    jira: SourceIssue
    kaiten: SourceIssue

    def schema(self, tracker: str, container: str, issue_type: str | None = None) -> FieldSchema:
        return self.schemas[(tracker, container, issue_type)]


JIRA_TARGETS = (("SUP", "Task"), ("HW", "Task"), ("DB", "Task"), ("DEV", "Bug"))
KAITEN_TYPES = (None, "1", "4")  # any card; a plain card; an Incident, which requires Severity


@pytest.fixture(scope="session")
def readings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readings]:
    folder = tmp_path_factory.mktemp("routing-lookalikes")
    with run_jira(folder / "jira.sqlite3") as jira_site, run_kaiten(folder / "kaiten.sqlite3") as kaiten_site:
        jira = JiraTracker(jira_site.url, token="sandbox")
        kaiten = KaitenTracker(kaiten_site.url, "sandbox")
        schemas = {("jira", p, t): jira.field_schema(Target("jira", p, t)) for p, t in JIRA_TARGETS}
        schemas.update(
            {("kaiten", "10", t): kaiten.field_schema(Target("kaiten", "10", t)) for t in KAITEN_TYPES}
        )
        yield Readings(schemas, _jira_source(jira, schemas), _kaiten_source(kaiten, schemas))


def _jira_source(jira: JiraTracker, schemas: dict[tuple[str, str, str | None], FieldSchema]) -> SourceIssue:
    draft = IssueDraft(
        target=Target("jira", "SUP", "Task"),
        title="Printer {{jam}} on floor 3",
        body=JIRA_DESCRIPTION,
        idempotency_key="hub-source-1",
        labels=("vip", "printer"),
        priority="High",
        custom_fields={"customfield_10050": {"id": "10200"}, "customfield_10010": "ACME"},
        requester="jsmith",
    )
    key = jira.create_issue(draft).key
    jira.add_comment(key, "First look: the *drum* is fine.", "m1")
    jira.add_comment(key, "Customer says [~admin] promised a fix.", "m2")
    state = jira.get_state(key, all_fields=True)
    return SourceIssue(
        state=state,
        kind="jira",
        description=str(state.fields.get("description") or ""),
        fields=schemas[("jira", "SUP", "Task")].fields,
        comments=tuple(jira.comments(key)),
    )


def _kaiten_source(
    kaiten: KaitenTracker, schemas: dict[tuple[str, str, str | None], FieldSchema]
) -> SourceIssue:
    draft = IssueDraft(
        target=Target("kaiten", "10", "1", column="101"),
        title="Printer jam on floor 3",
        body=KAITEN_DESCRIPTION,
        idempotency_key="hub-source-2",
        labels=("vip", "needs parts"),
        priority="asap",
        custom_fields={"id_501": [602], "id_502": "ACME"},
    )
    key = kaiten.create_issue(draft).key
    kaiten.add_comment(key, "First look: the **drum** is fine.", "m1")
    # Kaiten's full read holds the properties; the description is a card field, asked for by name
    state = kaiten.get_state(key, fields=("description", "id_501", "id_502"))
    return SourceIssue(
        state=state,
        kind="kaiten",
        description=str(state.fields.pop("description") or ""),
        fields=schemas[("kaiten", "10", None)].fields,
        comments=tuple(kaiten.comments(key)),
    )
