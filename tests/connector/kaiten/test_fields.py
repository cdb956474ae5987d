"""KaitenTracker.field_schema: card types, custom properties and their select values as a FieldSchema.

The answers are Kaiten's live shapes (tests/fixtures/kaiten/SOURCES.md, files in api/): a card type whose
``card_properties`` mark a property (by uid) required, a ``select`` property and its select values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.errors import TrackerRejected, UnknownTarget
from connector.kaiten import KaitenTracker
from connector.types import Choice, Target
from sandbox.server import RunningSandbox
from tests.conftest import REPO_ROOT
from tests.connector.kaiten.factories import API, ORIGIN, TOKEN
from tests.sandboxes import run_kaiten as run_in_thread

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "kaiten" / "api"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def select_property() -> dict[str, Any]:
    """The live select property, given the uid the live card type's ``card_properties`` names."""
    return {**fixture("custom_property_select.sanitized-live.json"), "uid": "prop-uid-1"}


def catalogue(rsps: responses.RequestsMock, card_types: list[dict[str, Any]]) -> list[Any]:
    """Mock the three reads a schema takes; return them, to count their calls."""
    text = {"id": 102, "uid": "prop-uid-2", "name": "Notes", "type": "string", "multiline": True}
    values = fixture("custom_property_select_values.shape-from-live.json")
    return [
        rsps.get(API + "/card-types", json=card_types),
        rsps.get(API + "/company/custom-properties", json=[select_property(), text]),
        rsps.get(API + "/company/custom-properties/101/select-values", json=values),
    ]


def kaiten(clock: list[float] | None = None) -> KaitenTracker:
    now = clock or [0.0]
    return KaitenTracker(ORIGIN, TOKEN, read_retries=0, schema_ttl=300, clock=lambda: now[0])


def test_a_card_types_required_properties_and_select_values() -> None:
    with responses.RequestsMock() as rsps:
        catalogue(rsps, [fixture("card_type.sanitized-live.json")])
        schema = kaiten().field_schema(Target("kaiten", "10", issue_type="123"))
    assert schema.issue_types == (Choice("123", "Bug"),)
    assert [f.id for f in schema.required] == ["title", "id_101"]  # card_properties: prop-uid-1 required
    team = schema.field("Team")
    assert team is not None and (team.id, team.type, team.system) == ("id_101", "option", False)
    assert team.allowed == (Choice("1", "iOS"), Choice("2", "Android"))
    notes, due = schema.field("id_102"), schema.field("due_date")
    assert notes is not None and (notes.type, notes.required) == ("text", False)
    assert due is not None and (due.type, due.required, due.system) == ("date", False, True)


def test_the_deprecated_properties_map_still_marks_required_fields() -> None:
    legacy = {"id": 5, "name": "Request", "properties": {"id_101": True, "due_date": True, "id_102": False}}
    with responses.RequestsMock() as rsps:
        catalogue(rsps, [legacy])
        schema = kaiten().field_schema(Target("kaiten", "10", issue_type="5"))
    assert [f.id for f in schema.required] == ["title", "due_date", "id_101"]


def test_without_a_type_nothing_but_the_title_is_required() -> None:
    with responses.RequestsMock() as rsps:
        catalogue(rsps, [fixture("card_type.sanitized-live.json")])
        schema = kaiten().field_schema(Target("kaiten", "10"))
    assert [f.id for f in schema.required] == ["title"]


def test_an_unknown_card_type_says_which_exist() -> None:
    with responses.RequestsMock() as rsps:
        catalogue(rsps, [fixture("card_type.sanitized-live.json")])
        with pytest.raises(UnknownTarget) as caught:
            kaiten().field_schema(Target("kaiten", "10", issue_type="77"))
    assert (caught.value.part, caught.value.available) == ("card type", ("123 Bug",))
    assert isinstance(caught.value, TrackerRejected) and "card type 77 does not exist" in str(caught.value)


def test_one_catalogue_read_serves_every_target_until_the_ttl_runs_out() -> None:
    clock = [50.0]
    with responses.RequestsMock() as rsps:
        reads = catalogue(rsps, [fixture("card_type.sanitized-live.json")])
        tracker = kaiten(clock)
        on_board_10 = tracker.field_schema(Target("kaiten", "10", issue_type="123"))
        on_board_20 = tracker.field_schema(Target("kaiten", "20", column="201"))
        assert (on_board_10.target.container, on_board_20.target.container) == ("10", "20")
        assert [r.call_count for r in reads] == [1, 1, 1]
        clock[0] += 301
        tracker.field_schema(Target("kaiten", "10"))
        assert [r.call_count for r in reads] == [2, 2, 2]


# -- against the Kaiten look-alike ---------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_in_thread(tmp_path / "kaiten.sqlite3") as running:
        yield running


def test_the_sandboxes_types_and_properties(sandbox: RunningSandbox) -> None:
    schema = KaitenTracker(sandbox.url, "t", timeout=5).field_schema(Target("kaiten", "10", issue_type="2"))
    assert [c.name for c in schema.issue_types] == ["Card", "Bug", "Request", "Incident"]
    assert [f.id for f in schema.required] == ["title"]
    types = {f.name: f.type for f in schema.fields if not f.system}
    assert types == {
        "Severity": "option",
        "Customer": "string",
        "Channel": "options",
        "Order number": "number",
        "Contract end": "date",
    }
    severity = schema.field("id_501")
    assert severity is not None and [c.name for c in severity.allowed] == ["Critical", "Major", "Minor"]


def test_the_sandboxes_incident_type_requires_a_severity(sandbox: RunningSandbox) -> None:
    """A card type with a required custom property (``card_properties``), so routing has a field to ask."""
    schema = KaitenTracker(sandbox.url, "t", timeout=5).field_schema(Target("kaiten", "10", issue_type="4"))
    assert [(f.id, f.name) for f in schema.required] == [("title", "Title"), ("id_501", "Severity")]
