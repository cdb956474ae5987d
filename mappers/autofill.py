"""The route autofill planner, pure: which value each target field gets, and where it came from.

Input: the source issue (``mappers.route_source.SourceIssue``, re-exported here: its ``IssueState`` with
every field, its description, comments and files, and what its fields are called), the route
(``config.routes.Route``), the target's create screen (``connector.types.FieldSchema``: Jira
createmeta, Kaiten card fields and properties), the values the coordinator supplied (by field id or by
the name the target shows), and the catalogues.

Output: a :class:`RoutePlan`: each target field with its value and its :class:`Origin`, the ASKED
fields (what the target's create screen requires and autofill does not fill: the coordinator's inputs,
with their allowed values), those of them still MISSING, and the errors (a value not among a field's
allowed values, a mapped select value that does not exist, a field the target does not have).

How a field is filled, in this order of precedence:

1. a value the coordinator supplied (origin "asked");
2. the route's ``fields`` entry (``from``, ``value``, ``template``, ``lookup``; see ``config.routes``);
3. what the route carries: the title (always, from the summary), the description (``carry.description``,
   made the target's markup by ``mappers.route_text``), the labels or tags (``carry.labels``), the
   reporter (``carry.reporter``, within one tracker instance: users do not cross instances).

Nothing else is set: an optional field no entry names is left out. Templates render in the Jinja2
sandbox shared with the canned responses (``mappers.canned.sandbox_environment``) over ``source``
(``SourceIssue.template_variables``); what a template writes into a text field is escaped for the
target's markup, its own text is not.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jinja2 import Template, TemplateError

from config.catalogues import Catalogue
from config.routes import FieldRule, Route, map_key
from connector.types import Comment, FieldSchema, FieldSpec, Target, TrackerFile
from mappers.canned import sandbox_environment
from mappers.field_values import ValueProblem, convert, display, is_empty, wire_value
from mappers.issue import target_of
from mappers.markup import Markup, markup_for
from mappers.route_source import SourceIssue
from mappers.route_text import carried_text, plain_text, public_comments

__all__ = ["Origin", "PlanError", "PlannedValue", "RoutePlan", "SourceIssue", "plan_route"]

OriginKind = Literal["copied", "mapped", "constant", "template", "catalogue", "asked", "default"]
TITLE = {"jira": ("summary", "Summary"), "kaiten": ("title", "Title")}
LABELS = {"jira": "labels", "kaiten": "tags"}
SET_BY_TARGET = frozenset({"project", "issuetype"})  # Jira fields the route's target fills
MAX_NAMES = 40  # field names listed in an error


@dataclass(frozen=True)
class Origin:
    """Where a value came from; ``str()`` is what the preview shows ("mapped High→Major")."""

    kind: OriginKind
    detail: str = ""

    def __str__(self) -> str:
        prefix = {"copied": "copied from ", "mapped": "mapped ", "catalogue": "catalogue "}.get(self.kind)
        return f"{prefix}{self.detail}" if prefix else self.kind


@dataclass(frozen=True)
class PlannedValue:
    """One target field, the value it gets (converted, see ``mappers.field_values``) and its origin."""

    field: FieldSpec
    value: Any
    origin: Origin

    @property
    def text(self) -> str:
        """The value as the preview shows it."""
        return display(self.value)


@dataclass(frozen=True)
class PlanError:
    """A problem with one target field (named as the route or the coordinator wrote it)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class RoutePlan:
    """What routing an issue by a route will write, before anything is written."""

    route: str
    mode: str
    target: Target
    values: tuple[PlannedValue, ...]
    asked: tuple[FieldSpec, ...]  # required by the target, not filled by autofill: the coordinator's inputs
    errors: tuple[PlanError, ...]
    comments: tuple[Comment, ...] = ()  # the public comments the digest carries
    files: tuple[TrackerFile, ...] = ()  # the attachments carried

    @property
    def missing(self) -> tuple[FieldSpec, ...]:
        """The asked fields that still have no value."""
        filled = {planned.field.id for planned in self.values}
        return tuple(spec for spec in self.asked if spec.id not in filled)

    @property
    def ready(self) -> bool:
        """Whether the target can be created: nothing missing, no error."""
        return not self.missing and not self.errors

    def value(self, id_or_name: str) -> PlannedValue | None:
        """The planned value of a field, by id or name (case-insensitive)."""
        wanted = id_or_name.casefold()
        return next(
            (p for p in self.values if p.field.id == id_or_name or p.field.name.casefold() == wanted), None
        )

    def field_values(self) -> dict[str, Any]:
        """Each planned field's id and value as the connectors' field writes take it (Jira's
        ``jira_value``, Kaiten's ``card_update``): a select by its id (by its name when the tracker lists
        no ids), several as a list; other values as they are."""
        return {planned.field.id: wire_value(planned.value) for planned in self.values}


def plan_route(
    route_id: str,
    route: Route,
    source: SourceIssue,
    schema: FieldSchema,
    supplied: Mapping[str, Any] | None = None,
    catalogues: Mapping[str, Catalogue] | None = None,
) -> RoutePlan:
    """The plan for routing ``source`` by ``route`` into the target whose create screen is ``schema``."""
    planner = _Planner(route, source, schema, catalogues or {})
    autofilled = planner.autofill()
    chosen, supplied_errors = planner.supplied(supplied or {})
    values = {**autofilled, **chosen}
    errors = [e for fid, e in planner.errors if fid not in chosen] + supplied_errors
    asked = tuple(
        spec for spec in schema.required if spec.id not in autofilled and spec.id not in planner.set_by_target
    )
    order = {spec.id: index for index, spec in enumerate(schema.fields)}
    ordered = sorted(values.values(), key=lambda p: order.get(p.field.id, -1))
    carry = route.carry
    return RoutePlan(
        route=route_id,
        mode=route.mode,
        target=target_of(route.target),
        values=tuple(ordered),
        asked=asked,
        errors=tuple(errors),
        comments=public_comments(source.comments) if carry.comments else (),
        files=tuple(source.files) if carry.attachments else (),
    )


@dataclass
class _Planner:
    route: Route
    source: SourceIssue
    schema: FieldSchema
    catalogues: Mapping[str, Catalogue]
    errors: list[tuple[str, PlanError]] = field(default_factory=list)  # (field id or "", error)

    @property
    def target_kind(self) -> str:
        return self.route.target.kind

    @property
    def markup(self) -> Markup:
        return markup_for(self.target_kind)

    @property
    def same_instance(self) -> bool:
        return self.source.state.ref.tracker == self.route.target.tracker

    @property
    def set_by_target(self) -> frozenset[str]:
        return SET_BY_TARGET if self.target_kind == "jira" else frozenset()

    # -- the route's entries and the carried fields ---------------------------------------------------

    def autofill(self) -> dict[str, PlannedValue]:
        filled: dict[str, PlannedValue] = {}
        for name, rule in self.route.fields.items():
            spec = self.schema.field(name)
            if spec is None:
                self.errors.append(("", PlanError(name, self._no_such_field(name))))
                continue
            if spec.id in self.set_by_target:
                self.errors.append(("", PlanError(name, "set by the route's target, not by a field entry")))
                continue
            planned = self._fill(spec, rule)
            if planned is not None:
                filled[spec.id] = planned
        for spec, value, name in self._carried():
            if spec.id in filled:
                continue
            converted = self._convert(spec, value, Origin("copied", name))
            if converted is not None:
                filled[spec.id] = PlannedValue(spec, converted, Origin("copied", name))
        return filled

    def _carried(self) -> list[tuple[FieldSpec, Any, str]]:
        """The fields a route carries without an entry: each target field, its value, its source's name."""
        state, carry = self.source.state, self.route.carry
        title_id, title_name = TITLE[self.target_kind]
        title = self.schema.field(title_id) or FieldSpec(title_id, title_name, "string", True, system=True)
        out: list[tuple[FieldSpec, Any, str]] = [(title, state.summary, "summary")]
        description = self.schema.field("description")
        if carry.description and description is not None and self.source.description.strip():
            text = carried_text(
                self.source.description, self.source.kind, self.markup, same_instance=self.same_instance
            )
            out.append((description, text, "description"))
        labels = self.schema.field(LABELS[self.target_kind])
        if carry.labels and labels is not None and state.labels:
            out.append((labels, state.labels, "labels"))
        reporter = self.schema.field("reporter")
        if carry.reporter and reporter is not None and state.reporter and self.same_instance:
            out.append((reporter, state.reporter, "reporter"))
        return out

    def _fill(self, spec: FieldSpec, rule: FieldRule) -> PlannedValue | None:
        try:
            found = self._raw(spec, rule)
        except ValueProblem as exc:
            self.errors.append((spec.id, PlanError(spec.name, str(exc))))
            return None
        if found is None:
            return None
        raw, origin = found
        value = self._convert(spec, raw, origin)
        return PlannedValue(spec, value, origin) if value is not None else None

    def _raw(self, spec: FieldSpec, rule: FieldRule) -> tuple[Any, Origin] | None:
        """The unconverted value of an entry and its origin; None when there is nothing to set."""
        if rule.source == "value":
            return (rule.value, Origin("constant"))
        if rule.source == "from":
            return self._from(spec, rule)
        if rule.source == "template":
            assert rule.template is not None
            found = self._render(rule.template, escaped=spec.type == "text")
            return (found, Origin("template")) if found else self._default(rule)
        return self._lookup(rule)

    def _from(self, spec: FieldSpec, rule: FieldRule) -> tuple[Any, Origin] | None:
        name = rule.from_ or ""
        value, markup_text = self.source.value(name)
        if is_empty(value):
            return self._default(rule)
        if markup_text:
            value = (
                carried_text(value, self.source.kind, self.markup, same_instance=self.same_instance)
                if spec.type == "text"
                else plain_text(value, self.source.kind)
            )
        if not rule.map:
            return (value, Origin("copied", name))
        items = value if isinstance(value, tuple) else (value,)
        hits = [rule.map.get(map_key(item)) for item in items]
        if all(hit is None for hit in hits):
            return self._default(rule) or (value, Origin("copied", name))
        mapped = tuple(item if hit is None else hit for item, hit in zip(items, hits, strict=True))
        result = mapped if isinstance(value, tuple) else mapped[0]
        return (result, Origin("mapped", f"{_shown(value)}→{_shown(result)}"))

    def _lookup(self, rule: FieldRule) -> tuple[Any, Origin] | None:
        lookup = rule.lookup
        assert lookup is not None
        catalogue = self.catalogues.get(lookup.catalogue)
        if catalogue is None:
            raise ValueProblem(f"no catalogue {lookup.catalogue!r} is loaded")
        key = self._render(lookup.key, escaped=False)
        row = catalogue.row(key) if key else None
        if row is None or is_empty(row.get(lookup.column)):
            return self._default(rule)
        return (row[lookup.column], Origin("catalogue", f"{lookup.catalogue} row {key}"))

    @staticmethod
    def _default(rule: FieldRule) -> tuple[Any, Origin] | None:
        return (rule.default, Origin("default")) if rule.has_default else None

    def _convert(self, spec: FieldSpec, raw: Any, origin: Origin) -> Any:
        try:
            return convert(spec, raw, target_kind=self.target_kind)
        except ValueProblem as exc:
            self.errors.append((spec.id, PlanError(spec.name, f"{exc} ({origin})")))
            return None

    # -- what the coordinator supplied ----------------------------------------------------------------

    def supplied(self, supplied: Mapping[str, Any]) -> tuple[dict[str, PlannedValue], list[PlanError]]:
        chosen: dict[str, PlannedValue] = {}
        errors: list[PlanError] = []
        named: dict[str, str] = {}
        for name, raw in supplied.items():
            if is_empty(raw):
                continue
            spec = self.schema.field(str(name))
            if spec is None:
                errors.append(PlanError(str(name), self._no_such_field(str(name))))
            elif spec.id in self.set_by_target:
                errors.append(PlanError(str(name), "set by the route's target, not by a value"))
            elif spec.id in named:
                errors.append(PlanError(str(name), f"given twice (also as {named[spec.id]!r})"))
            else:
                named[spec.id] = str(name)
                try:
                    value = convert(spec, raw, target_kind=self.target_kind)
                except ValueProblem as exc:
                    errors.append(PlanError(spec.name, str(exc)))
                    continue
                if value is not None:
                    chosen[spec.id] = PlannedValue(spec, value, Origin("asked"))
        return chosen, errors

    def _no_such_field(self, name: str) -> str:
        names = [spec.name for spec in self.schema.fields if spec.id not in self.set_by_target]
        more = f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
        return f"the target has no field {name!r}; it has {', '.join(names[:MAX_NAMES])}{more}"

    # -- the source issue -----------------------------------------------------------------------------

    @functools.cached_property
    def template_source(self) -> dict[str, Any]:
        return self.source.template_variables()

    def _render(self, text: str, *, escaped: bool) -> str:
        try:
            escape = self.markup.escape if escaped else None
            rendered = _template(text, escape).render(source=self.template_source)
        except TemplateError as exc:
            raise ValueProblem(f"the template failed: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # a template can divide by zero or call a method wrongly
            raise ValueProblem(f"the template failed: {type(exc).__name__}: {exc}") from None
        return rendered.strip()


def _shown(value: Any) -> str:
    """A value as an origin names it: as the route's ``map`` is written (``true``, not "yes")."""
    if isinstance(value, tuple):
        return ", ".join(_shown(item) for item in value)
    return map_key(value) if isinstance(value, bool) else display(value)


@functools.lru_cache(maxsize=256)
def _template(text: str, escape: Any) -> Template:
    """A route template compiled once per process (its text comes from the validated rule file)."""
    return sandbox_environment(escape).from_string(text)
