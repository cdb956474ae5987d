"""Typed reads of a Telegram update's JSON fields: every wrong type is an AnomalousPayload naming the field.

JSON ``null`` counts as absent, as for every optional field of the Bot API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mappers.errors import AnomalousPayload

# The Bot API's integers fit in 64 bits (ids in 52); a bigger one is not Telegram's and would not fit
# the journal's BIGINT columns.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
JsonObject = Mapping[str, Any]


def has(data: JsonObject, key: str) -> bool:
    """Whether ``key`` is present; JSON ``null`` counts as absent, as for every optional field."""
    return data.get(key) is not None


def wrong(where: str, key: str, expected: str) -> AnomalousPayload:
    return AnomalousPayload(
        f"not a Telegram update: {where}.{key} is not {expected}", {f"{where}.{key}": expected}
    )


def as_object(value: object, where: str) -> JsonObject:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise AnomalousPayload(f"not a Telegram update: {where} is not an object", {where: "an object"})
    return value


def opt_object(data: JsonObject, key: str, where: str) -> JsonObject | None:
    value = data.get(key)
    if value is None:
        return None
    return as_object(value, f"{where}.{key}")


def need_object(data: JsonObject, key: str, where: str) -> JsonObject:
    value = opt_object(data, key, where)
    if value is None:
        raise wrong(where, key, "an object")
    return value


def opt_int(data: JsonObject, key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not _INT64_MIN <= value <= _INT64_MAX:
        raise wrong(where, key, "a 64-bit integer")
    return value


def need_int(data: JsonObject, key: str, where: str) -> int:
    value = opt_int(data, key, where)
    if value is None:
        raise wrong(where, key, "an integer")
    return value


def need_number(data: JsonObject, key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise wrong(where, key, "a finite number")
    return value


def opt_str(data: JsonObject, key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise wrong(where, key, "a string")
    return value


def opt_bool(data: JsonObject, key: str, where: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise wrong(where, key, "a boolean")
    return value


def need_file_id(media: JsonObject, where: str) -> str:
    file_id = opt_str(media, "file_id", where)
    if not file_id:
        raise wrong(where, "file_id", "a non-empty string")
    return file_id
