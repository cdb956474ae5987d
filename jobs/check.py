"""``trackerhub check``: the rule file against the live tracker instances, as a readable report.

Each instance a rule or a named target uses, and each one the rule file defines, is reached.

Every project, issue type, board, column, lane, card type, custom field, property, select value and
assignee a rule names must exist, and a Jira issue type's required fields must be covered. The report
says which rule, which name, and what exists instead. Issue types, card types, fields, properties and
their allowed values come from each tracker's ``field_schema`` (Jira's createmeta, Kaiten's card types
and custom properties).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from config.rules import HubConfig, IssueFields
from config.settings import Settings
from config.targets import JiraTarget, KaitenTarget
from connector.errors import TrackerError, UnknownTarget
from connector.instances import connect
from connector.jira import JiraTracker
from connector.kaiten import KaitenTracker
from connector.types import FieldSchema, Target
from jobs.queues import get_redis
from jobs.routing.check import check_routes
from mappers.issue import target_of

log = logging.getLogger(__name__)

Connect = Callable[[Settings, HubConfig, str, "Redis | None"], "JiraTracker | KaitenTracker"]
"""How the check reaches an instance (``connector.instances.connect``; the console's editor passes one
that remembers the trackers' answers for a while)."""

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


@dataclass(frozen=True)
class Use:
    """One place the rule file sends issues to: a rule (with the fields it sets) or a named target."""

    where: str  # "rules[0] 'vip'" or "targets.support"
    target: JiraTarget | KaitenTarget
    fields: IssueFields | None  # None: a named target, whose fields its users set


def check_config(settings: Settings, config: HubConfig, connect_to: Connect = connect) -> Problems:
    """Check every rule and named target against the tracker instance it names, and reach every
    instance the rule file defines."""
    problems = Problems()
    check_nodes(settings, problems)
    uses = _uses(config)
    for name in dict.fromkeys([*uses, *config.trackers]):
        if config.tracker_kind(name) == "kaiten":
            _check_kaiten(settings, config, name, uses.get(name, []), problems, connect_to)
        else:
            _check_jira(settings, config, name, uses.get(name, []), problems, connect_to)
    check_routes(settings, config, problems, connect_to)
    return problems


def check_nodes(settings: Settings, problems: Problems) -> None:
    """What several nodes (``HUB_NODES``) need: one database they all reach, which SQLite is not."""
    if settings.HUB_NODES == 1:
        return
    if settings.DATABASE_URL.startswith("sqlite"):
        problems.errors.append(
            f"DATABASE_URL: SQLite is a file on one machine; HUB_NODES={settings.HUB_NODES} nodes need "
            "one PostgreSQL they all reach"
        )
    if not settings.REDIS_URL:
        problems.errors.append(
            f"REDIS_URL: HUB_NODES={settings.HUB_NODES} nodes need one Redis they all reach"
        )
    if settings.HUB_SECRET_KEY is None:
        problems.notes.append(
            "HUB_SECRET_KEY is not set: give every node the same one, or a link one node signs fails on "
            "another"
        )


def _uses(config: HubConfig) -> dict[str, list[Use]]:
    """Each instance's uses: the rules, then the named targets no rule uses."""
    uses: dict[str, list[Use]] = {}
    for index, rule in enumerate(config.rules):
        uses.setdefault(rule.target.tracker, []).append(
            Use(f"rules[{index}] {rule.name!r}", rule.target, rule.fields)
        )
    used = {rule.target for rule in config.rules}
    for name, target in config.targets.items():
        if target not in used:
            uses.setdefault(target.tracker, []).append(Use(f"targets.{name}", target, None))
    return uses


def _label(kind: str, name: str) -> str:
    """How the report names an instance: "Jira", or "Jira 'jira-dev'" for one of the rule file's."""
    return kind if name.lower() == kind.lower() else f"{kind} {name!r}"


# -- Jira -----------------------------------------------------------------------------------------------


def _check_jira(
    settings: Settings, config: HubConfig, name: str, uses: list[Use], problems: Problems, connect_to: Connect
) -> None:
    label = _label("Jira", name)
    if name == "jira" and not settings.JIRA_URL:
        problems.errors.append("JIRA_URL is not set, but rules target Jira")
        return
    tracker = connect_to(settings, config, name, None)
    assert isinstance(tracker, JiraTracker)
    try:
        info = tracker.server_info()
        fields = {f["id"]: f for f in tracker.list_fields()}
    except TrackerError as exc:
        problems.errors.append(f"cannot reach {label} at {tracker.url}: {exc}")
        return
    problems.notes.append(
        f"{label} {info.get('version', '?')} ({info.get('deploymentType', '?')}) at {tracker.url}"
    )
    for use in uses:
        assert isinstance(use.target, JiraTarget)
        schema = _jira_schema(tracker, use.where, use.target, problems)
        if use.fields is None:
            continue
        for field_id in use.fields.custom_fields:
            if field_id not in fields:
                customs = sorted(k for k in fields if k.startswith("customfield_"))
                problems.errors.append(
                    f"{use.where}: custom field {field_id} does not exist; there are {customs}"
                )
        if schema is not None:
            _jira_required_fields(use.where, use.target, use.fields, schema, problems)


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


def _jira_required_fields(
    where: str, target: JiraTarget, fields: IssueFields, schema: FieldSchema, problems: Problems
) -> None:
    set_by_rule = set(fields.custom_fields) | {
        name
        for name, value in (
            ("priority", fields.priority),
            ("components", fields.components),
            ("assignee", fields.assignee or fields.assignees),
        )
        if value
    }
    for spec in schema.required:
        if spec.id not in FILLED_BY_HUB | set_by_rule:
            problems.errors.append(
                f"{where}: {target.issue_type} in {target.project} requires {spec.name} "
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


def _check_kaiten(
    settings: Settings, config: HubConfig, name: str, uses: list[Use], problems: Problems, connect_to: Connect
) -> None:
    label = _label("Kaiten", name)
    url = config.trackers[name].url if name in config.trackers else settings.KAITEN_URL
    try:
        tracker = connect_to(settings, config, name, _shared_redis(settings))
        assert isinstance(tracker, KaitenTracker)
        me = tracker.current_user()
        users = {str(u["id"]): u for u in tracker.list_users()}
    except TrackerError as exc:
        problems.errors.append(f"cannot reach {label} at {url}: {exc}")
        return
    problems.notes.append(f"{label} at {url} as {me.get('full_name') or me.get('username') or me.get('id')}")
    for use in uses:
        assert isinstance(use.target, KaitenTarget)
        _kaiten_board(tracker, use.where, use.target, problems)
        schema = _kaiten_schema(tracker, use.where, target_of(use.target), problems)
        if use.fields is None:
            continue
        if schema is not None:
            _kaiten_properties(use.where, use.fields, schema, problems)
        for person in [p for p in (use.fields.assignee, *use.fields.assignees) if p]:
            if person not in users:
                known = _named(users.values(), "full_name")
                problems.errors.append(f"{use.where}: user {person} does not exist; there are {known}")


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


def _kaiten_properties(where: str, fields: IssueFields, schema: FieldSchema, problems: Problems) -> None:
    properties = [spec for spec in schema.fields if not spec.system]
    for key, value in fields.properties.items():
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
