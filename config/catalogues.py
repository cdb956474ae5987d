"""Catalogue files: lookup tables a route's ``lookup`` reads (equipment model → spare parts, say).

They live in ``catalogues/`` beside the rule file (``config/catalogues/`` for the shipped one); every
``*.csv``, ``*.yaml`` and ``*.yml`` there is one catalogue, named by its file name (``parts.csv``).

- CSV: a header row naming the columns, then one row per entry; the FIRST column is the key.
- YAML: a mapping of keys to entries; an entry is a mapping of columns to values, or one value (the
  column ``value``). The key column is called ``key``.

Keys are unique, compared without regard to case or surrounding white space, and a lookup compares the
same way. The folder is read with the rule file and validated with it, and a change to a catalogue
reloads the configuration as an edit of the rule file does (``config.source``). Sizes are bounded
(:data:`MAX_FILES`, :data:`MAX_FILE_BYTES`, :data:`MAX_ROWS`, :data:`MAX_COLUMNS`) so a stray export
cannot eat a process's memory. Errors name the file (and the line, for CSV).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FOLDER = "catalogues"
SUFFIXES = (".csv", ".yaml", ".yml")
MAX_FILES = 50
MAX_FILE_BYTES = 1024 * 1024
MAX_ROWS = 10_000
MAX_COLUMNS = 50
YAML_KEY, YAML_VALUE = "key", "value"


class CatalogueError(ValueError):
    """A catalogue file cannot be used; the message says where (``line N: ...`` for CSV)."""


@dataclass(frozen=True)
class Catalogue:
    """One catalogue: its file name, its columns (the key column first) and its rows by key."""

    name: str
    columns: tuple[str, ...]
    rows: Mapping[str, Mapping[str, Any]]  # normalised key (see :func:`key_of`) → column → value

    @property
    def key_column(self) -> str:
        """The column the rows are found by."""
        return self.columns[0]

    def row(self, key: Any) -> Mapping[str, Any] | None:
        """The row whose key is ``key`` (case and surrounding white space aside), or None."""
        return self.rows.get(key_of(key)) if key is not None else None

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class CatalogueFiles:
    """What the folder held when it was read: each file's bytes by name, and what could not be read."""

    folder: Path
    files: Mapping[str, bytes] = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """A SHA-256 over the names, contents and read errors: what a reload compares."""
        sha = hashlib.sha256()
        for name in sorted(self.files):
            sha.update(f"{len(name)}:{name}:{len(self.files[name])}:".encode())
            sha.update(self.files[name])
        for error in self.errors:
            sha.update(f"!{error}".encode())
        return sha.hexdigest()


def key_of(value: Any) -> str:
    """A key as rows are found by: text, trimmed, without regard to case."""
    return str(value).strip().casefold()


def catalogue_folder(rule_file: Path) -> Path:
    """``catalogues/`` beside the rule file."""
    return Path(rule_file).parent / FOLDER


def listing(folder: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Name, inode, size and modification time of each catalogue file: a cheap look for changes."""
    try:
        with os.scandir(folder) as entries:
            found = [
                (entry.name, stat.st_ino, stat.st_size, stat.st_mtime_ns)
                for entry in entries
                if _is_catalogue(entry.name) and entry.is_file()
                for stat in (entry.stat(),)
            ]
    except FileNotFoundError:
        return ()
    except OSError as exc:
        return ((f"unreadable: {exc.strerror}", 0, 0, 0),)
    return tuple(sorted(found))


def read_files(folder: Path) -> CatalogueFiles:
    """Every catalogue file of ``folder`` (none when there is no folder); never raises."""
    names = [name for name, *_ in listing(folder)]
    if names and names[0].startswith("unreadable: "):
        return CatalogueFiles(folder, errors=(f"{folder}: cannot read the folder: {names[0][12:]}",))
    if len(names) > MAX_FILES:
        return CatalogueFiles(folder, errors=(f"{folder}: {len(names)} catalogue files, over {MAX_FILES}",))
    files: dict[str, bytes] = {}
    errors: list[str] = []
    for name in names:
        path = folder / name
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                errors.append(f"{path}: the catalogue is over {MAX_FILE_BYTES} bytes")
                continue
            files[name] = path.read_bytes()[: MAX_FILE_BYTES + 1]
        except OSError as exc:
            errors.append(f"{path}: cannot read the catalogue: {exc.strerror}")
    return CatalogueFiles(folder, files, tuple(errors))


def parse_files(files: CatalogueFiles) -> tuple[dict[str, Catalogue], list[str]]:
    """The catalogues that are valid, and one error line per problem, naming the file."""
    catalogues: dict[str, Catalogue] = {}
    errors = list(files.errors)
    for name, data in sorted(files.files.items()):
        try:
            catalogues[name] = parse_catalogue(name, data)
        except CatalogueError as exc:
            errors.append(f"{files.folder / name}: {exc}")
    return catalogues, errors


def parse_catalogue(name: str, data: bytes) -> Catalogue:
    """One catalogue file's content; :class:`CatalogueError` saying what is wrong."""
    if len(data) > MAX_FILE_BYTES:
        raise CatalogueError(f"the catalogue is over {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's CSV export often starts with a BOM
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if name.lower().endswith(".csv"):
        return _parse_csv(name, text)
    return _parse_yaml(name, text)


def _parse_csv(name: str, text: str) -> Catalogue:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CatalogueError("empty: a CSV catalogue needs a header row naming its columns")
        columns = _columns([cell.strip() for cell in header])
        rows: dict[str, dict[str, Any]] = {}
        first_line: dict[str, int] = {}
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                raise CatalogueError(f"line {line}: {len(cells)} cells, but the header names {len(columns)}")
            cells = [cell.strip() for cell in cells] + [""] * (len(columns) - len(cells))
            key = cells[0]
            if not key:
                raise CatalogueError(f"line {line}: the key ({columns[0]}) is empty")
            if key_of(key) in first_line:
                first = first_line[key_of(key)]
                raise CatalogueError(f"line {line}: duplicate key {key!r} (first on line {first})")
            first_line[key_of(key)] = line
            _add_row(rows, key, dict(zip(columns, cells, strict=True)))
    except csv.Error as exc:
        raise CatalogueError(f"line {reader.line_num}: not valid CSV: {exc}") from None
    return Catalogue(name, columns, rows)


def _parse_yaml(name: str, text: str) -> Catalogue:
    try:
        raw = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader that refuses duplicate keys
    except yaml.YAMLError as exc:
        raise CatalogueError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise CatalogueError("a YAML catalogue is a mapping of keys to entries")
    columns: dict[str, None] = {YAML_KEY: None}
    rows: dict[str, dict[str, Any]] = {}
    for key, entry in raw.items():
        if key is None or not str(key).strip():
            raise CatalogueError("a key is empty")
        if isinstance(entry, dict):
            values = {str(column).strip(): value for column, value in entry.items()}
        elif isinstance(entry, list | str | int | float | bool) or entry is None:
            values = {YAML_VALUE: entry}
        else:
            raise CatalogueError(f"{key}: an entry is a mapping of columns, or one value")
        columns.update(dict.fromkeys(values))
        _add_row(rows, str(key).strip(), {YAML_KEY: str(key).strip(), **values})
    return Catalogue(name, _columns(list(columns)), rows)


class _UniqueKeys(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key written twice in a mapping is an error, not a silent
    overwrite (YAML 1.2 says keys are unique; PyYAML keeps the last)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool):
            continue
        if key in seen:
            raise CatalogueError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _columns(names: list[str]) -> tuple[str, ...]:
    if not names or not names[0]:
        raise CatalogueError("the first column (the key) has no name")
    if len(names) > MAX_COLUMNS:
        raise CatalogueError(f"{len(names)} columns, over {MAX_COLUMNS}")
    if any(not name for name in names):
        raise CatalogueError(f"a column has no name: {names}")
    seen = [key_of(name) for name in names]
    twice = sorted({name for name, folded in zip(names, seen, strict=True) if seen.count(folded) > 1})
    if twice:
        raise CatalogueError(f"columns named twice: {twice}")
    return tuple(names)


def _add_row(rows: dict[str, dict[str, Any]], key: str, row: dict[str, Any]) -> None:
    folded = key_of(key)
    if folded in rows:
        raise CatalogueError(f"duplicate key {key!r} (keys are compared without regard to case)")
    if len(rows) >= MAX_ROWS:
        raise CatalogueError(f"over {MAX_ROWS} rows")
    rows[folded] = row


def _is_catalogue(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(SUFFIXES)
