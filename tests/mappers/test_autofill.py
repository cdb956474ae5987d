"""The autofill planner over real create screens and real source issues (read from the look-alikes, see
conftest.py): every source kind, both trackers each way, the asked fields, and every kind of error."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.loading import load_config
from config.rules import HubConfig
from config.settings import Settings
from connector.types import Choice
from mappers.autofill import Origin, RoutePlan, SourceIssue, plan_route
from tests.mappers.conftest import Readings

ROUTES = """
rules: [{name: r, target: {tracker: jira, project: SUP}}]
routes:
  jira-to-dev:                          # Jira → Jira, into a Bug that requires a Severity
    target: {tracker: jira, project: DEV, issue_type: Bug}
    mode: move
    fields:
      Severity: {from: priority, map: {Highest: Critical, High: Major}, default: Minor}
      Customer: {from: Customer}
  kaiten-to-dev:                        # Kaiten → Jira
    target: {tracker: jira, project: DEV, issue_type: Bug}
    mode: move
    fields:
      Severity: {from: Severity}
      priority: {from: asap, map: {true: Highest}, default: Medium}
      customfield_10010: {from: id_502}
  kaiten-to-kaiten:                     # within Kaiten, to an Incident card (Severity required)
    target: {tracker: kaiten, board: 10, type: 4}
    mode: move
    fields:
      Severity: {from: Severity}
      Channel: {value: [Email, Form]}
  jira-to-incident:                     # Jira → Kaiten: the Incident's Severity is asked
    target: {tracker: kaiten, board: 10, type: 4}
    mode: spawn
    fields:
      asap: {from: priority, map: {Highest: true, High: true}, default: false}
      Customer: {template: "{{ source.fields.Customer }} ({{ source.key }})"}
    carry: {labels: false, comments: false, attachments: false}
  templated:
    target: {tracker: jira, project: HW, issue_type: Task}
    mode: spawn
    fields:
      description: {template: "Reported by {{ source.fields.Customer }}: {{ source.summary }}"}
      Spare parts:
        lookup: {catalogue: parts.yaml, key: "{{ source.fields['Equipment model'] }}", column: parts}
        default: to be decided
      Contract end: {template: "{{ source.fields.nothing_here }}", default: "2027-01-31"}
  broken:
    target: {tracker: jira, project: DEV, issue_type: Bug}
    mode: spawn
    fields:
      Severity: {from: priority, map: {High: Urgent}}
      No such field: {value: x}
      Customer: {template: "{{ source.nothing }}"}
      duedate: {value: next week}
      issuetype: {value: Story}
  sandboxed:
    target: {tracker: jira, project: DB, issue_type: Task}
    mode: spawn
    fields:
      Customer: {template: "{{ source.__class__.__mro__ }}"}
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> HubConfig:
    folder = tmp_path_factory.mktemp("routes")
    (folder / "catalogues").mkdir()
    (folder / "catalogues" / "parts.yaml").write_text("LaserJet 4250: {parts: [Fuser kit, Roller]}\n")
    (folder / "hub.yaml").write_text(ROUTES, encoding="utf-8")
    return load_config(Settings(HUB_CONFIG=folder / "hub.yaml"))


@pytest.fixture(scope="module")
def shipped() -> HubConfig:
    return load_config(Settings())


def plan(
    config: HubConfig,
    readings: Readings,
    route: str,
    source: SourceIssue,
    supplied: dict[str, Any] | None = None,
) -> RoutePlan:
    target = config.routes[route].target
    container = str(getattr(target, "project", None) or getattr(target, "board", ""))
    issue_type = getattr(target, "issue_type", None) or (
        str(target.type) if getattr(target, "type", None) else None
    )
    schema = readings.schema(target.tracker, container, issue_type)
    return plan_route(route, config.routes[route], source, schema, supplied, config.catalogues)


def table(result: RoutePlan) -> dict[str, tuple[Any, str]]:
    """Each planned field by name: its value and origin, as the preview shows them."""
    return {p.field.name: (p.value, str(p.origin)) for p in result.values}


JIRA_TEXT = "h2. Printer\nThe *fuser* is broken, see [~admin] and {color:red}now{color}.\n!shot.png!"


@pytest.mark.parametrize(
    ("route", "source", "expected", "asked"),
    [
        (
            "jira-to-dev",
            "jira",
            {
                "Summary": ("Printer {{jam}} on floor 3", "copied from summary"),
                "Description": (JIRA_TEXT, "copied from description"),  # one instance: as written
                "Labels": (("printer", "vip"), "copied from labels"),
                "Reporter": ("hub", "copied from reporter"),
                "Customer": ("ACME", "copied from Customer"),
                "Severity": (Choice("10101", "Major"), "mapped High→Major"),
            },
            [],
        ),
        (
            "kaiten-to-dev",
            "kaiten",
            {
                "Summary": ("Printer jam on floor 3", "copied from summary"),
                "Description": (
                    "Printer\nThe fuser is broken, ask @alice, see docs (https://evil.example).",
                    "copied from description",
                ),
                "Priority": (Choice("1", "Highest"), "mapped true→Highest"),
                "Labels": (("vip", "needs-parts"), "copied from labels"),  # Jira labels take no spaces
                "Customer": ("ACME", "copied from id_502"),
                "Severity": (Choice("10101", "Major"), "copied from Severity"),  # Kaiten's 602 read as a name
            },
            [],
        ),
        (
            "kaiten-to-kaiten",
            "kaiten",
            {
                "Title": ("Printer jam on floor 3", "copied from summary"),
                "Description": (
                    "## Printer\nThe **fuser** is broken, ask @alice, see [docs](https://evil.example).",
                    "copied from description",
                ),
                "Tags": (("vip", "needs parts"), "copied from labels"),
                "Severity": (Choice("602", "Major"), "copied from Severity"),
                "Channel": ((Choice("611", "Email"), Choice("613", "Form")), "constant"),
            },
            [],
        ),
        (
            "jira-to-incident",
            "jira",
            {
                "Title": ("Printer {{jam}} on floor 3", "copied from summary"),
                "Description": (
                    "Printer  \nThe fuser is broken, see and now\\.  \n\\[image: shot\\.png\\]",
                    "copied from description",
                ),
                "ASAP": (True, "mapped High→true"),
                "Customer": ("ACME (SUP-1)", "template"),
            },
            ["Severity"],
        ),
    ],
)
def test_each_tracker_pair_fills_the_target(
    config: HubConfig,
    readings: Readings,
    route: str,
    source: str,
    expected: dict[str, tuple[Any, str]],
    asked: list[str],
) -> None:
    result = plan(config, readings, route, getattr(readings, source))
    assert table(result) == expected
    assert [spec.name for spec in result.asked] == asked
    assert result.errors == ()
    assert result.ready is not asked


def test_the_hardware_route_asks_for_the_spare_parts_and_nothing_else(
    shipped: HubConfig, readings: Readings
) -> None:
    result = plan(shipped, readings, "hardware", readings.jira)
    assert [(spec.id, spec.name, spec.type, spec.allowed) for spec in result.asked] == [
        ("customfield_10040", "Spare parts", "string", ())
    ]
    assert result.missing == result.asked and not result.ready
    assert table(result)["Component/s"] == ((Choice("10200", "Printers"),), "mapped LaserJet 4250→Printers")
    assert table(result)["Equipment model"] == (
        Choice("10200", "LaserJet 4250"),
        "copied from Equipment model",
    )
    assert table(result)["Priority"] == (Choice("2", "High"), "copied from priority")
    assert "Contract end" not in table(result) and "Severity" not in table(result)  # optional: left out

    for name in ("Spare parts", "customfield_10040", "spare PARTS"):  # by id, or by name as Jira shows it
        answered = plan(shipped, readings, "hardware", readings.jira, {name: "Fuser kit"})
        assert answered.ready and answered.missing == () and answered.asked == result.asked
        assert table(answered)["Spare parts"] == ("Fuser kit", "asked")


def test_parts_order_fills_the_spare_parts_from_the_catalogue(shipped: HubConfig, readings: Readings) -> None:
    result = plan(shipped, readings, "parts-order", readings.jira)
    assert result.ready and result.asked == ()
    assert table(result)["Spare parts"] == (
        "Fuser kit RM1-1082, Transfer roller RM1-1100",
        "catalogue parts.csv row LaserJet 4250",
    )
    assert table(result)["Summary"] == ("Spare parts for SUP-1: Printer {{jam}} on floor 3", "template")
    assert table(result)["Labels"] == (("parts-order",), "constant")
    assert (result.mode, result.target.container, result.comments, result.files) == ("spawn", "HW", (), ())

    unknown_model = replace(readings.jira, state=replace(readings.jira.state, fields={}))
    asked = plan(shipped, readings, "parts-order", unknown_model)
    assert [spec.name for spec in asked.missing] == ["Spare parts"] and asked.errors == ()


def test_the_database_route_sets_its_component(shipped: HubConfig, readings: Readings) -> None:
    result = plan(shipped, readings, "database", readings.jira)
    assert result.ready
    assert table(result)["Component/s"] == ((Choice("10300", "PostgreSQL"),), "constant")


def test_the_kaiten_queue_route_maps_the_priority_to_asap(shipped: HubConfig, readings: Readings) -> None:
    result = plan(shipped, readings, "to-kaiten-queue", readings.jira)
    assert result.ready and table(result)["ASAP"] == (True, "mapped High→true")
    low = replace(readings.jira, state=replace(readings.jira.state, priority="Low"))
    assert table(plan(shipped, readings, "to-kaiten-queue", low))["ASAP"] == (False, "default")
    assert [c.body for c in result.comments] == [c.body for c in readings.jira.comments]


def test_templates_escape_what_they_write_into_text_fields(config: HubConfig, readings: Readings) -> None:
    source = replace(readings.jira, state=replace(readings.jira.state, summary="Help [~admin] {html}x{html}"))
    result = plan(config, readings, "templated", source)
    description, origin = table(result)["Description"]
    assert origin == "template"
    assert description == "Reported by ACME: Help \\[\\~admin\\] \\{html\\}x\\{html\\}"
    assert table(result)["Spare parts"] == ("Fuser kit, Roller", "catalogue parts.yaml row LaserJet 4250")
    assert table(result)["Contract end"][1] == "default"  # the template rendered empty
    assert result.ready


def test_a_template_never_evaluates_what_a_customer_wrote(shipped: HubConfig, readings: Readings) -> None:
    source = replace(readings.jira, state=replace(readings.jira.state, summary="{{ 7*7 }} {% for x in y %}"))
    summary = table(plan(shipped, readings, "parts-order", source))["Summary"][0]
    assert summary == "Spare parts for SUP-1: {{ 7*7 }} {% for x in y %}"


def test_a_catalogue_miss_takes_the_default(config: HubConfig, readings: Readings) -> None:
    other = replace(
        readings.jira, state=replace(readings.jira.state, fields={"customfield_10050": {"value": "X1"}})
    )
    assert table(plan(config, readings, "templated", other))["Spare parts"] == ("to be decided", "default")


def test_every_kind_of_mistake_is_an_error_naming_the_field(config: HubConfig, readings: Readings) -> None:
    result = plan(config, readings, "broken", readings.jira, {"Colour": "red", "Priority": "Urgent"})
    errors = [str(error) for error in result.errors]
    assert (
        errors[0]
        == "Severity: 'Urgent' is not one of its values; it takes Critical, Major, Minor (mapped High→Urgent)"
    )
    assert errors[1].startswith(
        "No such field: the target has no field 'No such field'; it has Summary, Description"
    )
    assert errors[2].startswith(
        "Customer: the template failed: UndefinedError: 'dict object' has no attribute 'nothing'"
    )
    assert errors[3] == "Due Date: it takes a date (2026-12-31), not 'next week' (constant)"
    assert errors[4] == "issuetype: set by the route's target, not by a field entry"
    assert errors[5].startswith("Colour: the target has no field 'Colour'")
    assert (
        errors[6]
        == "Priority: 'Urgent' is not one of its values; it takes Highest, High, Medium, Low, Lowest"
    )
    assert len(errors) == 7
    assert [spec.name for spec in result.asked] == ["Severity"]  # its mapped value failed: asked instead
    assert not result.ready


def test_the_coordinators_value_stands_over_autofill_and_its_mistakes(
    config: HubConfig, readings: Readings
) -> None:
    result = plan(
        config, readings, "broken", readings.jira, {"Severity": "minor", "customfield_10010": "Globex"}
    )
    assert table(result)["Severity"] == (Choice("10102", "Minor"), "asked")
    assert table(result)["Customer"] == ("Globex", "asked")
    assert not any(str(e).startswith(("Severity", "Customer")) for e in result.errors)
    twice = plan(
        config, readings, "jira-to-dev", readings.jira, {"Severity": "Minor", "customfield_10020": "Major"}
    )
    assert [str(e) for e in twice.errors] == ["customfield_10020: given twice (also as 'Severity')"]
    empty = plan(config, readings, "jira-to-incident", readings.jira, {"Severity": "", "id_501": None})
    assert [spec.name for spec in empty.missing] == ["Severity"] and empty.errors == ()


def test_a_template_cannot_reach_outside_the_sandbox(config: HubConfig, readings: Readings) -> None:
    errors = [str(error) for error in plan(config, readings, "sandboxed", readings.jira).errors]
    assert errors == [
        "Customer: the template failed: SecurityError: access to attribute '__class__' of 'dict' object is unsafe."
    ]


def test_an_empty_summary_is_asked(shipped: HubConfig, readings: Readings) -> None:
    untitled = replace(readings.jira, state=replace(readings.jira.state, summary="   "))
    result = plan(shipped, readings, "database", untitled)
    assert [spec.id for spec in result.missing] == ["summary"]


def test_origins_read_as_the_preview_shows_them() -> None:
    assert [str(Origin("copied", "priority")), str(Origin("mapped", "High→Major"))] == [
        "copied from priority",
        "mapped High→Major",
    ]
    assert [str(Origin(kind)) for kind in ("constant", "template", "asked", "default")] == [
        "constant",
        "template",
        "asked",
        "default",
    ]
    assert str(Origin("catalogue", "parts.csv row X")) == "catalogue parts.csv row X"


# -- properties over any map and any coordinator input ---------------------------------------------------

ROUTE_PAIRS = [
    ("jira-to-dev", "jira"),
    ("kaiten-to-dev", "kaiten"),
    ("kaiten-to-kaiten", "kaiten"),
    ("jira-to-incident", "jira"),
    ("templated", "jira"),
]
words = st.sampled_from(
    ["Critical", "major", "Minor", "Urgent", "", "High", "611", "10101", "true", "Email, Form"]
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pair=st.sampled_from(ROUTE_PAIRS),
    mapping=st.dictionaries(st.sampled_from(["High", "Highest", "true", "Major"]), words, max_size=3),
    supplied=st.dictionaries(
        st.sampled_from(
            ["Severity", "id_501", "customfield_10020", "Priority", "Channel", "Customer", "Nope", "asap"]
        ),
        st.one_of(words, st.lists(words, max_size=3)),
        max_size=4,
    ),
)
def test_the_plan_keeps_to_allowed_values_and_asks_for_every_required_field_it_leaves(
    config: HubConfig,
    readings: Readings,
    pair: tuple[str, str],
    mapping: dict[str, str],
    supplied: dict[str, Any],
) -> None:
    route_id, source = pair
    route = config.routes[route_id]
    if "Severity" in route.fields and route.fields["Severity"].from_ is not None:
        rule = route.fields["Severity"].model_copy(
            update={"map": {k.casefold(): v for k, v in mapping.items()}}
        )
        route = route.model_copy(update={"fields": {**route.fields, "Severity": rule}})
    target = route.target
    container = str(getattr(target, "project", None) or getattr(target, "board", ""))
    issue_type = getattr(target, "issue_type", None) or (
        str(target.type) if getattr(target, "type", None) else None
    )
    schema = readings.schema(target.tracker, container, issue_type)
    result = plan_route(route_id, route, getattr(readings, source), schema, supplied, config.catalogues)

    for planned in result.values:
        if planned.field.allowed:
            chosen = planned.value if isinstance(planned.value, tuple) else (planned.value,)
            assert all(choice in planned.field.allowed for choice in chosen), planned
    filled = {planned.field.id for planned in result.values}
    for spec in schema.required:
        assert spec.id in filled or spec in result.asked or spec.id in ("project", "issuetype"), spec
    assert set(result.missing) <= set(result.asked)
    assert all(spec.required for spec in result.asked)  # nothing optional is ever asked
    assert result.ready == (not result.missing and not result.errors)


def test_field_values_are_what_the_connectors_write(shipped: HubConfig, readings: Readings) -> None:
    values = plan(shipped, readings, "hardware", readings.jira, {"Spare parts": "Fuser kit"}).field_values()
    assert values["components"] == ["10200"] and values["customfield_10050"] == "10200"
    assert values["priority"] == "2" and values["customfield_10040"] == "Fuser kit"
    assert values["labels"] == ["printer", "vip"] and values["summary"] == "Printer {{jam}} on floor 3"
