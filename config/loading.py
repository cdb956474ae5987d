"""Reading and validating the rule file; every error names the file, the entry and the field.

For example ``config/hub.yaml: rules[1] 'bugs': target.project: Field required`` or
``config/hub.yaml: trackers.jira-dev: token_env: the environment variable JIRA_DEV_TOKEN is not set``.
All errors of a file are reported at once, one per line.

``${NAME}`` and ``${NAME:-default}`` in string values are replaced by the setting of that name (only
settings, never arbitrary environment variables), so the shipped file works from the environment alone.

Validation runs in two steps because a target's shape depends on the kind of the tracker it names:
first each ``trackers:`` entry, then each ``targets:`` entry (knowing the trackers), then the whole
file, with the valid trackers and targets in the :class:`~config.targets.Scope`. The catalogue files
beside the rule file (``config.catalogues``) are read and validated with it, so routes' lookups can be
checked against their columns; their errors name the catalogue's file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from config.canned import VERSION_WHERE
from config.canned import canned_keys as keys_of
from config.catalogues import CatalogueFiles, catalogue_folder, parse_files, read_files
from config.rules import HubConfig
from config.settings import Settings
from config.targets import ENV_TRACKERS, InlineTarget, Scope, TrackerSpec

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")
_TARGET = TypeAdapter[Any](InlineTarget)
_UNION_TAGS = ("jira", "kaiten")  # pydantic names the member of a target union in an error's location
MAX_BYTES = 1024 * 1024


class ConfigError(Exception):
    """The rule file is missing, not YAML, or fails validation; the message says where."""


def load_config(settings: Settings) -> HubConfig:
    """Read and validate ``settings.HUB_CONFIG``; raise :class:`ConfigError` naming what is wrong."""
    path = Path(settings.HUB_CONFIG)
    return parse_config(read_text(path), path, settings)


def read_text(path: Path) -> str:
    """The rule file's text; :class:`ConfigError` when it cannot be read or is too large."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rule file: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: the rule file is over {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_config(
    text: str,
    path: Path,
    settings: Settings,
    catalogues: CatalogueFiles | None = None,
    *,
    canned: Mapping[str, str] | None = None,
) -> HubConfig:
    """Validate the rule file's ``text`` (read from ``path``, which errors name) with the catalogue
    files ``catalogues`` (read from ``catalogues/`` beside ``path`` when not given) and the canned
    library ``canned`` (a configuration version's files, name → text; None: the ``canned/`` folder
    beside ``path``), whose keys the rules may name. The config keeps ``canned``
    (:attr:`HubConfig.canned_files`), so a process uses the library it was validated with."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the rule file must be a mapping with 'rules' (and 'forms')")
    data = _interpolate(raw, settings)
    errors: list[str] = []
    if "catalogues" in data:
        errors.append(f"{path}: catalogues: catalogues are files in {catalogue_folder(path)}, not a section")
    files = catalogues if catalogues is not None else read_files(catalogue_folder(path))
    valid, catalogue_errors = parse_files(files)
    errors.extend(catalogue_errors)
    scope, specs = _scope(path, data, settings, errors)
    scope = replace(
        scope,
        catalogues=valid,
        declared_catalogues=frozenset(files.files),
        catalogue_folder=files.folder,
        calendars=_declared(data, "calendars") | {"default"},
        routes=_declared(data, "routes"),
        canned_keys=keys_of(canned) if canned is not None else canned_keys(path.resolve().parent / "canned"),
        canned_where=VERSION_WHERE if canned is not None else scope.canned_where,
    )
    try:
        config = HubConfig.model_validate(
            {**data, "trackers": specs, "targets": scope.targets, "catalogues": valid}, context=scope
        )
    except ValidationError as exc:
        errors.extend(_describe(path, data, err) for err in exc.errors() if not _echo(err, data))
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(errors)))
    return config.with_canned(canned)


def _scope(
    path: Path, data: dict[str, Any], settings: Settings, errors: list[str]
) -> tuple[Scope, dict[str, TrackerSpec]]:
    """Validate ``trackers:`` and ``targets:`` entry by entry: the scope of the valid ones, and the
    valid tracker specs. Errors are appended to ``errors``."""
    raw_trackers = _section(path, data, "trackers", errors)
    specs: dict[str, TrackerSpec] = {}
    for name, raw in raw_trackers.items():
        try:
            specs[name] = TrackerSpec.model_validate(raw, context=Scope(settings=settings))
        except ValidationError as exc:
            errors.extend(_describe(path, data, err, ("trackers", name)) for err in exc.errors())
    kinds = {**{name: spec.kind for name, spec in specs.items()}, **ENV_TRACKERS}
    raw_targets = _section(path, data, "targets", errors)
    scope = Scope(
        settings=settings,
        trackers=kinds,
        declared_trackers=frozenset(raw_trackers),
        declared_targets=frozenset(raw_targets),
    )
    targets = {}
    for name, raw in raw_targets.items():
        try:
            targets[name] = _TARGET.validate_python(raw, context=scope)
        except ValidationError as exc:
            errors.extend(_describe(path, data, err, ("targets", name)) for err in exc.errors())
    return replace(scope, targets=targets), specs


def _declared(data: dict[str, Any], key: str) -> frozenset[str]:
    """The names a mapping section declares (valid or not: their own errors say why)."""
    section = data.get(key)
    return frozenset(str(name) for name in section) if isinstance(section, dict) else frozenset()


def canned_keys(folder: Path) -> frozenset[str]:
    """The canned responses' keys in ``folder`` (files ``<key>.<lang>.md``); none when it is missing."""
    try:
        return keys_of(entry.name for entry in folder.iterdir() if entry.is_file())
    except OSError:
        return frozenset()


def _echo(err: Any, data: dict[str, Any]) -> bool:
    """Whether ``err`` only repeats others: a list too short ("rules", "sla.targets") when the file
    has entries there that failed."""
    value: Any = data
    for part in err["loc"]:
        if isinstance(value, list) and isinstance(part, int):
            value = value[part] if part < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return err["type"] == "too_short" and isinstance(value, list) and bool(value)


def _section(path: Path, data: dict[str, Any], key: str, errors: list[str]) -> dict[str, Any]:
    """A mapping section of the file, by name (as text); empty, with an error, when it is no mapping."""
    section = data.get(key)
    if section is None:
        return {}
    if not isinstance(section, dict):
        errors.append(f"{path}: {key}: must be a mapping of names to entries")
        return {}
    return {str(name): value for name, value in section.items()}


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


def _describe(path: Path, data: dict[str, Any], err: Any, prefix: tuple[Any, ...] = ()) -> str:
    """One validation error as ``<file>: <entry>: <field>: <message>``."""
    loc = [*prefix, *err["loc"]]
    where = ""
    if len(loc) >= 2 and loc[0] in ("rules", "automations") and isinstance(loc[1], int):
        rules = data.get(loc[0]) or []
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        name = rule.get("name", "?") if isinstance(rule, dict) else "?"
        where = f"{loc[0]}[{loc[1]}] {name!r}: "
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] in ("forms", "trackers", "targets", "calendars", "routes"):
        where = f"{loc[0]}.{loc[1]}: "
        loc = loc[2:]
    parts = [str(part) for part in loc]
    parts = [p for i, p in enumerate(parts) if not (p in _UNION_TAGS and _after_target(parts, i, where))]
    field = f"{'.'.join(parts)}: " if parts else ""
    if not where and not field:
        field = "(the file): "
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{path}: {where}{field}{message}"


def _after_target(parts: list[str], index: int, where: str) -> bool:
    """Whether ``parts[index]`` is the union member pydantic puts after a target in a location."""
    return (index == 0 and where.startswith("targets.")) or (index > 0 and parts[index - 1] == "target")
