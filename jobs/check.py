"""``trackerhub check``: the rule file against the live tracker(s), as a readable report.

Every project, issue type, board, column, lane, card type, custom field, property, select value and
assignee a rule names must exist, and a Jira issue type's required fields must be covered. The report
says which rule, which name, and what exists instead. Issue types, card types, fields, properties and
their allowed values come from each tracker's ``field_schema`` (Jira's createmeta, Kaiten's card types
and custom properties).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from config.rules import HubConfig, JiraTarget, KaitenTarget, Rule
from config.settings import Settings
from connector.errors import TrackerError, UnknownTarget
from connector.jira import JiraTracker
from connector.kaiten import KaitenTracker
from connector.types import FieldSchema, Target
from jobs.queues import get_redis
from mappers.issue import target_of

log = logging.getLogger(__name__)

# Fields the hub always fills, or Jira fills itself.
FILLED_BY_HUB = frozenset({"summary", "description", "project", "issuetype", "labels", "reporter"})


@dataclass
class Problems:
    """Errors (the hub would fail) and notes (worth knowing) found by the check."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        """Lines for the terminal."""
        lines = [f"ERROR {e}" for e in self.errors] + [f"note  {n}" for n in self.notes]
        summary = (
            "OK: the rule file matches the tracker" if not self.errors else f"{len(self.errors)} error(s)"
        )
        return [*lines, summary]


def check_config(settings: Settings, config: HubConfig) -> Problems:
    """Check every rule against the tracker it targets."""
    problems = Problems()
    jira_rules = [(i, r) for i, r in enumerate(config.rules) if isinstance(r.target, JiraTarget)]
    kaiten_rules = [(i, r) for i, r in enumerate(config.rules) if isinstance(r.target, KaitenTarget)]
    if jira_rules:
        _check_jira(settings, jira_rules, problems)
    if kaiten_rules:
        _check_kaiten(settings, kaiten_rules, problems)
    return problems


def _where(index: int, rule: Rule) -> str:
    return f"rules[{index}] {rule.name!r}"


# -- Jira -----------------------------------------------------------------------------------------------


def _check_jira(settings: Settings, rules: list[tuple[int, Rule]], problems: Problems) -> None:
    if not settings.JIRA_URL:
        problems.errors.append("JIRA_URL is not set, but rules target Jira")
        return
    tracker = JiraTracker.from_settings(settings)
    try:
        info = tracker.server_info()
        fields = {f["id"]: f for f in tracker.list_fields()}
    except TrackerError as exc:
        problems.errors.append(f"cannot reach Jira at {tracker.url}: {exc}")
        return
    problems.notes.append(
        f"Jira {info.get('version', '?')} ({info.get('deploymentType', '?')}) at {tracker.url}"
    )
    for index, rule in rules:
        assert isinstance(rule.target, JiraTarget)
        where = _where(index, rule)
        schema = _jira_schema(tracker, where, rule.target, problems)
        for field_id in rule.fields.custom_fields:
            if field_id not in fields:
                customs = sorted(k for k in fields if k.startswith("customfield_"))
                problems.errors.append(
                    f"{where}: custom field {field_id} does not exist; there are {customs}"
                )
        if schema is not None:
            _jira_required_fields(where, rule, schema, problems)


def _jira_schema(
    tracker: JiraTracker, where: str, target: JiraTarget, problems: Problems
) -> FieldSchema | None:
    """The create screen of the rule's project and issue type, or None (and why) when there is none."""
    try:
        return tracker.field_schema(target_of(target))
    except UnknownTarget as exc:
        problems.errors.append(f"{where}: {exc}")
    except TrackerError as exc:
        problems.notes.append(f"{where}: cannot read the fields of {target.issue_type}: {exc}")
    return None


def _jira_required_fields(where: str, rule: Rule, schema: FieldSchema, problems: Problems) -> None:
    assert isinstance(rule.target, JiraTarget)
    set_by_rule = set(rule.fields.custom_fields) | {
        name
        for name, value in (
            ("priority", rule.fields.priority),
            ("components", rule.fields.components),
            ("assignee", rule.fields.assignee or rule.fields.assignees),
        )
        if value
    }
    for spec in schema.required:
        if spec.id not in FILLED_BY_HUB | set_by_rule:
            problems.errors.append(
                f"{where}: {rule.target.issue_type} in {rule.target.project} requires {spec.name} "
                f"({spec.id}), which the rule does not set"
            )


# -- Kaiten ---------------------------------------------------------------------------------------------


def kaiten_for_command(settings: Settings) -> KaitenTracker:
    """The Kaiten client of a one-off command (``check``, ``kaiten ls``).

    Kaiten's 5 requests/s belong to the token, which the workers use too: the command takes its turns
    from the workers' shared limiter when Redis answers, else from one of its own with the same budget,
    so its burst of reads neither meets a 429 nor eats the workers' allowance.
    """
    return KaitenTracker.from_settings(settings, redis=_shared_redis(settings))


def _shared_redis(settings: Settings) -> Redis | None:
    if not settings.REDIS_URL:
        return None
    client = get_redis(settings.REDIS_URL)
    try:
        client.ping()
    except RedisError as exc:
        log.warning("kaiten.limiter-local reason=redis-unreachable error=%s", type(exc).__name__)
        return None
    return client


def _check_kaiten(settings: Settings, rules: list[tuple[int, Rule]], problems: Problems) -> None:
    try:
        tracker = kaiten_for_command(settings)
        me = tracker.current_user()
        users = {str(u["id"]): u for u in tracker.list_users()}
    except TrackerError as exc:
        problems.errors.append(f"cannot reach Kaiten at {settings.KAITEN_URL}: {exc}")
        return
    problems.notes.append(
        f"Kaiten at {settings.KAITEN_URL} as {me.get('full_name') or me.get('username') or me.get('id')}"
    )
    for index, rule in rules:
        assert isinstance(rule.target, KaitenTarget)
        where = _where(index, rule)
        _kaiten_board(tracker, where, rule.target, problems)
        schema = _kaiten_schema(tracker, where, target_of(rule.target), problems)
        if schema is not None:
            _kaiten_properties(where, rule, schema, problems)
        for person in [p for p in (rule.fields.assignee, *rule.fields.assignees) if p]:
            if person not in users:
                problems.errors.append(
                    f"{where}: user {person} does not exist; there are {_named(users.values(), 'full_name')}"
                )


def _kaiten_board(tracker: KaitenTracker, where: str, target: KaitenTarget, problems: Problems) -> None:
    try:
        tracker.get_board(target.board)
    except TrackerError:
        boards = [
            b for s in _safe(tracker.list_spaces) for b in _safe(lambda s=s: tracker.list_boards(s["id"]))
        ]
        problems.errors.append(f"{where}: board {target.board} does not exist; there are {_named(boards)}")
        return
    columns = _safe(lambda: tracker.list_columns(target.board))
    if target.column is not None and target.column not in {int(c["id"]) for c in columns}:
        problems.errors.append(
            f"{where}: column {target.column} is not on board {target.board}; it has {_named(columns)}"
        )
    lanes = _safe(lambda: tracker.list_lanes(target.board))
    if target.lane is not None and target.lane not in {int(lane["id"]) for lane in lanes}:
        problems.errors.append(
            f"{where}: lane {target.lane} is not on board {target.board}; it has {_named(lanes)}"
        )


def _kaiten_schema(
    tracker: KaitenTracker, where: str, target: Target, problems: Problems
) -> FieldSchema | None:
    """The fields of the rule's card type; when the type does not exist (reported), those of any card,
    so the rule's properties are still checked."""
    for wanted in (target, replace(target, issue_type=None)):
        try:
            return tracker.field_schema(wanted)
        except UnknownTarget as exc:
            problems.errors.append(f"{where}: {exc}")
        except TrackerError as exc:
            problems.errors.append(f"{where}: cannot read Kaiten's card types and properties: {exc}")
            return None
    return None


def _kaiten_properties(where: str, rule: Rule, schema: FieldSchema, problems: Problems) -> None:
    properties = [spec for spec in schema.fields if not spec.system]
    for key, value in rule.fields.properties.items():
        spec = schema.field(key)
        if spec is None or spec.system:
            names = [f"{p.id.removeprefix('id_')} {p.name}".strip() for p in properties]
            problems.errors.append(f"{where}: property {key} does not exist; there are {names}")
            continue
        if spec.type not in ("option", "options"):
            continue
        allowed = {choice.id for choice in spec.allowed}
        chosen = value if isinstance(value, list) else [value]
        bad = [v for v in chosen if not isinstance(v, int) or str(v) not in allowed]
        if bad:
            values = [f"{choice.id} {choice.name}".strip() for choice in spec.allowed]
            problems.errors.append(
                f"{where}: property {key} ({spec.name}) has no value {bad}; allowed: {values}"
            )


def _named(items: Iterable[dict[str, Any]], label: str = "title") -> list[str]:
    return [
        f"{item.get('id')} {item.get(label) or item.get('name') or item.get('title') or ''}".strip()
        for item in items
    ]


def _safe(call: Any) -> list[dict[str, Any]]:
    try:
        return list(call())
    except TrackerError:
        return []
