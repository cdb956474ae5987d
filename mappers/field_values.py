"""Field values between trackers, pure: a source issue's raw field value as plain data, and any value as
the type a target field takes (``FieldSpec.type``, see ``connector.types.FIELD_TYPES``).

Plain data is what a person would read: a Jira option's ``value``, a priority's or component's
``name``, a user's id (Cloud ``accountId``, Data Center ``name``), a Kaiten select property's value
names (its value ids, when the source's field spec is not known), lists as tuples.

:func:`convert` returns the neutral value a connector turns into its own JSON:

=========================================  ============================================================
field type                                 value
=========================================  ============================================================
``string``                                 ``str``, one line, at most 255 characters
``text``                                   ``str`` (already in the target's markup)
``number``                                 ``int`` or ``float``
``date`` / ``datetime``                    ``datetime.date`` / an aware ``datetime.datetime``
``option``, ``priority``                   a ``Choice`` of the field's allowed values
``options``, ``component``, ``version``    a tuple of ``Choice``
``user`` / ``users``                       a user id / a tuple of them
``labels``                                 a tuple of labels (Jira: white space becomes ``-``)
``any``                                    as given; Kaiten's ``asap`` flag as ``bool``
=========================================  ============================================================

A select value is found among the allowed values by id or by name (case-insensitive); one that is not
there is a :class:`ValueProblem` naming what the field takes. A field whose allowed values the tracker
does not list takes any name (``Choice("", name)``). Empty values (None, "", an empty list) are None:
nothing to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from connector.types import Choice, FieldSpec
from mappers.markup import clean_text, one_line

CHOICE_TYPES = frozenset({"option", "priority"})
MULTI_CHOICE_TYPES = frozenset({"options", "component", "version"})  # Jira's components/versions are lists
STRING_LIMIT = 255
TEXT_LIMIT = 32_000  # under Jira's 32 767-character text fields
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "yes", "1", "да"}), frozenset({"false", "no", "0", "нет", ""})
_LIST_SEPARATOR = re.compile(r"\s*[,;]\s*")


class ValueProblem(ValueError):
    """A value does not fit a field; the message says what the field takes (the caller names the field)."""


def is_empty(value: Any) -> bool:
    """Nothing to set: None, blank text, an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | set | frozenset) and all(is_empty(v) for v in value)


def plain_value(raw: Any, spec: FieldSpec | None = None) -> Any:
    """A source field's raw value (JSON as the tracker answered) as plain data."""
    if isinstance(raw, list | tuple):
        items = tuple(plain_value(item) for item in raw)
        if spec is not None and spec.allowed:  # Kaiten select properties hold value ids
            return tuple(_choice_name(spec, item) for item in items)
        return items
    if isinstance(raw, Mapping):
        for key in ("value", "accountId", "name", "key", "displayName", "title"):
            if raw.get(key) not in (None, ""):
                return plain_value(raw[key])
        return None
    if spec is not None and spec.allowed and isinstance(raw, int | str) and not isinstance(raw, bool):
        return _choice_name(spec, raw)
    return raw


def _choice_name(spec: FieldSpec, item: Any) -> Any:
    choice = next((c for c in spec.allowed if c.id == str(item)), None)
    return choice.name if choice is not None else item


def display(value: Any) -> str:
    """A converted value as a person reads it in a preview."""
    if value is None:
        return ""
    if isinstance(value, Choice):
        return value.name
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(display(item) for item in value)
    return str(value)


def wire_value(value: Any) -> Any:
    """A converted value as the connectors' writes take it: a ``Choice`` by its id (its name when it has
    none), a tuple as a list."""
    if isinstance(value, Choice):
        return value.id or value.name
    if isinstance(value, tuple):
        return [wire_value(item) for item in value]
    return value


def convert(spec: FieldSpec, value: Any, *, target_kind: str = "jira") -> Any:
    """``value`` as ``spec``'s type takes it (see the module's table); None when it is empty.

    Raises :class:`ValueProblem` when it does not fit.
    """
    if isinstance(value, Choice):
        value = value.id or value.name
    if is_empty(value):
        return None
    kind = spec.type
    if kind in CHOICE_TYPES:
        return _one(spec, [_choose(spec, item) for item in _choice_items(spec, value)])
    if kind in MULTI_CHOICE_TYPES:
        return tuple(dict.fromkeys(_choose(spec, item) for item in _choice_items(spec, value)))
    if spec.allowed:  # any other field that lists its values takes only those, by their names
        names = tuple(dict.fromkeys(_choose(spec, item).name for item in _choice_items(spec, value)))
        return names if kind in ("users", "labels") else _one(spec, list(names))
    if kind == "user":
        return _one(spec, list(_items(value)))
    if kind == "users":
        return tuple(dict.fromkeys(_items(value)))
    if kind == "labels":
        return _labels(value, target_kind)
    if kind == "any":
        return _flag(spec, value) if spec.id == "asap" else value
    return _scalar(spec, value)


def _scalar(spec: FieldSpec, value: Any) -> Any:
    if spec.type == "number":
        return _number(spec, value)
    if spec.type == "date":
        return _date(spec, value)
    if spec.type == "datetime":
        return _datetime(spec, value)
    if spec.type == "text":
        text = clean_text(display(value) if isinstance(value, list | tuple) else str(value)).strip()
        return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
    return one_line(display(value), STRING_LIMIT) or None


def _items(value: Any) -> list[str]:
    """One value or a list of them as texts; a text may list several, separated by commas."""
    if isinstance(value, list | tuple | set | frozenset):
        return [text for item in value if (text := display(item).strip())]
    return [part for part in _LIST_SEPARATOR.split(display(value).strip()) if part]


def _choice_items(spec: FieldSpec, value: Any) -> list[str]:
    """Like :func:`_items`, except that a text which is itself one allowed value is not split."""
    if isinstance(value, str) and spec.choice(value.strip()) is not None:
        return [value.strip()]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return _items(value)


def _choose(spec: FieldSpec, text: str) -> Choice:
    if not spec.allowed:
        return Choice("", text)
    found = spec.choice(text)
    if found is None:
        raise ValueProblem(f"{text!r} is not one of its values; it takes {allowed_text(spec)}")
    return found


def allowed_text(spec: FieldSpec, limit: int = 30) -> str:
    """The allowed values' names, for a message (the first ``limit`` of them)."""
    names = [choice.name for choice in spec.allowed[:limit]]
    more = f" and {len(spec.allowed) - limit} more" if len(spec.allowed) > limit else ""
    return ", ".join(names) + more


def _one(spec: FieldSpec, values: list[Any]) -> Any:
    distinct = list(dict.fromkeys(values))
    if len(distinct) > 1:
        raise ValueProblem(f"it takes one value, not {len(distinct)}")
    return distinct[0] if distinct else None


def _labels(value: Any, target_kind: str) -> tuple[str, ...] | None:
    labels = _items(value)
    if target_kind == "jira":  # Jira labels cannot hold white space (research/jira.md)
        labels = [re.sub(r"\s+", "-", label)[:STRING_LIMIT] for label in labels]
    return tuple(dict.fromkeys(labels)) or None


def _flag(spec: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = display(value).strip().casefold()
    if text in TRUE_WORDS | FALSE_WORDS:
        return text in TRUE_WORDS
    raise ValueProblem(f"it is true or false, not {display(value)!r}")


def _number(spec: FieldSpec, value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueProblem(f"it takes a number, not {value!r}")
    if isinstance(value, int | float):
        return value
    text = display(value).strip().replace(" ", "").replace(",", ".")
    try:
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    except ValueError:
        raise ValueProblem(f"it takes a number, not {display(value)!r}") from None


def _date(spec: FieldSpec, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = display(value).strip()
    russian = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text)  # 31.12.2026, as Russian users write
    try:
        if russian:
            return date(int(russian.group(3)), int(russian.group(2)), int(russian.group(1)))
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueProblem(f"it takes a date (2026-12-31), not {text!r}") from None


def _datetime(spec: FieldSpec, value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    text = display(value).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        example = "2026-12-31T10:00+03:00"
        raise ValueProblem(f"it takes a date and time ({example}), not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
