"""The schema of the YAML rule file (``HUB_CONFIG``, default ``config/hub.yaml``).

The file holds tracker instances and named targets (``config.targets``), forms, the rules that send a
message to a target (their ``when`` in ``config.matching``), reply settings and texts, business
calendars (``config.calendars``), SLA targets (``config.sla``), the routes a coordinator sends
issues by (``config.routes``, with the catalogue files of ``config.catalogues``), and the automation
rules (``config.automations``).
``config.loading`` reads and validates it; ``config.source`` keeps the current version in a process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from pydantic import Field, InstanceOf, PrivateAttr, ValidationInfo, field_validator, model_validator

from config.automations import Automation, check_automations
from config.base import Localized, Strict
from config.calendars import Calendars, CalendarSpec, ZoneName
from config.canned import check_canned
from config.catalogues import Catalogue
from config.csat import Csat
from config.matching import HasFacts, MessageFacts, When
from config.reports import Reports, ReportsSection
from config.routes import Route
from config.sla import SlaSection
from config.targets import (
    ENV_TRACKERS,
    NAME,
    InlineTarget,
    JiraTarget,
    KaitenTarget,
    TargetRef,
    TrackerSpec,
)
from config.team_bot import TeamBot

FIELD_NAME = r"^[a-z][a-z0-9_]{0,40}$"
RESERVED_FIELDS = frozenset({"name", "email", "subject", "message", "category", "attachments"})

__all__ = ["HubConfig", "JiraTarget", "KaitenTarget", "MessageFacts", "Rule", "TrackerSpec", "When"]


class Option(Strict):
    """One choice of a select field."""

    value: str
    label: Localized


class FormField(Strict):
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


class Form(Strict):
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


class IssueFields(Strict):
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


class Rule(Strict):
    """The first rule whose ``when`` matches a message decides its target and fields."""

    name: str = Field(min_length=1)
    when: When = Field(default_factory=When)
    target: TargetRef
    fields: IssueFields = Field(default_factory=IssueFields)

    @model_validator(mode="after")
    def _fields_fit_the_tracker(self) -> Rule:
        if self.target.kind == "jira" and (self.fields.properties or self.fields.asap):
            raise ValueError(
                "properties and asap are Kaiten fields; a Jira rule uses custom_fields and priority"
            )
        if self.target.kind == "kaiten" and (self.fields.custom_fields or self.fields.components):
            raise ValueError("custom_fields and components are Jira fields; a Kaiten rule uses properties")
        if self.fields.assignee and self.fields.assignees:
            raise ValueError("set assignee or assignees (round-robin), not both")
        return self


class ProjectReplies(Strict):
    """Reply settings for one project (Jira key) or board (Kaiten id)."""

    mode: Literal["marker", "public"] = "marker"
    marker: str = Field(default="/reply", min_length=1)


class QuietHours(Strict):
    """Hours in which status notifications wait (replies written by people are never held back)."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: ZoneName = "UTC"


class Replies(Strict):
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

    @field_validator("transitions")
    @classmethod
    def _transitions_exist(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for key in value.values():
            check_canned(key, info)
        return value

    def for_project(self, project: str) -> ProjectReplies:
        """The reply settings of a project or board, falling back to the defaults."""
        return self.projects.get(project) or ProjectReplies(mode=self.mode, marker=self.marker)


class Texts(Strict):
    """Languages of the customer-facing texts (templates live in ``config/templates``)."""

    default_language: Literal["en", "ru"] = "en"


class HubConfig(Strict):
    """The whole rule file.

    ``trackers`` holds only the instances the file adds; the environment's ``jira`` and ``kaiten``
    exist always (:meth:`tracker_kind`). ``targets`` are the named targets, ready for rules, routes
    and automations to refer to.
    """

    trackers: dict[str, TrackerSpec] = Field(default_factory=dict)
    targets: dict[str, InlineTarget] = Field(default_factory=dict)
    texts: Texts = Field(default_factory=Texts)
    replies: Replies = Field(default_factory=Replies)
    forms: dict[str, Form] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = Field(min_length=1)
    calendars: Calendars = Field(default_factory=dict, validate_default=True)
    sla: SlaSection = None  # after calendars: its calendar is checked against them
    routes: dict[str, Route] = Field(default_factory=dict)  # config.routes
    catalogues: dict[str, InstanceOf[Catalogue]] = Field(default_factory=dict)  # read by config.loading
    automations: tuple[Automation, ...] = ()  # config.automations; after sla (a trigger may need it)
    team_bot: TeamBot = Field(default_factory=TeamBot)  # config.team_bot
    csat: Csat = Field(default_factory=Csat)  # config.csat
    reports: ReportsSection = Field(default_factory=Reports)  # config.reports; after calendars

    _canned_files: Mapping[str, str] | None = PrivateAttr(default=None)

    @property
    def canned_files(self) -> Mapping[str, str] | None:
        """The canned library this config was validated with: a configuration version's files (name →
        text), or None for the ``canned/`` folder beside the rule file."""
        return self._canned_files

    def with_canned(self, files: Mapping[str, str] | None) -> HubConfig:
        """This config holding the canned library ``files`` (read-only; None: the folder)."""
        self._canned_files = None if files is None else MappingProxyType(dict(files))
        return self

    @field_validator("automations")
    @classmethod
    def _automations(cls, value: tuple[Automation, ...], info: ValidationInfo) -> tuple[Automation, ...]:
        return check_automations(value, info)

    def automation(self, name: str) -> Automation:
        """The automation rule ``name``; KeyError when the file has none so."""
        found = next((rule for rule in self.automations if rule.name == name), None)
        if found is None:
            raise KeyError(name)
        return found

    @field_validator("forms")
    @classmethod
    def _form_names(cls, value: dict[str, Form]) -> dict[str, Form]:
        bad = [name for name in value if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", name)]
        if bad:
            raise ValueError(f"form names must be lowercase slugs: {bad}")
        return value

    @field_validator("trackers", "targets", "routes")
    @classmethod
    def _names(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        bad = [name for name in value if not re.fullmatch(NAME, name)]
        if bad:
            raise ValueError(f"names must be lowercase slugs starting with a letter: {bad}")
        taken = sorted(ENV_TRACKERS.keys() & value.keys()) if info.field_name == "trackers" else []
        if taken:
            raise ValueError(
                f"{taken} are the environment's trackers (JIRA_URL, KAITEN_URL); name yours otherwise"
            )
        return value

    def tracker_kind(self, name: str) -> str | None:
        """The kind ("jira" or "kaiten") of the tracker instance ``name``; None when there is none."""
        spec = self.trackers.get(name)
        return spec.kind if spec is not None else ENV_TRACKERS.get(name)

    def tracker_names(self) -> list[str]:
        """Every tracker instance: the environment's two, then the file's."""
        return [*ENV_TRACKERS, *self.trackers]

    def calendar(self, name: str | None = None) -> CalendarSpec:
        """The business calendar ``name`` (``default`` when None); KeyError when there is none so."""
        return self.calendars[name or "default"]

    def target(self, name: str) -> JiraTarget | KaitenTarget:
        """The named target ``name``; KeyError when the file names none so."""
        return self.targets[name]

    def rule_for(self, message: HasFacts | MessageFacts) -> Rule:
        """The first rule whose ``when`` matches the message, falling back to the last rule."""
        facts = message if isinstance(message, MessageFacts) else message.facts()
        return next((rule for rule in self.rules if rule.when.matches(facts)), self.rules[-1])
