"""The rule file's errors as an editor shows them: each one's entry (``rules[1] 'bugs'``), field
(``target.project``), message and, where the text tells, the line of the YAML it is about.

``config.loading`` reports errors as lines ``<file>: <entry>: <field>: <message>``, and ``trackerhub
check`` as ``<entry>: <message>``; both are read back here, and the entry and field are looked up in
the YAML's node tree (``yaml.compose``, which keeps each node's position) to find the line. A field the
text does not have (a missing one) points at its entry's line instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_ENTRY = re.compile(
    r"^(?:(?P<list>rules|automations)\[(?P<index>\d+)\] '(?:[^']|'')*'"
    r"|(?P<section>forms|trackers|targets|calendars|routes)\.(?P<name>[^:\s]+)):\s"
)
_FIELD = re.compile(r"^(?P<field>[\w.\[\]-]+): ")
_YAML_LINE = re.compile(r"line (\d+), column \d+")
# What a live check's message names → where in a rule that is written.
_CHECK_FIELDS = (
    (re.compile(r"^project\b|^board\b|^column\b|^lane\b"), "target"),
    (re.compile(r"^issue type\b|requires "), "target"),
    (re.compile(r"^custom field (customfield_\d+)"), "fields.custom_fields.{0}"),
    (re.compile(r"^property (id_\d+)"), "fields.properties.{0}"),
    (re.compile(r"^user\b"), "fields"),
    (re.compile(r"^fields\.(\w+)"), "fields.{0}"),
)


@dataclass(frozen=True)
class Problem:
    """One error of the rule file: where (entry, field, line: 1-based, None when unknown) and what."""

    message: str
    entry: str = ""
    field: str = ""
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "entry": self.entry, "field": self.field, "line": self.line}


def schema_problems(error_text: str, path: str, text: str) -> list[Problem]:
    """The errors of a ``ConfigError`` raised for ``text`` (read as ``path``), one per line."""
    body = error_text.removeprefix(f"{path}: ")
    if body.startswith("not valid YAML"):  # one error over several lines, saying where it is
        found = _YAML_LINE.findall(body)
        return [Problem(" ".join(body.split()), line=int(found[-1]) if found else None)]
    tree = _tree(text)
    return [
        _located(line.removeprefix(f"{path}: "), tree, field_first=True) for line in error_text.splitlines()
    ]


def check_problems(lines: list[str], text: str) -> list[Problem]:
    """The errors of ``trackerhub check`` (``jobs.check.Problems.errors``) about ``text``."""
    tree = _tree(text)
    return [_located(line, tree, field_first=False) for line in lines]


def _located(body: str, tree: yaml.Node | None, *, field_first: bool) -> Problem:
    entry = _ENTRY.match(body)
    if entry is None:
        return Problem(body)
    rest = body[entry.end() :]
    path: list[str | int] = (
        [entry["list"], int(entry["index"])] if entry["list"] else [entry["section"], entry["name"]]
    )
    field = ""
    if field_first:
        found = _FIELD.match(rest)
        if found and found["field"] != "(the file)":
            field = found["field"]
    else:
        field = _check_field(rest)
    line = line_of(tree, [*path, *_parts(field)])
    return Problem(rest, entry=body[: entry.end() - 2], field=field, line=line)


def _check_field(message: str) -> str:
    for pattern, where in _CHECK_FIELDS:
        found = pattern.search(message)
        if found:
            return where.format(*found.groups())
    return ""


def _parts(field: str) -> list[str | int]:
    parts: list[str | int] = []
    for part in field.split(".") if field else []:
        name, _, index = part.partition("[")
        if name:
            parts.append(name)
        if index.rstrip("]").isdigit():
            parts.append(int(index.rstrip("]")))
    return parts


def _tree(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def line_of(tree: yaml.Node | None, path: list[str | int]) -> int | None:
    """The 1-based line of the deepest node of ``path`` the text has (None when not even its first)."""
    node, line = tree, None
    for part in path:
        found = _child(node, part)
        if found is None:
            break
        node, line = found
    return line


def _child(node: yaml.Node | None, part: str | int) -> tuple[yaml.Node, int] | None:
    """The child ``part`` of ``node`` and its line: a mapping value's is its key's."""
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return (node.value[part], node.value[part].start_mark.line + 1) if part < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if str(key.value) in (str(part), str(part).removeprefix("id_")):
                return value, key.start_mark.line + 1
    return None
