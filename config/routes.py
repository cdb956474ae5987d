"""Routes (``routes:`` of the rule file): where a coordinator can send an issue with one click, and how
the target's fields are filled.

A route has a label, where it is offered (source trackers, projects or boards, issue types; empty lists
mean everywhere), a target (a name in ``targets:`` or an inline target), a mode (``move``: the issue
continues in the target and the source is closed; ``spawn``: a linked issue in the target, the source
stays open), and for each target field (by id or by the name the target shows) one source of its value:

- ``from``: a source field (id or name), optionally through a ``map`` of values with a ``default``;
- ``value``: a constant;
- ``template``: a Jinja2 template over the source issue (``{{ source.summary }}``), rendered in the sandbox;
- ``lookup``: a row of a catalogue file (``config.catalogues``) found by a templated key, one column of it.

What else to carry (``carry``), the source's fate in move mode (``source_fate``), the link type, whom to
notify in the receiving team and an optional canned notice to the customer complete it. The pure planner
that turns a route and a source issue into the target's fields is ``mappers.autofill``.

A route whose target tracker is not configured in this deployment (``kaiten`` without ``KAITEN_URL``,
say) is valid but not offered; :func:`unavailable_routes` names them, and the config source logs one
INFO line for each when it loads the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import Field, ValidationInfo, field_validator, model_validator

from config.base import Localized, Strict
from config.canned import CANNED_KEY, check_canned
from config.settings import Settings
from config.targets import Scope, TargetRef

if TYPE_CHECKING:
    from config.rules import HubConfig

log = logging.getLogger(__name__)

MAX_FIELDS = 100
MAX_TEMPLATE_CHARS = 5000
SOURCES = ("from", "value", "template", "lookup")
_SYNTAX = ImmutableSandboxedEnvironment()


def check_template(text: str) -> str:
    """``text`` when it is a Jinja2 template that parses; ValueError naming the line otherwise."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"the template is over {MAX_TEMPLATE_CHARS} characters")
    try:
        _SYNTAX.parse(text)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    return text


def as_texts(value: Any) -> Any:
    """One value or a list of them, as a tuple of texts (ids may be written as numbers)."""
    if value is None:
        return ()
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list | tuple):
        return tuple(str(item).strip() for item in value if str(item).strip())
    return value


def map_key(value: Any) -> str:
    """A source value as a ``map`` table's keys are compared: text without regard to case, booleans as
    ``true``/``false`` (so ``asap: true`` and a YAML key ``true:`` meet)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().casefold()


class Offered(Strict):
    """Where a route is offered; each list holds any of its values, and an empty list holds everywhere.

    ``projects`` are Jira project keys or Kaiten board ids (``boards`` is the same list, for Kaiten);
    ``issue_types`` are Jira issue type names or ids, or Kaiten card type ids.
    """

    trackers: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    boards: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()

    @field_validator("trackers", "projects", "boards", "issue_types", mode="before")
    @classmethod
    def _as_texts(cls, value: Any) -> Any:
        return as_texts(value)

    @field_validator("trackers")
    @classmethod
    def _known_trackers(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        known = _scope(info).trackers
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown tracker(s) {unknown}; the trackers are {', '.join(sorted(known))}")
        return value

    def includes(self, tracker: str, container: str, issue_type: str) -> bool:
        """Whether an issue of ``tracker``, in ``container`` (project key or board id) and of
        ``issue_type`` (name or id) may take this route."""
        containers = {c.casefold() for c in (*self.projects, *self.boards)}
        types = {t.casefold() for t in self.issue_types}
        return (
            (not self.trackers or tracker in self.trackers)
            and (not containers or container.casefold() in containers)
            and (not types or issue_type.casefold() in types)
        )


class Lookup(Strict):
    """A catalogue row found by ``key`` (a template over the source issue), and the ``column`` to take."""

    catalogue: str = Field(min_length=1)
    key: str = Field(min_length=1)
    column: str = Field(min_length=1)

    @field_validator("key")
    @classmethod
    def _key_template(cls, value: str) -> str:
        return check_template(value)

    @model_validator(mode="after")
    def _catalogue_has_the_column(self, info: ValidationInfo) -> Lookup:
        scope = _scope(info)
        found = scope.catalogues.get(self.catalogue)
        if found is None and self.catalogue in scope.declared_catalogues:
            raise ValueError(f"catalogue {self.catalogue} is not valid (see its own error)")
        if found is None:
            folder = scope.catalogue_folder or "catalogues/"
            known = ", ".join(sorted(scope.catalogues)) or "(none)"
            raise ValueError(f"no catalogue {self.catalogue!r} in {folder}; there are {known}")
        if self.column not in found.columns:
            raise ValueError(
                f"catalogue {self.catalogue} has no column {self.column!r}; it has {', '.join(found.columns)}"
            )
        return self


class FieldRule(Strict):
    """Where one target field's value comes from: exactly one of ``from``, ``value``, ``template`` and
    ``lookup``. ``map`` (with ``from``) translates values, compared without regard to case; ``default``
    is taken when the source has no value, the map has no entry, the template renders empty or the
    catalogue has no row."""

    from_: str | None = Field(default=None, alias="from", min_length=1)
    map: dict[str, Any] = Field(default_factory=dict)
    value: Any = None
    template: str | None = None
    lookup: Lookup | None = None
    default: Any = None

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        keys = [map_key(key) for key in value]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ValueError(f"keys written twice (case aside): {twice}")
        return {map_key(key): item for key, item in value.items()}

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return value if value is None else check_template(value)

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        given = [name for name in SOURCES if self._given(name)]
        if len(given) != 1:
            got = f"; got {', '.join(given)}" if given else ""
            raise ValueError(f"give exactly one of {', '.join(SOURCES)}{got}")
        if self.map and self.from_ is None:
            raise ValueError("map translates a source field's values: it goes with from")
        if self._given("value") and "default" in self.model_fields_set:
            raise ValueError("a constant value needs no default")
        return self

    @property
    def source(self) -> str:
        """Which source the value comes from: ``from``, ``value``, ``template`` or ``lookup``."""
        return next(name for name in SOURCES if self._given(name))

    @property
    def has_default(self) -> bool:
        """Whether a ``default`` is given (``default: null`` counts: it leaves the field empty)."""
        return "default" in self.model_fields_set

    def _given(self, name: str) -> bool:
        return ("from_" if name == "from" else name) in self.model_fields_set


class Carry(Strict):
    """What goes with the issue besides its fields: the description, the attachments, the public
    comments (as one digest comment with authors and dates), the reporter, the labels or tags."""

    description: bool = True
    attachments: bool = True
    comments: bool = True
    reporter: bool = True
    labels: bool = True


class SourceFate(Strict):
    """What happens to the source in move mode.

    Jira: ``transition`` (a transition's name or id, or the status to reach; default: the first
    transition into a "done" status), with ``resolution`` when the screen takes one. Kaiten: ``column``
    (an id on the card's board; default: the board's first "done" column) or ``archive: true``.
    ``comment``: ``true`` writes "Moved to <target>" on the source, a text writes that text (with the
    target's link after it), ``false`` writes nothing.
    """

    transition: str | None = Field(default=None, min_length=1)
    resolution: str | None = Field(default=None, min_length=1)
    comment: bool | str = True
    column: int | None = Field(default=None, gt=0)
    archive: bool = False

    @model_validator(mode="after")
    def _one_way_for_kaiten(self) -> SourceFate:
        if self.column is not None and self.archive:
            raise ValueError("a Kaiten source goes to a column or to the archive, not both")
        return self

    @property
    def jira_parts(self) -> list[str]:
        """The Jira settings given."""
        return [name for name in ("transition", "resolution") if getattr(self, name) is not None]

    @property
    def kaiten_parts(self) -> list[str]:
        """The Kaiten settings given."""
        return [name for name in ("column", "archive") if getattr(self, name) not in (None, False)]


def read_chat(value: Any) -> Any:
    """A Telegram chat as the rule file writes it: a chat id (``-100…``, an int), a public ``@channel``
    name, or nothing (an empty ``${VAR:-}``)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if not re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,}", text):
            raise ValueError("a Telegram chat is a chat id (-100…) or a public @channel name")
        return text
    return value


class Recipients(Strict):
    """Where a message to the team goes: a Telegram chat (id, or ``@channel``) and e-mail addresses.
    Empty values (``${TEAM_CHAT:-}`` left unset) mean nobody."""

    telegram_chat: int | str | None = None
    email: tuple[str, ...] = ()

    @field_validator("telegram_chat", mode="before")
    @classmethod
    def _chat(cls, value: Any) -> Any:
        return read_chat(value)

    @field_validator("email", mode="before")
    @classmethod
    def _email_list(cls, value: Any) -> Any:
        return read_list(value)

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [address for address in value if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return value


def read_list(value: Any) -> Any:
    """A list as the rule file may write it: a YAML list, or one text separated by commas or spaces."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    return as_texts(value)


class Notify(Recipients):
    """Whom the receiving team's notice goes to: :class:`Recipients`, and watchers added to the target
    issue (Jira user names / account ids, Kaiten user ids, added as card members)."""

    watchers: tuple[str, ...] = ()

    @field_validator("watchers", mode="before")
    @classmethod
    def _watcher_list(cls, value: Any) -> Any:
        return read_list(value)


class Route(Strict):
    """One route of ``routes:`` (its id is the mapping key)."""

    label: Localized = ""
    offered: Offered = Field(default_factory=Offered)
    target: TargetRef
    mode: Literal["move", "spawn"]
    fields: dict[str, FieldRule] = Field(default_factory=dict, max_length=MAX_FIELDS)
    carry: Carry = Field(default_factory=Carry)
    source_fate: SourceFate | None = None
    link_type: str | None = Field(default=None, min_length=1)
    notify: Notify = Field(default_factory=Notify)
    customer_notice: str | None = Field(default=None, pattern=CANNED_KEY)

    @field_validator("customer_notice")
    @classmethod
    def _notice_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        check_canned(value, info)
        return value

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, FieldRule]) -> dict[str, FieldRule]:
        if any(not str(name).strip() for name in value):
            raise ValueError("a target field is named by its id or its name, not by an empty text")
        return value

    @field_validator("source_fate")
    @classmethod
    def _fate_fits(cls, value: SourceFate | None, info: ValidationInfo) -> SourceFate | None:
        if value is None:
            return value
        if info.data.get("mode") == "spawn":
            raise ValueError("spawn leaves the source open: remove source_fate, or use mode: move")
        offered = info.data.get("offered")
        trackers = offered.trackers if isinstance(offered, Offered) else ()
        kinds = {_scope(info).trackers.get(name) for name in trackers}
        if kinds == {"jira"} and value.kaiten_parts:
            parts = " and ".join(value.kaiten_parts)
            raise ValueError(f"{parts}: Kaiten's; a Jira source takes transition and resolution")
        if kinds == {"kaiten"} and value.jira_parts:
            parts = " and ".join(value.jira_parts)
            raise ValueError(f"{parts}: Jira's; a Kaiten source takes column or archive")
        return value

    def label_in(self, language: str, fallback: str) -> str:
        """The label in ``language`` (else English, else any), or ``fallback`` (the route's id)."""
        if isinstance(self.label, str):
            return self.label or fallback
        return self.label.get(language) or self.label.get("en") or next(iter(self.label.values()), fallback)


def _scope(info: ValidationInfo) -> Scope:
    return info.context if isinstance(info.context, Scope) else Scope()


# -- which routes a deployment offers -------------------------------------------------------------------


def available_trackers(settings: Settings, file_trackers: Iterable[str]) -> frozenset[str]:
    """The tracker instances this deployment has: ``jira`` when ``JIRA_URL`` is set, ``kaiten`` when
    ``KAITEN_URL`` is, and every instance of the rule file."""
    environment = {"jira": settings.JIRA_URL, "kaiten": settings.KAITEN_URL}
    return frozenset(name for name, url in environment.items() if url) | frozenset(file_trackers)


def unavailable_routes(routes: Mapping[str, Route], trackers: Collection[str]) -> dict[str, str]:
    """The routes whose target tracker is not among ``trackers``, each with that tracker's name."""
    return {rid: r.target.tracker for rid, r in routes.items() if r.target.tracker not in trackers}


def offered_routes(
    config: HubConfig, settings: Settings, *, tracker: str, container: str, issue_type: str
) -> dict[str, Route]:
    """The routes an issue of ``tracker`` in ``container`` of ``issue_type`` can take, in file order
    (a route whose target tracker this deployment lacks is never offered)."""
    trackers = available_trackers(settings, config.trackers)
    return {
        rid: route
        for rid, route in config.routes.items()
        if route.target.tracker in trackers and route.offered.includes(tracker, container, issue_type)
    }


def log_unavailable_routes(config: HubConfig, settings: Settings) -> None:
    """One INFO line per route that is not offered because its target tracker is not configured."""
    trackers = available_trackers(settings, config.trackers)
    for rid, tracker in unavailable_routes(config.routes, trackers).items():
        variable = {"jira": "JIRA_URL", "kaiten": "KAITEN_URL"}.get(tracker, tracker)
        log.info("routes.unavailable route=%s tracker=%s reason=%s-not-set", rid, tracker, variable)
