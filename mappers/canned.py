"""The canned-response library: templates an engineer inserts with ``::key``. Pure.

A library is a folder of ``<key>.<lang>.md`` files (``config/canned/``). Each starts with YAML front
matter between ``---`` lines (``title``, optional ``tags``); the rest is a Jinja2 template
(https://jinja.palletsprojects.com/en/stable/templates/) rendered in the sandbox
(https://jinja.palletsprojects.com/en/stable/sandbox/: ``ImmutableSandboxedEnvironment``, so no
``__class__``-style attribute walks and no mutation of the variables) with ``StrictUndefined``, so
a misspelt variable is an error, never an empty gap.

Variables (:data:`VARIABLES`, built by :func:`canned_variables`): ``issue_key``, ``summary``,
``status``, ``requester_name``, ``agent_name``, ``sla_text`` (the working time the issue's SLA clock
has left, ``mappers.sla.remaining_text``) and ``fields`` (issue fields by id, e.g.
``fields.customfield_10010``). Values that came from a customer (summary, name, fields) can carry
tracker markup; :meth:`CannedLibrary.render` takes an ``escape`` function (``Markup.escape``) that is
applied to every ``{{ expression }}`` output and never to the template's own text. With it, a value
can carry no canned code either: :func:`defuse_codes` writes the second colon of every ``::`` (and a
colon at either end) as the character reference ``&#58;`` (Jira wiki markup and CommonMark both
render it as ":"), so a summary of "::logs-request" shows as written and is never expanded again
when the comment is re-read.

Rendering is all or nothing: a template that fails (unknown key, syntax error, unknown variable,
sandbox violation) raises :class:`CannedError` naming the template and the problem, and
:func:`expand_codes` then leaves that ``::code`` untouched and reports it, so a half-filled text can
never reach a customer. Files that cannot be parsed are collected in :attr:`CannedLibrary.errors`
with their file name (``GET /api/canned`` shows them, so never the server's paths), not skipped
silently. Loading and caching a library's folder is mappers/canned_files.py.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from config.canned import KEY
from mappers.sla import SlaClock, remaining_text

VARIABLES = ("issue_key", "summary", "status", "requester_name", "agent_name", "sla_text", "fields")
DEFAULT_LANGUAGE = "en"
MAX_OUTPUT = 32_000  # characters: larger than any Jira comment a customer should get
# "::key" not inside a word ("a::b", "std::vector") and not followed by more of a word or a colon
# (so "::ffff:10.0.0.1" is not a code either).
CODE = re.compile(rf"(?<![\w:])::({KEY})(?![\w:])")
# Regions where "::" is somebody's code, not a canned response: Jira {code}/{noformat}, {{mono}},
# markdown fences and code spans.
_VERBATIM = re.compile(
    r"\{(code|noformat)(?::[^}\n]*)?\}.*?\{\1\}|\{\{.*?\}\}|```.*?```|~~~.*?~~~|`[^`\n]*`", re.DOTALL
)


class CannedError(Exception):
    """A canned response could not be rendered: unknown key, broken template, unknown variable."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"canned response {key!r}: {message}")
        self.key = key
        self.problem = message


@dataclass(frozen=True)
class CannedEntry:
    """One template file."""

    key: str
    language: str
    title: str
    tags: tuple[str, ...]
    body: str
    path: Path
    problem: str | None = None  # why it cannot render (bad front matter, syntax error)


class CannedSummary(NamedTuple):
    """One line of ``GET /api/canned``."""

    key: str
    title: str
    languages: list[str]
    tags: list[str]


@dataclass
class Expansion:
    """What :func:`expand_codes` did to a text."""

    text: str
    used: list[str] = field(default_factory=list)  # keys expanded, in order of first use
    unknown: dict[str, list[str]] = field(default_factory=dict)  # unknown key -> close matches
    errors: dict[str, str] = field(default_factory=dict)  # key -> why it did not render

    @property
    def changed(self) -> bool:
        """True when at least one code was replaced (the comment should be edited)."""
        return bool(self.used)

    @property
    def problems(self) -> list[str]:
        """One readable line per unknown key or render error, for an internal comment."""
        lines = []
        for key, matches in self.unknown.items():
            hint = f" Did you mean: {', '.join('::' + m for m in matches)}?" if matches else ""
            lines.append(f"::{key} is not a canned response.{hint}")
        lines.extend(f"::{key} was not inserted: {message}" for key, message in self.errors.items())
        return lines


class CannedLibrary:
    """All templates of a folder, by key and language."""

    def __init__(self, entries: Mapping[str, Mapping[str, CannedEntry]] | None = None) -> None:
        self.entries: dict[str, dict[str, CannedEntry]] = {k: dict(v) for k, v in (entries or {}).items()}
        self.errors: list[str] = [
            f"{e.path.name}: {e.problem}"
            for langs in self.entries.values()
            for e in langs.values()
            if e.problem
        ]
        self._compiled: dict[tuple[int, str, str], Template] = {}

    def sorted_keys(self) -> list[str]:
        """Every key, sorted."""
        return sorted(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def entry(self, key: str, language: str | None = None) -> CannedEntry:
        """The entry for ``key`` in ``language``, else its primary subtag, else English, else any."""
        languages = self.entries.get(key)
        if not languages:
            raise CannedError(key, "no such canned response" + _suggest(key, self.sorted_keys()))
        for candidate in _language_chain(language):
            if candidate in languages:
                return languages[candidate]
        return languages[sorted(languages)[0]]

    def render(
        self,
        key: str,
        language: str | None,
        variables: Mapping[str, object],
        *,
        escape: Callable[[str], str] | None = None,
    ) -> str:
        """The rendered text of ``key``; :class:`CannedError` on any problem, never a partial text."""
        entry = self.entry(key, language)
        name = f"{entry.key}.{entry.language}"
        if entry.problem:
            raise CannedError(name, entry.problem)
        env = sandbox_environment(escape)
        cache_key = (id(env), entry.key, entry.language)
        try:
            template = self._compiled.get(cache_key)
            if template is None:
                template = self._compiled[cache_key] = env.from_string(entry.body)
            text = template.render(dict(variables))
        except TemplateSyntaxError as exc:
            raise CannedError(name, f"syntax error on line {exc.lineno}: {exc.message}") from None
        except TemplateError as exc:  # UndefinedError, SecurityError and the other runtime errors
            raise CannedError(name, f"{type(exc).__name__}: {exc.message or exc}") from None
        except Exception as exc:  # a template can divide by zero or call a method wrongly
            raise CannedError(name, f"{type(exc).__name__}: {exc}") from None
        if len(text) > MAX_OUTPUT:
            raise CannedError(name, f"rendered text is {len(text)} characters, over {MAX_OUTPUT}")
        return text.strip("\n")

    def list_entries(self) -> list[CannedSummary]:
        """Key, title (English if there is one), languages and tags of every entry, sorted by key."""
        out = []
        for key in self.sorted_keys():
            languages = self.entries[key]
            main = languages.get(DEFAULT_LANGUAGE) or languages[sorted(languages)[0]]
            tags = sorted({t for e in languages.values() for t in e.tags})
            out.append(CannedSummary(key, main.title, sorted(languages), tags))
        return out


@functools.cache
def sandbox_environment(escape: Callable[[str], str] | None = None) -> ImmutableSandboxedEnvironment:
    """The Jinja2 sandbox every admin-written template renders in (canned responses, route templates):
    ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``; with ``escape`` (a markup's escape
    function) every ``{{ expression }}`` output is escaped and defused of ``::codes``, the template's
    own text never. One per ``escape`` function, shared by the process."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalizer(escape),
    )


def _finalizer(escape: Callable[[str], str] | None) -> Callable[[object], object]:
    def finalize(value: object) -> object:
        if value is None:
            return ""
        if escape is None:
            return value
        return defuse_codes(escape(str(value)))

    return finalize


def defuse_codes(text: str) -> str:
    """Tracker markup ``text`` in which no ``::code`` can be found (:data:`CODE`), rendering the same;
    a colon at either end is written as a reference too, so no template text beside it makes a ``::``."""
    text = text.replace("::", ":&#58;")
    if text.startswith(":"):
        text = "&#58;" + text[1:]
    if text.endswith(":"):
        text = text[:-1] + "&#58;"
    return text


def expand_codes(
    text: str,
    library: CannedLibrary,
    language: str | None,
    variables: Mapping[str, object],
    *,
    escape: Callable[[str], str] | None = None,
) -> Expansion:
    """Replace every ``::key`` in ``text`` with its rendered template.

    A code inside ``{code}``/``{noformat}``/``{{mono}}`` or a markdown code span/fence is left alone.
    An unknown key stays as written and is reported with close matches; a template that fails to
    render stays as written and is reported with the reason.
    """
    expansion = Expansion(text=text)
    rendered: dict[str, str | None] = {}
    protected = [m.span() for m in _VERBATIM.finditer(text)]

    def replace(match: re.Match[str]) -> str:
        start = match.start()
        if any(lo <= start < hi for lo, hi in protected):
            return match.group(0)
        key = match.group(1)
        if key not in rendered:
            rendered[key] = _render_code(key, library, language, variables, escape, expansion)
        result = rendered[key]
        return match.group(0) if result is None else result

    expansion.text = CODE.sub(replace, text)
    return expansion


def _render_code(
    key: str,
    library: CannedLibrary,
    language: str | None,
    variables: Mapping[str, object],
    escape: Callable[[str], str] | None,
    expansion: Expansion,
) -> str | None:
    if key not in library:
        expansion.unknown[key] = difflib.get_close_matches(key, library.sorted_keys(), n=3, cutoff=0.6)
        return None
    try:
        text = library.render(key, language, variables, escape=escape)
    except CannedError as exc:
        expansion.errors[key] = str(exc)
        return None
    expansion.used.append(key)
    return text


def canned_variables(
    *,
    issue_key: str,
    summary: str = "",
    status: str = "",
    requester_name: str = "",
    agent_name: str = "",
    sla_text: str = "",
    fields: Mapping[str, Any] | None = None,
    sla: SlaClock | None = None,
    language: str | None = None,
) -> dict[str, object]:
    """Every standard variable, so a template may use any of them (StrictUndefined is unforgiving).

    Given the issue's SLA clock (``mappers.sla``), ``sla_text`` is the working time it has left in
    ``language`` ("осталось 3 ч 20 мин рабочего времени"), empty for a stopped clock.
    """
    if sla is not None:
        sla_text = remaining_text(sla, language)
    return {
        "issue_key": issue_key,
        "summary": summary,
        "status": status,
        "requester_name": requester_name,
        "agent_name": agent_name,
        "sla_text": sla_text,
        "fields": dict(fields or {}),
    }


def _language_chain(language: str | None) -> list[str]:
    chain: list[str] = []
    if language:
        tag = language.strip().lower().replace("_", "-")
        chain += [tag, tag.split("-", 1)[0]]
    chain.append(DEFAULT_LANGUAGE)
    return chain


def _suggest(key: str, keys: list[str]) -> str:
    matches = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""
