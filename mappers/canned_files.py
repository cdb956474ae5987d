"""A canned library read from its files: each ``<key>.<lang>.md`` file's front matter and template,
checked. The files come from a folder (``config/canned/``, cached until a file of it changes) or from a
configuration version (name → text, parsed once per version: :func:`version_library`).

A file that cannot be used becomes an entry with its problem (``CannedLibrary.errors``), by file name.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from jinja2 import TemplateSyntaxError, meta

from config.canned import FILE_NAME, FILE_NAME_RULE
from config.rules import HubConfig
from mappers.canned import VARIABLES, CannedEntry, CannedLibrary, sandbox_environment

MAX_FILE_BYTES = 256 * 1024
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*\n?", re.DOTALL | re.MULTILINE)
VERSIONS_KEPT = 4  # parsed libraries of configuration versions a process keeps (the one in force, a few old)


@dataclass(frozen=True)
class Unreadable:
    """A file of the folder that could not be read as text: why."""

    problem: str


class CannedFilesError(ValueError):
    """A folder's canned files cannot all be read (too large, not UTF-8); the message names each."""


def library_folder(rule_file: Path) -> Path:
    """``canned/`` beside the rule file (``config/canned`` for the shipped one)."""
    return Path(rule_file).resolve().parent / "canned"


def load_library(folder: Path) -> CannedLibrary:
    """Parse every ``<key>.<lang>.md`` in ``folder``; problems go to ``library.errors`` by file name."""
    if not folder.is_dir():
        library = CannedLibrary()
        library.errors.append(f"{folder.name}/: not a folder")
        return library
    return _parse_files({name: _read(folder / name) for name in _names(folder)}, folder)


def library_from_files(files: Mapping[str, str]) -> CannedLibrary:
    """The library of a configuration version's files (name → text), checked as a folder's would be."""
    return _parse_files(files, None)


def folder_files(folder: Path) -> dict[str, str]:
    """The canned files of ``folder`` as name → text (what a configuration version stores);
    :class:`CannedFilesError` naming each file that cannot be read. The README is not a response."""
    read = {name: _read(folder / name) for name in _names(folder)}
    problems = [
        f"{folder.name}/{name}: {text.problem}" for name, text in read.items() if isinstance(text, Unreadable)
    ]
    if problems:
        raise CannedFilesError("\n".join(problems))
    return {name: text for name, text in read.items() if isinstance(text, str)}


def parse_entry(name: str, raw: str, path: Path | None = None) -> CannedEntry | str:
    """The entry a file named ``name`` holding ``raw`` makes (its problem in ``entry.problem``), or the
    file-name rule it breaks, as a text."""
    match = FILE_NAME.match(name)
    if match is None:
        return f"{name}: {FILE_NAME_RULE}"
    return _entry(path or Path(name), match.group(1), match.group(2), raw)


def unknown_variables(body: str) -> list[str]:
    """The variables ``body`` uses that no canned template is given (:data:`mappers.canned.VARIABLES`),
    sorted; none when it does not parse (the syntax error is the entry's problem)."""
    try:
        used = meta.find_undeclared_variables(sandbox_environment().parse(body))
    except TemplateSyntaxError:
        return []
    return sorted(used - set(VARIABLES))


def entry_problems(entry: CannedEntry) -> list[str]:
    """What is wrong with ``entry`` as an admin saves it: its problem, else each unknown variable (which
    would fail every render under ``StrictUndefined``)."""
    if entry.problem:
        return [entry.problem]
    known = ", ".join(VARIABLES)
    return [f"unknown variable {name!r} (there are {known})" for name in unknown_variables(entry.body)]


def library_problems(library: CannedLibrary) -> list[str]:
    """Every problem of ``library`` by file name: broken files, stray names and unknown variables."""
    problems = list(library.errors)
    for languages in library.entries.values():
        for entry in languages.values():
            if not entry.problem:
                problems.extend(f"{entry.path.name}: {problem}" for problem in entry_problems(entry))
    return problems


class _CachedLibrary:
    """One folder's parsed library and the file listing (names, sizes, mtimes) it was parsed from."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.library: CannedLibrary | None = None
        self.signature: tuple[object, ...] = ()


_CACHES: dict[Path, _CachedLibrary] = {}
_CACHES_LOCK = threading.Lock()
# id(files) -> (files, library): the files object is kept so its id cannot be reused by another
_VERSIONS: dict[int, tuple[Mapping[str, str], CannedLibrary]] = {}
_VERSIONS_LOCK = threading.Lock()


def cached_library(folder: Path, on_load: Callable[[CannedLibrary], None] | None = None) -> CannedLibrary:
    """``folder``'s library, parsed again only when a file in it is added, removed or changed (a new
    mtime or size); ``on_load`` is called with each library this call parsed. A listing costs a
    ``stat`` per file, far less than parsing every template and its front matter."""
    with _CACHES_LOCK:
        cache = _CACHES.setdefault(folder, _CachedLibrary(folder))
    with cache.lock:
        signature = _signature(folder)  # taken first: a change during the parse shows up next time
        if cache.library is None or signature != cache.signature:
            cache.library, cache.signature = load_library(folder), signature
            if on_load is not None:
                on_load(cache.library)
        return cache.library


def version_library(
    files: Mapping[str, str], on_load: Callable[[CannedLibrary], None] | None = None
) -> CannedLibrary:
    """The library of a configuration version's ``files``, parsed once per files object: a process's
    config holds one read-only mapping per version (``HubConfig.canned_files``), so every job under
    the same version gets the same parsed library. The last :data:`VERSIONS_KEPT` are kept."""
    with _VERSIONS_LOCK:
        found = _VERSIONS.get(id(files))
        if found is not None and found[0] is files:
            return found[1]
        library = library_from_files(files)
        while len(_VERSIONS) >= VERSIONS_KEPT:
            del _VERSIONS[next(iter(_VERSIONS))]
        _VERSIONS[id(files)] = (files, library)
    if on_load is not None:
        on_load(library)
    return library


def config_library(
    config: HubConfig, rule_file: Path, on_load: Callable[[CannedLibrary], None] | None = None
) -> CannedLibrary:
    """The canned library of the configuration ``config``: its version's files, else the ``canned/``
    folder beside ``rule_file``; each parsed once (:func:`version_library`, :func:`cached_library`)."""
    files = config.canned_files
    if files is None:
        return cached_library(library_folder(rule_file), on_load=on_load)
    return version_library(files, on_load=on_load)


def _signature(folder: Path) -> tuple[object, ...]:
    try:
        with os.scandir(folder) as listing:
            files = sorted(
                (item.name, stat.st_mtime_ns, stat.st_size) for item in listing for stat in (item.stat(),)
            )
    except OSError:
        return ("unreadable",)
    return tuple(files)


def _names(folder: Path) -> list[str]:
    """The files of ``folder`` that are meant as canned responses: ``*.md`` but the README."""
    try:
        paths = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        path.name
        for path in paths
        if not path.name.startswith(".")
        and path.suffix == ".md"
        and not path.name.lower().startswith("readme")
        and path.is_file()
    ]


def _read(path: Path) -> str | Unreadable:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return Unreadable(f"file is larger than {MAX_FILE_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Unreadable("not UTF-8 text")
    except OSError as exc:
        return Unreadable(f"cannot read: {exc.strerror or exc}")


def _parse_files(files: Mapping[str, str | Unreadable], folder: Path | None) -> CannedLibrary:
    entries: dict[str, dict[str, CannedEntry]] = {}
    stray: list[str] = []
    for name in sorted(files):
        match = FILE_NAME.match(name)
        if match is None:
            stray.append(f"{name}: {FILE_NAME_RULE}")
            continue
        key, language = match.group(1), match.group(2)
        path = folder / name if folder is not None else Path(name)
        raw = files[name]
        if isinstance(raw, Unreadable):
            entry = CannedEntry(key, language, key, (), "", path, raw.problem)
        else:
            entry = _entry(path, key, language, raw)
        entries.setdefault(key, {})[language] = entry
    library = CannedLibrary(entries)
    library.errors[:0] = stray
    return library


def _entry(path: Path, key: str, language: str, raw: str) -> CannedEntry:
    def broken(problem: str, body: str = "", title: str = key, tags: tuple[str, ...] = ()) -> CannedEntry:
        return CannedEntry(key, language, title, tags, body, path, problem)

    if len(raw.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return broken(f"file is larger than {MAX_FILE_BYTES} bytes")
    raw = raw.replace("\r\n", "\n").removeprefix("\ufeff")
    match = _FRONT_MATTER.match(raw)
    if match is None:
        return broken("no front matter: the file must start with a '---' line, title: ..., and '---'", raw)
    body = raw[match.end() :]
    try:
        meta_data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        return broken(f"front matter is not YAML: {' '.join(str(exc).split())}", body)
    if not isinstance(meta_data, dict):
        return broken("front matter must be a mapping with title and tags", body)
    title = meta_data.get("title")
    if not isinstance(title, str) or not title.strip():
        return broken("front matter has no title", body)
    tags_value = meta_data.get("tags", [])
    if isinstance(tags_value, str):
        tags_value = [tags_value]
    if not isinstance(tags_value, list) or not all(isinstance(t, str | int) for t in tags_value):
        return broken("tags must be a list of words", body, title.strip())
    tags = tuple(str(t).strip() for t in tags_value if str(t).strip())
    unknown_fields = sorted(set(meta_data) - {"title", "tags", "description"})
    if unknown_fields:
        return broken(
            f"unknown front matter field(s): {', '.join(map(str, unknown_fields))}", body, title, tags
        )
    try:
        sandbox_environment().parse(body)
    except TemplateSyntaxError as exc:
        line = (exc.lineno or 0) + raw[: match.end()].count("\n")
        return broken(f"template syntax error on line {line}: {exc.message}", body, title.strip(), tags)
    return CannedEntry(key, language, title.strip(), tags, body, path)
