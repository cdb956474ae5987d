"""Named tracker instances and named targets of the rule file (``trackers:`` and ``targets:``).

The environment defines two tracker instances, ``jira`` (``JIRA_URL``…) and ``kaiten``
(``KAITEN_URL``…); the rule file may add more of either kind. Journal rows and conversation links store
the instance name, so the environment's instances keep those two names and the file cannot redefine
them. A secret is never written in the file: an instance names the environment variable that holds it
(``token_env``, ``password_env``), read through :class:`~config.settings.Settings`.

A target is where an issue goes: a tracker instance and a Jira project (and issue type) or a Kaiten
board (and column, lane, card type). Rules, routes and automations name one by its name in
``targets:``, or write it inline; ``{tracker: default}`` is the environment's own target.

Which model a target mapping becomes depends on the kind of the tracker it names, so validation needs
a :class:`Scope` (pydantic's validation context) that knows the instances; the loader builds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from config.base import Strict
from config.catalogues import Catalogue
from config.settings import Settings

ENV_TRACKERS: Mapping[str, str] = {"jira": "jira", "kaiten": "kaiten"}  # name → kind
NAME = r"^[a-z][a-z0-9_-]{0,40}$"  # tracker and target names
ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,100}$"
Kind = Literal["jira", "kaiten"]


@dataclass(frozen=True)
class Scope:
    """What validating a target needs to know: the settings and the trackers and targets defined.

    ``trackers`` maps each usable instance name to its kind; ``targets`` holds the named targets that
    validated; ``declared_*`` every name the file declares, valid or not (so a rule naming a broken
    target is told to look there, not that the name is unknown). ``catalogues`` are the valid catalogue
    files of ``catalogue_folder`` (``declared_catalogues`` every one there), for routes' lookups.
    ``calendars``, ``routes`` and ``canned_keys`` are the names the file declares and the canned
    responses of the version (``canned_where`` says where they are), for automations, routes and
    ``replies.transitions`` to refer to (None: not known, not checked).
    """

    settings: Settings | None = None
    trackers: Mapping[str, str] = field(default_factory=lambda: dict(ENV_TRACKERS))
    targets: Mapping[str, JiraTarget | KaitenTarget] = field(default_factory=dict)
    declared_trackers: frozenset[str] = frozenset()
    declared_targets: frozenset[str] = frozenset()
    catalogues: Mapping[str, Catalogue] = field(default_factory=dict)
    declared_catalogues: frozenset[str] = frozenset()
    catalogue_folder: Path | None = None
    calendars: frozenset[str] | None = None
    routes: frozenset[str] | None = None
    canned_keys: frozenset[str] | None = None
    canned_where: str = "the canned/ folder beside the rule file"


class TrackerSpec(Strict):
    """A tracker instance the rule file adds: its kind, where it is, and how to sign in.

    Jira signs in with a personal access token (``token_env``, sent as Bearer) or a user and a password
    (``user`` + ``password_env``; Cloud: the account's e-mail and an API token). Kaiten takes a token.
    """

    kind: Kind
    url: str
    token_env: str | None = Field(default=None, pattern=ENV_NAME)
    user: str | None = None
    password_env: str | None = Field(default=None, pattern=ENV_NAME)
    timeout: float = Field(default=30.0, gt=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"token", "password"} & data.keys():
            raise PydanticCustomError(
                "inline_secret",
                "secrets are not written in the rule file: name the environment variable that holds "
                "them with token_env / password_env",
            )
        return data

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("token_env", "password_env")
    @classmethod
    def _variable_is_set(cls, value: str | None, info: ValidationInfo) -> str | None:
        scope = info.context
        settings = scope.settings if isinstance(scope, Scope) else None
        if value is not None and settings is not None and not settings.environment_secret(value):
            raise ValueError(f"the environment variable {value} is not set")
        return value

    @model_validator(mode="after")
    def _sign_in_fits_the_kind(self) -> TrackerSpec:
        if self.kind == "kaiten":
            if self.user or self.password_env:
                raise ValueError("Kaiten signs in with a token: set token_env, not user/password_env")
            if not self.token_env:
                raise ValueError("a Kaiten tracker needs token_env (the variable holding its API token)")
        elif self.token_env and (self.user or self.password_env):
            raise ValueError("set token_env, or user and password_env, not both")
        elif not self.token_env and not (self.user and self.password_env):
            raise ValueError("a Jira tracker needs token_env, or user and password_env")
        return self


class JiraTarget(Strict):
    """Where a Jira issue goes: a Jira instance, a project and an issue type."""

    kind: Literal["jira"] = "jira"
    tracker: str = "jira"
    project: str = Field(min_length=1)
    issue_type: str = Field(default="Task", min_length=1)


class KaitenTarget(Strict):
    """Where a Kaiten card goes: a board, and optionally its column, lane and card type (all ids)."""

    kind: Literal["kaiten"] = "kaiten"
    tracker: str = "kaiten"
    board: int = Field(gt=0)
    column: int | None = Field(default=None, gt=0)
    lane: int | None = Field(default=None, gt=0)
    type: int | None = Field(default=None, gt=0)


def default_target(settings: Settings | None) -> dict[str, Any]:
    """``{tracker: default}``: the target the environment configures.

    Jira when ``JIRA_URL`` is set (or neither is, so ``up`` runs the Jira sandbox); Kaiten when only
    ``KAITEN_URL`` is, with ``KAITEN_BOARD_ID`` / ``KAITEN_COLUMN_ID``. This is what lets the shipped
    rule file work from the environment alone for either tracker.
    """
    if settings is None:
        raise PydanticCustomError("no_settings", "tracker: default needs the settings to resolve")
    if settings.KAITEN_URL and not settings.JIRA_URL:
        if settings.KAITEN_BOARD_ID is None:
            raise PydanticCustomError("no_board", "KAITEN_URL is set but KAITEN_BOARD_ID is not")
        return {"tracker": "kaiten", "board": settings.KAITEN_BOARD_ID, "column": settings.KAITEN_COLUMN_ID}
    return {"tracker": "jira", "project": settings.JIRA_PROJECT, "issue_type": settings.JIRA_ISSUE_TYPE}


def _scope(info: ValidationInfo) -> Scope:
    return info.context if isinstance(info.context, Scope) else Scope()


def _tag_kind(value: Any, info: ValidationInfo) -> Any:
    """An inline target mapping, tagged with the kind of the tracker it names (``jira`` if none)."""
    if not isinstance(value, dict):
        return value
    scope = _scope(info)
    if value.get("tracker") == "default":
        value = {**default_target(scope.settings), **{k: v for k, v in value.items() if k != "tracker"}}
    tracker = str(value.get("tracker", "jira"))
    kind = scope.trackers.get(tracker)
    if kind is None:
        raise _not_found("tracker", tracker, scope.declared_trackers, scope.trackers)
    if "kind" in value and value["kind"] != kind:
        raise PydanticCustomError("kind_set", "kind comes from the tracker; leave it out")
    return {**value, "kind": kind, "tracker": tracker}


def _resolve_name(value: Any, info: ValidationInfo) -> Any:
    """A target's name, replaced by the named target; a mapping, tagged as inline targets are."""
    if not isinstance(value, str):
        return _tag_kind(value, info)
    scope = _scope(info)
    if value in scope.targets:
        return scope.targets[value]
    raise _not_found("target", value, scope.declared_targets, scope.declared_targets)


def _not_found(what: str, name: str, declared: Iterable[str], known: Iterable[str]) -> PydanticCustomError:
    """The error for a tracker or target name: declared but invalid (reported there), or unknown."""
    if name in declared:
        return PydanticCustomError(
            f"broken_{what}", f"{what} '{{name}}' is not valid (see {what}s.{{name}})", {"name": name}
        )
    return PydanticCustomError(
        f"unknown_{what}",
        f"unknown {what} '{{name}}'; the {what}s are {{known}}",
        {"name": name, "known": ", ".join(sorted(known)) or "(none)"},
    )


_AnyTarget = Annotated[JiraTarget | KaitenTarget, Field(discriminator="kind")]
InlineTarget = Annotated[_AnyTarget, BeforeValidator(_tag_kind)]
"""A target written out as a mapping (an entry of ``targets:``)."""
TargetRef = Annotated[_AnyTarget, BeforeValidator(_resolve_name)]
"""A target's name in ``targets:``, or an inline target (a rule's, a route's, an automation's)."""
