"""The YAML rule file (``HUB_CONFIG``, default ``config/hub.yaml``): forms and routing rules.

It is validated once at start-up. Errors name the file, the rule and the field, e.g.
``config/hub.yaml: rules[1] 'bugs': target.project: Field required``.

``${NAME}`` and ``${NAME:-default}`` in string values are replaced by the setting of that name (only
settings, never arbitrary environment variables), so the shipped file works from the environment alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.settings import Settings

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")
FIELD_NAME = r"^[a-z][a-z0-9_]{0,40}$"
RESERVED_FIELDS = frozenset({"name", "email", "subject", "message", "category", "attachments"})


class ConfigError(Exception):
    """The rule file is missing, not YAML, or fails validation; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Localized = str | dict[str, str]


class Option(_Strict):
    """One choice of a select field."""

    value: str
    label: Localized


class FormField(_Strict):
    """One field of a web form."""

    name: str = Field(pattern=FIELD_NAME)
    label: Localized
    type: Literal["text", "email", "textarea", "select", "file", "tel"] = "text"
    required: bool = False
    max_length: int = Field(default=2000, ge=1, le=100_000)
    options: tuple[Option, ...] = ()
    max_files: int = Field(default=5, ge=1, le=20)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1)

    @model_validator(mode="after")
    def _select_has_options(self) -> FormField:
        if self.type == "select" and not self.options:
            raise ValueError("a select field needs options")
        return self


class Form(_Strict):
    """A web form served at ``GET /forms/<name>`` and accepted at ``POST /hooks/forms/<name>``."""

    title: Localized
    intro: Localized = ""
    fields: tuple[FormField, ...]
    honeypot: str = Field(default="website", pattern=FIELD_NAME)

    @model_validator(mode="after")
    def _check_fields(self) -> Form:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        if "message" not in names:
            raise ValueError("a form needs a 'message' field")
        if self.honeypot in names:
            raise ValueError("the honeypot must not be a real field")
        return self

    def field(self, name: str) -> FormField | None:
        """The field of that name, if the form has one."""
        return next((f for f in self.fields if f.name == name), None)


class When(_Strict):
    """Conditions a message must meet for a rule to apply; an empty condition matches everything."""

    channel: tuple[Literal["telegram", "email", "form"], ...] = ()
    category: tuple[str, ...] = ()
    form: tuple[str, ...] = ()

    @field_validator("channel", "category", "form", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class JiraTarget(_Strict):
    """Where a Jira issue goes."""

    tracker: Literal["jira"] = "jira"
    project: str = Field(min_length=1)
    issue_type: str = Field(default="Task", min_length=1)


class KaitenTarget(_Strict):
    """Where a Kaiten card goes: a board, and optionally its column, lane and card type (all ids)."""

    tracker: Literal["kaiten"]
    board: int = Field(gt=0)
    column: int | None = Field(default=None, gt=0)
    lane: int | None = Field(default=None, gt=0)
    type: int | None = Field(default=None, gt=0)


class IssueFields(_Strict):
    """Fields a rule sets on the issue.

    ``labels`` are Jira labels or Kaiten tags. ``assignee`` is a Jira user (name on Data Center,
    account id on Cloud) or a Kaiten user id; ``assignees`` instead rotates through a list (round-robin,
    kept in Redis so it survives restarts). ``custom_fields`` are Jira's ``customfield_N``; ``properties``
    are Kaiten's custom properties by id (``id_N``), select values as lists of value ids. ``asap`` is
    Kaiten's urgency flag.
    """

    labels: tuple[str, ...] = ()
    priority: str | None = None
    components: tuple[str, ...] = ()
    assignee: str | None = None
    assignees: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    asap: bool = False

    @field_validator("assignee", mode="before")
    @classmethod
    def _assignee_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("assignees", mode="before")
    @classmethod
    def _assignees_text(cls, value: Any) -> Any:
        return tuple(str(v) for v in value) if isinstance(value, list | tuple) else value

    @field_validator("properties")
    @classmethod
    def _property_ids(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [key for key in value if not re.fullmatch(r"(id_)?\d+", str(key))]
        if bad:
            raise ValueError(f"Kaiten properties are set by id (id_NNN), not {bad}")
        return {f"id_{str(key).removeprefix('id_')}": item for key, item in value.items()}

    @field_validator("labels")
    @classmethod
    def _labels_have_no_spaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [label for label in value if not label or any(ch.isspace() for ch in label)]
        if bad:
            raise ValueError(f"labels cannot be empty or contain spaces: {bad}")
        return value

    @field_validator("custom_fields")
    @classmethod
    def _custom_field_ids(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [key for key in value if not re.fullmatch(r"customfield_\d+", key)]
        if bad:
            raise ValueError(f"custom fields are set by id (customfield_NNNNN), not {bad}")
        return value


class Rule(_Strict):
    """The first rule whose ``when`` matches a message decides its target and fields."""

    name: str = Field(min_length=1)
    when: When = Field(default_factory=When)
    target: Annotated[JiraTarget | KaitenTarget, Field(discriminator="tracker")]
    fields: IssueFields = Field(default_factory=IssueFields)

    @model_validator(mode="after")
    def _fields_fit_the_tracker(self) -> Rule:
        if self.target.tracker == "jira" and (self.fields.properties or self.fields.asap):
            raise ValueError(
                "properties and asap are Kaiten fields; a Jira rule uses custom_fields and priority"
            )
        if self.target.tracker == "kaiten" and (self.fields.custom_fields or self.fields.components):
            raise ValueError("custom_fields and components are Jira fields; a Kaiten rule uses properties")
        if self.fields.assignee and self.fields.assignees:
            raise ValueError("set assignee or assignees (round-robin), not both")
        return self


class ProjectReplies(_Strict):
    """Reply settings for one project (Jira key) or board (Kaiten id)."""

    mode: Literal["marker", "public"] = "marker"
    marker: str = Field(default="/reply", min_length=1)


class QuietHours(_Strict):
    """Hours in which status notifications wait (replies written by people are never held back)."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Replies(_Strict):
    """Which tracker comments reach the customer, and what the hub tells them on its own.

    ``mode: marker`` (default) sends only comments that start with the marker (``/reply``), marker
    removed; ``mode: public`` sends Jira Service Management public comments and Kaiten comments that are
    not internal. Internal discussion never reaches a customer: a comment whose visibility is unknown is
    not sent in public mode.
    """

    mode: Literal["marker", "public"] = "marker"
    marker: str = Field(default="/reply", min_length=1)
    projects: dict[str, ProjectReplies] = Field(default_factory=dict)
    notify_statuses: tuple[str, ...] = ("In Progress", "Waiting for customer", "Resolved", "Done")
    transitions: dict[str, str] = Field(default_factory=dict)  # status name → canned response key
    quiet_hours: QuietHours | None = None
    opt_out_label: str = "hub-no-notify"

    def for_project(self, project: str) -> ProjectReplies:
        """The reply settings of a project or board, falling back to the defaults."""
        return self.projects.get(project) or ProjectReplies(mode=self.mode, marker=self.marker)


class Texts(_Strict):
    """Languages of the customer-facing texts (templates live in ``config/templates``)."""

    default_language: Literal["en", "ru"] = "en"


class HubConfig(_Strict):
    """The whole rule file."""

    texts: Texts = Field(default_factory=Texts)
    replies: Replies = Field(default_factory=Replies)
    forms: dict[str, Form] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @field_validator("forms")
    @classmethod
    def _form_names(cls, value: dict[str, Form]) -> dict[str, Form]:
        bad = [name for name in value if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", name)]
        if bad:
            raise ValueError(f"form names must be lowercase slugs: {bad}")
        return value

    def rule_for(self, channel: str, category: str | None = None, form: str | None = None) -> Rule:
        """The first rule matching the message, falling back to the last rule."""
        for rule in self.rules:
            if _matches(rule.when, channel, category, form):
                return rule
        return self.rules[-1]


def _matches(when: When, channel: str, category: str | None, form: str | None) -> bool:
    if when.channel and channel not in when.channel:
        return False
    if when.category and category not in when.category:
        return False
    return not (when.form and form not in when.form)


def load_config(settings: Settings) -> HubConfig:
    """Read and validate ``settings.HUB_CONFIG``; raise :class:`ConfigError` naming what is wrong."""
    path = Path(settings.HUB_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rule file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the rule file must be a mapping with 'rules' (and 'forms')")
    data = _resolve_default_target(_interpolate(raw, settings), settings)
    try:
        return HubConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(path, data, err) for err in exc.errors())) from None


def _resolve_default_target(data: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``target: {tracker: default}`` becomes the tracker the environment configures.

    Jira when ``JIRA_URL`` is set (or neither is, so ``up`` runs the Jira sandbox); Kaiten when only
    ``KAITEN_URL`` is, with ``KAITEN_BOARD_ID`` / ``KAITEN_COLUMN_ID``. This is what lets the shipped
    rule file work from the environment alone for either tracker.
    """
    for rule in data.get("rules") or []:
        target = rule.get("target") if isinstance(rule, dict) else None
        if not isinstance(target, dict) or target.get("tracker") != "default":
            continue
        if settings.KAITEN_URL and not settings.JIRA_URL:
            if settings.KAITEN_BOARD_ID is None:
                raise ConfigError(f"rule {rule.get('name')!r}: KAITEN_URL is set but KAITEN_BOARD_ID is not")
            rule["target"] = {
                "tracker": "kaiten",
                "board": settings.KAITEN_BOARD_ID,
                "column": settings.KAITEN_COLUMN_ID,
            }
        else:
            rule["target"] = {
                "tracker": "jira",
                "project": settings.JIRA_PROJECT,
                "issue_type": settings.JIRA_ISSUE_TYPE,
            }
    return data


def _interpolate(value: Any, settings: Settings) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: _setting_text(settings, m.group(1), m.group(2)), value)
    if isinstance(value, list):
        return [_interpolate(item, settings) for item in value]
    if isinstance(value, dict):
        return {key: _interpolate(item, settings) for key, item in value.items()}
    return value


def _setting_text(settings: Settings, name: str, default: str | None) -> str:
    value = getattr(settings, name, None)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"${{{name}}} is used in the rule file but the setting {name} is not set")
        return default
    if hasattr(value, "get_secret_value"):
        raise ConfigError(f"${{{name}}} names a secret; secrets cannot be placed in the rule file")
    return str(value)


def _describe(path: Path, data: dict[str, Any], err: Any) -> str:
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") or []
        name = (
            rules[loc[1]].get("name", "?") if loc[1] < len(rules) and isinstance(rules[loc[1]], dict) else "?"
        )
        where = f"rules[{loc[1]}] {name!r}: "
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "forms":
        where = f"forms.{loc[1]}: "
        loc = loc[2:]
    field = ".".join(str(part) for part in loc if part not in ("jira",)) or "(the entry)"
    return f"{path}: {where}{field}: {err['msg']}"
