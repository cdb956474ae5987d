"""The ``automations:`` section: the shipped recipes, each trigger, condition and action kind, and every
mistake reported by the file, the rule and the field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from config.automation_values import DEFAULT_DATE_FIELD
from config.durations import BusinessDuration
from config.loading import ConfigError, load_config
from config.rules import HubConfig
from config.settings import Settings
from config.targets import JiraTarget, KaitenTarget

RECIPES = [
    "quiet-customer",
    "customer-replied",
    "contract-end",
    "stuck",
    "next-task",
    "checklist-children",
    "stage-checklist",
    "unassigned-digest",
    "duty-alert",
    "linked-fixed",
    "sla",
]

BASE = """
calendars:
  support: {timezone: Europe/Moscow}
targets:
  queue: {tracker: kaiten, board: 20, column: 201}
rules:
  - {name: default, target: {tracker: jira, project: SUP}}
routes:
  hardware: {target: {tracker: jira, project: HW}, mode: move}
sla:
  targets: [{first_response: 8h}]
automations:
"""


def write(tmp_path: Path, automations: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(BASE + automations, encoding="utf-8")
    (tmp_path / "canned").mkdir(exist_ok=True)
    (tmp_path / "canned" / "still-need-help.en.md").write_text("---\ntitle: x\n---\nHi", encoding="utf-8")
    return path


def load(tmp_path: Path, automations: str, **settings: str) -> HubConfig:
    return load_config(Settings(HUB_CONFIG=write(tmp_path, automations), **settings))  # type: ignore[arg-type]


def errors_of(tmp_path: Path, automations: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, automations)
    return str(caught.value).splitlines()


# -- the shipped file ------------------------------------------------------------------------------------


def test_the_shipped_file_enables_the_eleven_recipes_on_the_default_jira_project() -> None:
    config = load_config(Settings())
    assert [rule.name for rule in config.automations] == RECIPES
    assert all(rule.enabled for rule in config.automations)
    assert {rule.target for rule in config.automations} == {JiraTarget(project="SUP", issue_type="Task")}
    assert config.automation("contract-end").trigger.date_field == "Contract end"
    digest = config.automation("unassigned-digest").actions[0].digest
    assert digest is not None and (digest.telegram_chat, digest.email) == (None, ())  # unset: nobody


def test_the_shipped_recipes_follow_the_environment_to_kaiten_and_the_team_chat() -> None:
    settings = Settings(
        KAITEN_URL="https://kaiten.example.com",
        KAITEN_BOARD_ID=10,
        TELEGRAM_TEAM_CHAT_ID="-1001234",
        HUB_TEAM_EMAIL="team@example.com",
    )  # type: ignore[call-arg]
    config = load_config(settings)
    assert {rule.target for rule in config.automations} == {KaitenTarget(board=10, column=None)}
    assert config.automation("stuck").containers == ("10",)
    digest = config.automation("unassigned-digest").actions[0].digest
    assert digest is not None and (digest.telegram_chat, digest.email) == (-1001234, ("team@example.com",))
    assert digest.critical == ("Highest", "High", "ASAP")


def test_the_shipped_canned_responses_exist_in_both_languages() -> None:
    folder = Path("config/canned")
    config = load_config(Settings())
    keys = {
        action.comment.canned
        for rule in config.automations
        for action in (*rule.actions, *(rule.followup.actions if rule.followup else ()))
        if action.comment is not None and action.comment.canned
    }
    assert keys == {"still-need-help", "closed-no-reply", "fixed"}
    for key in keys:
        assert (folder / f"{key}.en.md").is_file() and (folder / f"{key}.ru.md").is_file()


# -- triggers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "kind", "check"),
    [
        ('{cron: "0 10 * * 1-5", calendar: support}', "cron", lambda t: t.calendar == "support"),
        ("{every: 2h, timezone: Asia/Yekaterinburg}", "every", lambda t: t.every == 120),
        ("{every: 1d}", "every", lambda t: t.every == 24 * 60),
        (
            '{event: commented, text_contains: "следующая задача"}',
            "event",
            lambda t: t.text_contains == ("следующая задача",),
        ),
        ("{event: commented, author: customer}", "event", lambda t: t.author == "customer"),
        ('{event: moved, to: ["In Progress", 102]}', "event", lambda t: t.to == ("In Progress", "102")),
        ("{event: assigned}", "event", lambda t: t.event == "assigned"),
        ("{event: field_changed, field: priority}", "event", lambda t: t.field == "priority"),
        ("{event: linked_resolved, linked_projects: DEV}", "event", lambda t: t.linked_projects == ("DEV",)),
        ("{event: created}", "event", lambda t: t.event == "created"),
        ("{in_status_longer: 20d}", "in_status_longer", lambda t: t.duration == BusinessDuration(days=20)),
        (
            "{in_status_longer: 4h, calendar: support}",
            "in_status_longer",
            lambda t: t.duration == BusinessDuration(minutes=240),
        ),
        (
            "{before_date: 30}",
            "before_date",
            lambda t: (t.before_date, t.date_field) == (30, DEFAULT_DATE_FIELD),
        ),
        (
            "{after_date: 2d, field: customfield_10030}",
            "after_date",
            lambda t: (t.after_date, t.date_field) == (2, "customfield_10030"),
        ),
        ("{no_customer_reply: 2d}", "no_customer_reply", lambda t: t.duration == BusinessDuration(days=2)),
        ("{sla: breached}", "sla", lambda t: t.sla == ("breached",)),
    ],
)
def test_each_trigger_kind_loads(tmp_path: Path, trigger: str, kind: str, check: object) -> None:
    config = load(tmp_path, f"  - {{name: a, trigger: {trigger}, actions: [{{resolve: true}}]}}\n")
    rule = config.automation("a")
    assert rule.trigger.kind == kind
    assert check(rule.trigger)  # type: ignore[operator]


WHERE = "hub.yaml: automations[0] 'a': "


@pytest.mark.parametrize(
    ("trigger", "error"),
    [
        ("{}", "trigger: give exactly one of cron, every, event"),
        ('{cron: "0 10 * *", every: 1h}', "trigger.cron: '0 10 * *' is not a cron expression"),
        (
            '{cron: "0 10 * * 1-5", every: 1h}',
            "trigger: give exactly one of cron, every, event, in_status_longer, before_date, after_date, no_customer_reply, sla; got cron, every",
        ),
        ("{every: 15}", "trigger.every: 15 has no unit"),
        ("{event: closed}", "trigger.event: Input should be 'created', 'commented'"),
        ("{event: created, text_contains: x}", "trigger: text_contains goes with event: commented"),
        ("{event: field_changed}", "trigger: event: field_changed needs the field"),
        ("{in_status_longer: 20 days}", "trigger.in_status_longer: '20 days' is not a business duration"),
        ("{before_date: soon}", "trigger.before_date: 'soon' is not a number of days"),
        (
            "{no_customer_reply: 2d, calendar: sales}",
            "trigger.calendar: unknown calendar 'sales'; the calendars are default, support",
        ),
        ("{cron: '* * * * *', timezone: Mars/Base}", "trigger.timezone: unknown time zone 'Mars/Base'"),
        ("{in_status_longer: 2d, timezone: UTC}", "trigger: timezone goes with cron or every"),
        ("{sla: late}", "trigger.sla.0: Input should be 'warning' or 'breached'"),
    ],
)
def test_a_wrong_trigger_is_named_by_file_rule_and_field(tmp_path: Path, trigger: str, error: str) -> None:
    errors = errors_of(tmp_path, f"  - {{name: a, trigger: {trigger}, actions: [{{resolve: true}}]}}\n")
    assert any(WHERE + error in line for line in errors), errors


# -- conditions ------------------------------------------------------------------------------------------


def test_conditions_load_with_their_shorthands(tmp_path: Path) -> None:
    rule = load(
        tmp_path,
        """  - name: a
    trigger: {cron: "0 9 * * *"}
    when:
      projects: SUP
      boards: [10]
      types: [Bug]
      priorities: [Highest, High]
      labels: vip
      tags: [key-account]
      assignee_empty: true
      statuses: ["Waiting for customer"]
      not_done: true
      fields: {Severity: [Critical, Major], customfield_10010: null}
      older_than: 1d
      outside_hours: true
      jql: 'component = Printers'
    actions: [{digest: {telegram_chat: "-100200"}}]
""",
    ).automation("a")
    when = rule.when
    assert rule.containers == ("SUP", "10")
    assert when.all_labels == ("vip", "key-account")
    assert (when.assignee_empty, when.not_done, when.outside_hours) == (True, True, True)
    assert when.fields == {"Severity": ["Critical", "Major"], "customfield_10010": None}
    assert when.older_than == BusinessDuration(days=1)
    assert when.jql == "component = Printers"


def test_a_rule_without_projects_looks_at_its_targets_container(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        "  - {name: a, trigger: {event: created}, actions: [{resolve: true}]}\n"
        "  - {name: b, target: queue, trigger: {event: created}, actions: [{resolve: true}]}\n",
    )
    assert rules.automation("a").containers == ("SUP",)
    assert rules.automation("b").containers == ("20",)


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (
            "trigger: {event: created}, when: {kaiten_filter: {archived: true}}",
            ": when.kaiten_filter is for a Kaiten target",
        ),
        ("target: queue, trigger: {event: created}, when: {jql: 'x = 1'}", ": when.jql is for a Jira target"),
        (
            "trigger: {event: created}, when: {statuse: [Done]}",
            "when.statuse: Extra inputs are not permitted",
        ),
        (
            "trigger: {event: created}, when: {older_than: soon}",
            "when.older_than: 'soon' is not a business duration",
        ),
        (
            "target: nowhere, trigger: {event: created}",
            "target: unknown target 'nowhere'; the targets are queue",
        ),
    ],
)
def test_a_wrong_condition_is_named(tmp_path: Path, rule: str, error: str) -> None:
    errors = errors_of(tmp_path, f"  - {{name: a, {rule}, actions: [{{resolve: true}}]}}\n")
    expected = WHERE.rstrip(": ") + (error if error.startswith(":") else ": " + error)
    assert any(expected in line for line in errors), errors


# -- actions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "kind", "check"),
    [
        ("{comment: {canned: still-need-help, to_customer: true}}", "comment", lambda s: s.to_customer),
        ("{comment: {text: 'Stuck: {{ issue.key }}'}}", "comment", lambda s: not s.to_customer),
        (
            "{notify: {telegram_chat: '@support_team', email: 'a@example.com, b@example.com'}}",
            "notify",
            lambda s: s.email == ("a@example.com", "b@example.com"),
        ),
        ("{transition: Done}", "transition", lambda s: s.to == "Done"),
        ("{move: 103}", "transition", lambda s: s.to == "103"),
        ("{assign: {user: alice}}", "assign", lambda s: s.user == "alice"),
        ("{assign: {round_robin: [alice, bob]}}", "assign", lambda s: s.round_robin == ("alice", "bob")),
        (
            "{assign: {least_open: [alice, bob, 4], absences: [{user: bob, from: 2027-05-01, to: 2027-05-11}]}}",
            "assign",
            lambda s: (
                (s.available(date(2027, 5, 3)), s.available(date(2027, 5, 12)))
                == (("alice", "4"), ("alice", "bob", "4"))
            ),
        ),
        (
            "{set: {field: Severity, value: Critical}}",
            "set",
            lambda s: (s.field, s.value) == ("Severity", "Critical"),
        ),
        (
            "{set: {tags: [overdue], remove_labels: [fresh]}}",
            "set",
            lambda s: (s.added, s.remove_labels) == (("overdue",), ("fresh",)),
        ),
        (
            "{create: {target: queue, title: 'Актуализировать сделку', carry: [tags, links, responsible], link: Relates, fields: {priority: {from: priority}}}}",
            "create",
            lambda s: (
                (s.target, s.carry, s.link)
                == (KaitenTarget(board=20, column=201), ("tags", "links", "responsible"), "Relates")
            ),
        ),
        (
            "{checklist: {name: Stage, items: [a, b]}}",
            "checklist",
            lambda s: s.for_status("x").items == ("a", "b"),
        ),
        (
            "{checklist: {stages: {'In progress': {name: Work, items: [a]}}}}",
            "checklist",
            lambda s: (s.for_status("in progress").name, s.for_status("Done")) == ("Work", None),
        ),
        (
            "{checklist_children: {checklist: Tasks}}",
            "checklist_children",
            lambda s: s.carry == ("tags", "links"),
        ),
        ("{route: hardware}", "route", lambda s: s == "hardware"),
        ("{resolve: true}", "resolve", lambda s: s.resolution is None),
        ("{resolve: }", "resolve", lambda s: s.transition is None),
        ('{resolve: {resolution: "Won\'t Do"}}', "resolve", lambda s: s.resolution == "Won't Do"),
    ],
)
def test_each_action_kind_loads(tmp_path: Path, action: str, kind: str, check: object) -> None:
    rule = load(tmp_path, f"  - {{name: a, trigger: {{event: created}}, actions: [{action}]}}\n").automation(
        "a"
    )
    assert rule.actions[0].kind == kind
    assert check(rule.actions[0].spec)  # type: ignore[operator]


def test_a_digest_and_sla_only_load_with_their_triggers(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "  - {name: a, trigger: {every: 1h}, actions: [{digest: {email: t@example.com, critical: Highest}}]}\n"
        "  - {name: b, trigger: {sla: [warning, breached]}, actions: [{set: {labels: [late]}, only: breached}]}\n",
    )
    digest = config.automation("a").actions[0].digest
    assert digest is not None and digest.critical == ("Highest",)
    assert config.automation("b").actions[0].only == ("breached",)


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (
            "{comment: {canned: thanks}}",
            "actions.0.comment.canned: no canned response 'thanks' in the canned/ folder beside the rule file; there are still-need-help",
        ),
        (
            "{comment: {canned: still-need-help, text: hi}}",
            "actions.0.comment: give exactly one of canned and text",
        ),
        ("{comment: {text: '{{ issue.key '}}", "actions.0.comment.text: template syntax error on line 1"),
        (
            "{notify: {telegram_chat: 'team chat'}}",
            "actions.0.notify.telegram_chat: a Telegram chat is a chat id",
        ),
        (
            "{assign: {user: alice, round_robin: [bob]}}",
            "actions.0.assign: give exactly one of user, round_robin and least_open",
        ),
        (
            "{assign: {least_open: [a], absences: [{user: a, from: 2027-05-10, to: 2027-05-01}]}}",
            "actions.0.assign.absences.0: to is before from",
        ),
        ("{set: {labels: ['two words']}}", "actions.0.set: labels cannot contain spaces"),
        (
            "{create: {target: sales, title: x}}",
            "actions.0.create.target: unknown target 'sales'; the targets are queue",
        ),
        ("{create: {title: x, carry: [everything]}}", "actions.0.create.carry.0: Input should be 'tags'"),
        ("{checklist: {name: x}}", "actions.0.checklist: a checklist needs a name and items"),
        ("{route: accounting}", "actions.0.route: unknown route 'accounting'; the routes are hardware"),
        ("{resolve: true, transition: Done}", "actions.0: give exactly one action"),
        ("{reopen: true}", "actions.0.reopen: Extra inputs are not permitted"),
        ("{digest: {email: t@example.com}}", ": digest lists what a scheduled scan finds"),
        ("{set: {labels: [x]}, only: breached}", ": only (SLA states) goes with trigger sla"),
    ],
)
def test_a_wrong_action_is_named(tmp_path: Path, action: str, error: str) -> None:
    errors = errors_of(tmp_path, f"  - {{name: a, trigger: {{event: created}}, actions: [{action}]}}\n")
    expected = WHERE.rstrip(": ") + (error if error.startswith(":") else ": " + error)
    assert any(expected in line for line in errors), errors


def test_rules_are_named_uniquely_and_an_sla_trigger_needs_the_sla_section(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        "  - {name: a, trigger: {event: created}, actions: [{resolve: true}]}\n"
        "  - {name: a, trigger: {event: created}, actions: [{resolve: true}]}\n",
    )
    assert any("hub.yaml: automations: automation names must be unique: ['a']" in line for line in errors)
    path = tmp_path / "hub.yaml"
    path.write_text(
        "rules: [{name: r, target: {tracker: jira, project: X}}]\n"
        "automations: [{name: b, trigger: {sla: breached}, actions: [{resolve: true}]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(Settings(HUB_CONFIG=path))  # type: ignore[call-arg]
    assert "hub.yaml: automations: ['b'] have trigger sla, which needs the sla: section" in str(caught.value)


def test_followup_goes_with_time_triggers_only(tmp_path: Path) -> None:
    rule = load(
        tmp_path,
        "  - {name: a, trigger: {no_customer_reply: 2d}, actions: [{resolve: true}],"
        " followup: {after: 3d, actions: [{resolve: true}]}}\n",
    ).automation("a")
    assert rule.followup is not None and rule.followup.after == BusinessDuration(days=3)
    errors = errors_of(
        tmp_path,
        "  - {name: a, trigger: {event: created}, actions: [{resolve: true}],"
        " followup: {after: 3d, actions: [{resolve: true}]}}\n",
    )
    assert any(WHERE + "followup goes with a time trigger" in line for line in errors), errors


def test_a_wrong_action_is_reported_once_not_again_as_an_empty_list(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path, "  - {name: a, trigger: {event: created}, actions: [{comment: {canned: stil-need-help}}]}\n"
    )
    assert errors == [
        f"{tmp_path / 'hub.yaml'}: automations[0] 'a': actions.0.comment.canned: no canned response "
        "'stil-need-help' in the canned/ folder beside the rule file; did you mean still-need-help?"
    ]
