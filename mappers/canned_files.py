"""A canned library read from its folder (``config/canned/``): each ``<key>.<lang>.md`` file's front matter
and template, checked, and the parsed library cached until a file of the folder changes.

A file that cannot be used becomes an entry with its problem (``CannedLibrary.errors``), by file name.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mappers.canned import KEY, CannedEntry, CannedLibrary

MAX_FILE_BYTES = 256 * 1024
_FILE_NAME = re.compile(rf"^({KEY})\.([a-z]{{2,3}}(?:-[a-z0-9]{{2,8}})?)\.md$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*\n?", re.DOTALL | re.MULTILINE)


def library_folder(rule_file: Path) -> Path:
    """``canned/`` beside the rule file (``config/canned`` for the shipped one)."""
    return Path(rule_file).resolve().parent / "canned"


def load_library(folder: Path) -> CannedLibrary:
    """Parse every ``<key>.<lang>.md`` in ``folder``; problems go to ``library.errors`` by file name."""
    entries: dict[str, dict[str, CannedEntry]] = {}
    stray: list[str] = []
    if not folder.is_dir():
        library = CannedLibrary()
        library.errors.append(f"{folder.name}/: not a folder")
        return library
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix != ".md":
            continue
        if path.name.lower().startswith("readme"):
            continue
        match = _FILE_NAME.match(path.name)
        if match is None:
            stray.append(f"{path.name}: file name is not <key>.<lang>.md (key {KEY}, lang like en or pt-br)")
            continue
        entry = _load_entry(path, match.group(1), match.group(2), env)
        entries.setdefault(entry.key, {})[entry.language] = entry
    library = CannedLibrary(entries)
    library.errors[:0] = stray
    return library


class _CachedLibrary:
    """One folder's parsed library and the file listing (names, sizes, mtimes) it was parsed from."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.library: CannedLibrary | None = None
        self.signature: tuple[object, ...] = ()


_CACHES: dict[Path, _CachedLibrary] = {}
_CACHES_LOCK = threading.Lock()


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


def _signature(folder: Path) -> tuple[object, ...]:
    try:
        with os.scandir(folder) as listing:
            files = sorted(
                (item.name, stat.st_mtime_ns, stat.st_size) for item in listing for stat in (item.stat(),)
            )
    except OSError:
        return ("unreadable",)
    return tuple(files)


def _load_entry(path: Path, key: str, language: str, env: ImmutableSandboxedEnvironment) -> CannedEntry:
    def broken(problem: str, body: str = "", title: str = key, tags: tuple[str, ...] = ()) -> CannedEntry:
        return CannedEntry(key, language, title, tags, body, path, problem)

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return broken(f"file is larger than {MAX_FILE_BYTES} bytes")
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return broken("not UTF-8 text")
    except OSError as exc:
        return broken(f"cannot read: {exc.strerror or exc}")
    raw = raw.replace("\r\n", "\n").removeprefix("\ufeff")
    match = _FRONT_MATTER.match(raw)
    if match is None:
        return broken("no front matter: the file must start with a '---' line, title: ..., and '---'", raw)
    body = raw[match.end() :]
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        return broken(f"front matter is not YAML: {' '.join(str(exc).split())}", body)
    if not isinstance(meta, dict):
        return broken("front matter must be a mapping with title and tags", body)
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        return broken("front matter has no title", body)
    tags_value = meta.get("tags", [])
    if isinstance(tags_value, str):
        tags_value = [tags_value]
    if not isinstance(tags_value, list) or not all(isinstance(t, str | int) for t in tags_value):
        return broken("tags must be a list of words", body, title.strip())
    tags = tuple(str(t).strip() for t in tags_value if str(t).strip())
    unknown_fields = sorted(set(meta) - {"title", "tags", "description"})
    if unknown_fields:
        return broken(
            f"unknown front matter field(s): {', '.join(map(str, unknown_fields))}", body, title, tags
        )
    try:
        env.parse(body)
    except TemplateSyntaxError as exc:
        line = (exc.lineno or 0) + raw[: match.end()].count("\n")
        return broken(f"template syntax error on line {line}: {exc.message}", body, title.strip(), tags)
    return CannedEntry(key, language, title.strip(), tags, body, path)
