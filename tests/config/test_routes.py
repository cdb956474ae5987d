"""The ``routes:`` section: the shipped routes, where a route is offered, and every mistake reported by the
file, the route and the field."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from config.loading import ConfigError, load_config
from config.routes import available_trackers, offered_routes, unavailable_routes
from config.settings import Settings
from config.source import FileSource
from config.targets import JiraTarget, KaitenTarget

JIRA_ONLY = {"JIRA_URL": "https://jira.example.com"}
BOTH = {**JIRA_ONLY, "KAITEN_URL": "https://kaiten.example.com"}

BASE = """
targets:
  hardware: {tracker: jira, project: HW}
rules:
  - {name: default, target: {tracker: jira, project: SUP}}
routes:
"""


def write(
    tmp_path: Path, routes: str, *, catalogue: str | None = "model,parts\nLaserJet 4250,Fuser kit\n"
) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE + routes, encoding="utf-8")
    if catalogue is not None:
        (tmp_path / "catalogues").mkdir(exist_ok=True)
        (tmp_path / "catalogues" / "parts.csv").write_text(catalogue, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(Settings(HUB_CONFIG=path))
    return str(caught.value).splitlines()


def test_the_shipped_routes_load_from_the_environment_alone() -> None:
    config = load_config(Settings())
    assert list(config.routes) == ["hardware", "database", "parts-order", "to-kaiten-queue"]
    hardware, database = config.routes["hardware"], config.routes["database"]
    assert (hardware.target, hardware.mode) == (JiraTarget(project="HW", issue_type="Task"), "move")
    assert (database.target, database.mode) == (JiraTarget(project="DB", issue_type="Task"), "move")
    parts = config.routes["parts-order"]
    assert (parts.target, parts.mode) == (JiraTarget(project="HW", issue_type="Task"), "spawn")
    lookup = parts.fields["Spare parts"].lookup
    assert lookup is not None and (lookup.catalogue, lookup.column) == ("parts.csv", "parts")
    assert config.catalogues["parts.csv"].row("laserjet 4250") is not None
    assert "Spare parts" not in hardware.fields  # left for the coordinator: the asked field
    kaiten = config.routes["to-kaiten-queue"]
    assert kaiten.target == KaitenTarget(board=10, column=101)
    assert (hardware.label_in("ru", "hardware"), hardware.label_in("de", "hardware")) == (
        "Отдел оборудования",
        "Hardware team",
    )
    assert hardware.notify.telegram_chat is None and hardware.notify.email == ()


def test_the_shipped_routes_take_their_project_and_team_from_the_settings() -> None:
    config = load_config(
        Settings(
            JIRA_PROJECT="HELP",
            KAITEN_URL="https://k.example",
            KAITEN_BOARD_ID=7,
            KAITEN_COLUMN_ID=70,
            TELEGRAM_TEAM_CHAT_ID="-1001234",
            HUB_TEAM_EMAIL="hw@example.com, lead@example.com",
        )
    )
    hardware = config.routes["hardware"]
    assert hardware.offered.includes("jira", "HELP", "Task") and not hardware.offered.includes(
        "jira", "SUP", "Task"
    )
    assert hardware.notify.telegram_chat == -1001234
    assert hardware.notify.email == ("hw@example.com", "lead@example.com")
    assert config.routes["to-kaiten-queue"].target == KaitenTarget(board=7, column=70)


@pytest.mark.parametrize(
    ("environment", "project", "expected"),
    [
        (JIRA_ONLY, "SUP", ["hardware", "database", "parts-order"]),
        (BOTH, "SUP", ["hardware", "database", "parts-order", "to-kaiten-queue"]),
        (BOTH, "DEV", ["parts-order"]),  # the moves are offered in the support project only
        ({}, "SUP", []),  # no tracker at all: nothing to route to
    ],
)
def test_a_route_is_offered_where_it_says_and_only_when_its_target_tracker_exists(
    environment: dict[str, str], project: str, expected: list[str]
) -> None:
    settings = Settings(**environment)  # type: ignore[arg-type]
    config = load_config(settings)
    offered = offered_routes(config, settings, tracker="jira", container=project, issue_type="Task")
    assert list(offered) == expected
    kaiten_card = offered_routes(config, settings, tracker="kaiten", container="10", issue_type="1")
    assert list(kaiten_card) == []  # the shipped routes are all offered on Jira issues


def test_a_route_to_an_absent_tracker_is_one_info_line_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="config.routes")
    FileSource(Settings(**JIRA_ONLY))  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.name == "config.routes"]
    assert lines == ["routes.unavailable route=to-kaiten-queue tracker=kaiten reason=KAITEN_URL-not-set"]
    caplog.clear()
    FileSource(Settings(**BOTH))  # type: ignore[arg-type]
    assert [r for r in caplog.records if r.name == "config.routes"] == []


def test_routes_on_the_files_own_trackers_are_always_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TOKEN", "t")
    path = tmp_path / "hub.yaml"
    path.write_text(
        "trackers:\n  ops: {kind: kaiten, url: https://ops.example, token_env: OPS_TOKEN}\n"
        "rules: [{name: r, target: {tracker: jira, project: SUP}}]\n"
        "routes:\n  to-ops: {target: {tracker: ops, board: 3}, mode: spawn}\n"
        "  to-kaiten: {target: {tracker: kaiten, board: 3}, mode: spawn}\n",
        encoding="utf-8",
    )
    settings = Settings(HUB_CONFIG=path)
    config = load_config(settings)
    trackers = available_trackers(settings, config.trackers)
    assert trackers == {"ops"}
    assert unavailable_routes(config.routes, trackers) == {"to-kaiten": "kaiten"}


def test_field_rules_of_every_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
  r:
    offered: {trackers: jira, projects: [SUP, 10], issue_types: Task}
    target: hardware
    mode: move
    fields:
      priority: {from: priority, map: {Highest: Critical, true: Major, 3: Minor}, default: Minor}
      components: {value: [Printers]}
      summary: {template: "{{ source.key }}: {{ source.summary }}"}
      "Spare parts": {lookup: {catalogue: parts.csv, key: "{{ source.fields['Equipment model'] }}", column: parts}}
      "Contract end": {template: "{{ source.fields.customfield_10030 }}", default: null}
    carry: {comments: false}
    source_fate: {transition: Done, resolution: "Won't Do", comment: "Handed to the hardware team"}
    link_type: Cloners
    notify: {telegram_chat: "@hw_team", email: [hw@example.com], watchers: [jsmith, 42]}
    customer_notice: routed
""",
    )
    (tmp_path / "canned").mkdir()  # the notice names a canned response, which must exist
    (tmp_path / "canned" / "routed.en.md").write_text("---\ntitle: Routed\n---\nMoved.", encoding="utf-8")
    route = load_config(Settings(HUB_CONFIG=path)).routes["r"]
    assert route.offered.trackers == ("jira",) and route.offered.projects == ("SUP", "10")
    assert route.offered.includes("jira", "sup", "task") and not route.offered.includes(
        "kaiten", "SUP", "Task"
    )
    priority = route.fields["priority"]
    assert (priority.source, priority.from_, priority.default) == ("from", "priority", "Minor")
    assert priority.map == {
        "highest": "Critical",
        "true": "Major",
        "3": "Minor",
    }  # keys as a source value's text
    assert route.fields["components"].source == "value" and route.fields["summary"].source == "template"
    assert route.fields["Spare parts"].source == "lookup"
    assert route.fields["Contract end"].has_default and not priority.map.get("high")
    assert (route.carry.comments, route.carry.description, route.carry.attachments) == (False, True, True)
    assert route.source_fate is not None and route.source_fate.comment == "Handed to the hardware team"
    assert route.notify.watchers == ("jsmith", "42") and route.notify.telegram_chat == "@hw_team"


def where(route: str = "r") -> str:
    return f"routes.{route}: "


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ("  r: {target: hardware}\n", where() + "mode: Field required"),
        (
            "  r: {target: nowhere, mode: move}\n",
            where() + "target: unknown target 'nowhere'; the targets are hardware",
        ),
        (
            "  r: {target: {tracker: jira}, mode: move}\n",
            where() + "target.project: Field required",
        ),
        ("  r: {target: hardware, mode: copy}\n", where() + "mode: Input should be 'move' or 'spawn'"),
        (
            "  r: {target: hardware, mode: move, fields: {priority: {from: priority, value: High}}}\n",
            where() + "fields.priority: give exactly one of from, value, template, lookup; got from, value",
        ),
        (
            "  r: {target: hardware, mode: move, fields: {priority: {default: High}}}\n",
            where() + "fields.priority: give exactly one of from, value, template, lookup",
        ),
        (
            "  r: {target: hardware, mode: move, fields: {priority: {value: High, map: {a: b}}}}\n",
            where() + "fields.priority: map translates a source field's values: it goes with from",
        ),
        (
            "  r: {target: hardware, mode: move, fields: {priority: {form: priority}}}\n",
            where() + "fields.priority.form: Extra inputs are not permitted",
        ),
        (
            "  r: {target: hardware, mode: move, fields: {priority: {from: p, map: {High: A, high: B}}}}\n",
            where() + "fields.priority.map: keys written twice (case aside): ['high']",
        ),
        (
            "  r: {target: hardware, mode: move, fields: {summary: {template: '{{ source.summary '}}}\n",
            where() + "fields.summary.template: template syntax error on line 1",
        ),
        (
            "  r:\n    target: hardware\n    mode: move\n    fields:\n      Spare parts:\n"
            "        lookup: {catalogue: nope.csv, key: '{{ source.key }}', column: parts}\n",
            where() + "fields.Spare parts.lookup: no catalogue 'nope.csv' in ",
        ),
        (
            "  r:\n    target: hardware\n    mode: move\n    fields:\n      Spare parts:\n"
            "        lookup: {catalogue: parts.csv, key: '{{ source.key }}', column: part}\n",
            where()
            + "fields.Spare parts.lookup: catalogue parts.csv has no column 'part'; it has model, parts",
        ),
        (
            "  r:\n    target: hardware\n    mode: move\n    fields:\n      Spare parts:\n"
            "        lookup: {catalogue: parts.csv, key: '{% if %}', column: parts}\n",
            where() + "fields.Spare parts.lookup.key: template syntax error on line 1",
        ),
        (
            "  r: {target: hardware, mode: move, offered: {trackers: [jria]}}\n",
            where() + "offered.trackers: unknown tracker(s) ['jria']; the trackers are jira, kaiten",
        ),
        (
            "  r: {target: hardware, mode: spawn, source_fate: {transition: Done}}\n",
            where() + "source_fate: spawn leaves the source open: remove source_fate, or use mode: move",
        ),
        (
            "  r: {target: hardware, mode: move, offered: {trackers: [jira]}, source_fate: {column: 103}}\n",
            where() + "source_fate: column: Kaiten's; a Jira source takes transition and resolution",
        ),
        (
            "  r: {target: hardware, mode: move, offered: {trackers: [kaiten]}, source_fate: {transition: Done}}\n",
            where() + "source_fate: transition: Jira's; a Kaiten source takes column or archive",
        ),
        (
            "  r: {target: hardware, mode: move, source_fate: {column: 103, archive: true}}\n",
            where() + "source_fate: a Kaiten source goes to a column or to the archive, not both",
        ),
        (
            "  r: {target: hardware, mode: move, notify: {email: [not-an-address]}}\n",
            where() + "notify.email: not e-mail addresses: ['not-an-address']",
        ),
        (
            "  r: {target: hardware, mode: move, notify: {telegram_chat: 'team chat'}}\n",
            where() + "notify.telegram_chat: a Telegram chat is a chat id (-100…) or a public @channel name",
        ),
        (
            "  r: {target: hardware, mode: move, customer_notice: Routed!}\n",
            where() + "customer_notice: String should match pattern",
        ),
        ("  Bad Name: {target: hardware, mode: move}\n", "routes: names must be lowercase slugs"),
    ],
)
def test_errors_name_the_file_the_route_and_the_field(tmp_path: Path, routes: str, expected: str) -> None:
    path = write(tmp_path, routes)
    errors = errors_of(path)
    assert any(line.startswith(f"{path}: {expected}") for line in errors), errors


def test_a_lookup_in_a_broken_catalogue_points_at_the_catalogues_own_error(tmp_path: Path) -> None:
    routes = (
        "  r:\n    target: hardware\n    mode: spawn\n    fields:\n      Spare parts:\n"
        "        lookup: {catalogue: parts.csv, key: '{{ source.key }}', column: parts}\n"
    )
    path = write(tmp_path, routes, catalogue="model,parts\nA,1\na,2\n")
    errors = errors_of(path)
    assert errors == [
        f"{tmp_path / 'catalogues' / 'parts.csv'}: line 3: duplicate key 'a' (first on line 2)",
        f"{path}: routes.r: fields.Spare parts.lookup: catalogue parts.csv is not valid (see its own error)",
    ]


def test_catalogues_are_files_not_a_section_of_the_rule_file(tmp_path: Path) -> None:
    path = write(tmp_path, "  r: {target: hardware, mode: move}\ncatalogues: {parts: x.csv}\n")
    assert errors_of(path) == [
        f"{path}: catalogues: catalogues are files in {tmp_path / 'catalogues'}, not a section"
    ]


@pytest.mark.parametrize(
    "section",
    [
        "routes:\n  r: {target: hardware, mode: move, customer_notice: routd}\n",
        "replies: {transitions: {'Waiting for customer': routd}}\n",
    ],
)
def test_a_canned_key_the_rules_name_must_exist_in_the_library(tmp_path: Path, section: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        "rules: [{name: r, target: {tracker: jira, project: SUP}}]\n"
        "targets: {hardware: {tracker: jira, project: HW}}\n" + section,
        encoding="utf-8",
    )
    (tmp_path / "canned").mkdir()
    (tmp_path / "canned" / "routed.en.md").write_text("---\ntitle: Routed\n---\nMoved.", encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match="no canned response 'routd' in the canned/ folder beside the rule file; did you mean routed",
    ):
        load_config(Settings(HUB_CONFIG=path))
