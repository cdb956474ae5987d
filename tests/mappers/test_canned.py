"""mappers.canned: the template library, rendering in the sandbox, and ``::key`` expansion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.canned import (
    CODE,
    VARIABLES,
    CannedError,
    CannedLibrary,
    canned_variables,
    expand_codes,
)
from mappers.canned_files import cached_library, load_library
from mappers.markup import escape_jira
from mappers.replies_out import customer_text
from mappers.tracker_events import TrackerEvent

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "canned"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def template(body: str, title: str = "T", tags: str = "[a]") -> str:
    return f"---\ntitle: {title}\ntags: {tags}\n---\n{body}"


@pytest.fixture
def variables() -> dict[str, object]:
    return canned_variables(
        issue_key="SUP-7",
        summary="Printer *on fire*",
        status="Waiting for logs",
        requester_name="Анна",
        agent_name="Bob",
        sla_text="We answer within 4 business hours.",
        fields={"customfield_10010": "Gold", "tracking_number": "RA123456789RU"},
    )


@pytest.fixture
def library(tmp_path: Path) -> CannedLibrary:
    write(
        tmp_path,
        "greet.en.md",
        template("Hello {{ requester_name }}, about {{ issue_key }}.", "Greeting", "[hello, intro]"),
    )
    write(
        tmp_path,
        "greet.ru.md",
        template("Здравствуйте, {{ requester_name }}! {{ issue_key }}.", "Приветствие"),
    )
    write(tmp_path, "only-de.de.md", template("Hallo {{ issue_key }}", "Nur Deutsch"))
    write(tmp_path, "plan.en.md", template("Plan: {{ fields.customfield_10010 }}; SLA: {{ sla_text }}"))
    write(tmp_path, "typo.en.md", template("Hello {{ requester_nmae }}"))
    write(tmp_path, "evil.en.md", template("{{ ''.__class__.__mro__[1].__subclasses__() }}"))
    write(tmp_path, "mutate.en.md", template("{{ fields.clear() }}"))
    write(tmp_path, "div.en.md", template("{{ 1 / 0 }}"))
    return load_library(tmp_path)


# --- loading -----------------------------------------------------------------------------------------


def test_shipped_library_loads_without_errors() -> None:
    library = load_library(SHIPPED)
    assert library.errors == []
    keys = set(library.sorted_keys())
    expected = {
        "logs-request",
        "shipped",
        "resolved",
        "status-in-progress",
        "status-waiting-for-customer",
        "status-resolved",
        "routed",  # the customer notice of a route (config/hub.yaml, routes: customer_notice)
    }
    assert expected <= keys
    for entry in library.list_entries():
        assert {"en", "ru"} <= set(entry.languages), entry.key


@pytest.mark.parametrize("language", ["en", "ru"])
def test_shipped_library_renders_with_every_variable(language: str, variables: dict[str, object]) -> None:
    library = load_library(SHIPPED)
    for key in library.sorted_keys():
        text = library.render(key, language, variables)
        assert "SUP-7" in text, key
        assert "{{" not in text and "{%" not in text
    # ...and with the bare minimum (empty strings, no fields) as well.
    bare = canned_variables(issue_key="SUP-8")
    for key in library.sorted_keys():
        assert "SUP-8" in library.render(key, language, bare)


def test_shipped_status_notifications_speak_both_languages(variables: dict[str, object]) -> None:
    library = load_library(SHIPPED)
    assert "in progress" in library.render("status-in-progress", "en", variables)
    assert "в работу" in library.render("status-in-progress", "ru", variables)
    assert "решено" in library.render("status-resolved", "ru", variables)
    assert "reply from you" in library.render("status-waiting-for-customer", "en", variables)


def test_shipped_shipped_shows_the_tracking_number_only_when_known(variables: dict[str, object]) -> None:
    library = load_library(SHIPPED)
    assert "RA123456789RU" in library.render("shipped", "en", variables)
    assert "Tracking" not in library.render("shipped", "en", canned_variables(issue_key="SUP-1"))


def test_list_entries(library: CannedLibrary) -> None:
    entries = {e.key: e for e in library.list_entries()}
    assert entries["greet"] == ("greet", "Greeting", ["en", "ru"], ["a", "hello", "intro"])
    assert entries["only-de"].languages == ["de"]
    assert entries["only-de"].title == "Nur Deutsch"


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("nofront.en.md", "Hello {{ issue_key }}", "no front matter"),
        ("badyaml.en.md", "---\ntitle: [unclosed\n---\nbody", "front matter is not YAML"),
        ("notitle.en.md", "---\ntags: [x]\n---\nbody", "no title"),
        ("list.en.md", "---\n- a\n---\nbody", "must be a mapping"),
        ("badtags.en.md", "---\ntitle: x\ntags: {a: 1}\n---\nbody", "tags must be a list"),
        ("extra.en.md", "---\ntitle: x\ntilte: y\n---\nbody", "unknown front matter field"),
        ("syntax.en.md", "---\ntitle: x\n---\nline one\n{% if %}", "syntax error on line 5"),
        ("Upper.en.md", template("x"), "file name is not"),
        ("nolang.md", template("x"), "file name is not"),
    ],
)
def test_broken_files_are_reported_by_name_never_by_path(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    write(tmp_path, name, text)
    write(tmp_path, "good.en.md", template("fine"))
    library = load_library(tmp_path)
    assert len(library.errors) == 1
    assert library.errors[0].startswith(name + ": ")
    assert problem in library.errors[0] and str(tmp_path) not in library.errors[0]
    assert library.render("good", "en", {}) == "fine"


def test_a_broken_file_raises_when_used(tmp_path: Path) -> None:
    write(tmp_path, "broken.en.md", "---\ntitle: x\n---\n{{ unclosed")
    library = load_library(tmp_path)
    with pytest.raises(CannedError, match=r"'broken.en'.*syntax error"):
        library.render("broken", "en", {})


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "cp.ru.md").write_bytes(template("Привет").encode("cp1251"))
    library = load_library(tmp_path)
    assert "not UTF-8" in library.errors[0]


def test_readme_and_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# docs")
    write(tmp_path, "notes.txt", "x")
    write(tmp_path, ".hidden.en.md", "x")
    assert load_library(tmp_path).errors == []


def test_missing_folder(tmp_path: Path) -> None:
    library = load_library(tmp_path / "nope")
    assert library.sorted_keys() == [] and library.errors == ["nope/: not a folder"]


def test_cached_library_is_parsed_again_only_when_a_file_changes(tmp_path: Path) -> None:
    path = write(tmp_path, "hello.en.md", template("Hello", title="Alpha"))
    loads: list[CannedLibrary] = []
    assert cached_library(tmp_path, loads.append).list_entries()[0].title == "Alpha"
    # same size and mtime: the listing says nothing changed, so the parsed library is kept
    stat = path.stat()
    path.write_text(template("Hello", title="Bravo"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cached_library(tmp_path, loads.append).list_entries()[0].title == "Alpha"
    assert len(loads) == 1
    # a new mtime, a new file, a removed file: parsed again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cached_library(tmp_path, loads.append).list_entries()[0].title == "Bravo"
    write(tmp_path, "bye.en.md", template("Bye", title="Bye"))
    assert cached_library(tmp_path).sorted_keys() == ["bye", "hello"]
    path.unlink()
    assert cached_library(tmp_path).sorted_keys() == ["bye"]
    assert len(loads) == 2


# --- rendering ---------------------------------------------------------------------------------------


def test_render(library: CannedLibrary, variables: dict[str, object]) -> None:
    assert library.render("greet", "en", variables) == "Hello Анна, about SUP-7."
    assert library.render("plan", "en", variables) == "Plan: Gold; SLA: We answer within 4 business hours."


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ru", "Здравствуйте, Анна! SUP-7."),
        ("ru-RU", "Здравствуйте, Анна! SUP-7."),
        ("RU_ru", "Здравствуйте, Анна! SUP-7."),
        ("en", "Hello Анна, about SUP-7."),
        ("fr", "Hello Анна, about SUP-7."),  # no French: English
        (None, "Hello Анна, about SUP-7."),
    ],
)
def test_language_fallback(
    library: CannedLibrary, variables: dict[str, object], language: str | None, expected: str
) -> None:
    assert library.render("greet", language, variables) == expected


def test_fallback_to_any_language(library: CannedLibrary, variables: dict[str, object]) -> None:
    assert library.render("only-de", "ru", variables) == "Hallo SUP-7"


def test_unknown_key(library: CannedLibrary) -> None:
    with pytest.raises(CannedError, match=r"'gret'.*no such canned response.*did you mean greet"):
        library.render("gret", "en", {})


def test_unknown_variable_is_an_error_not_half_a_text(
    library: CannedLibrary, variables: dict[str, object]
) -> None:
    with pytest.raises(CannedError, match=r"'typo.en'.*UndefinedError.*requester_nmae"):
        library.render("typo", "en", variables)


def test_missing_variable_is_an_error(library: CannedLibrary) -> None:
    with pytest.raises(CannedError, match="requester_name"):
        library.render("greet", "en", {"issue_key": "SUP-1"})


def test_sandbox_blocks_attribute_walks(library: CannedLibrary, variables: dict[str, object]) -> None:
    with pytest.raises(CannedError, match="SecurityError|UndefinedError"):
        library.render("evil", "en", variables)


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ issue_key.__class__.__base__ }}",
        "{{ fields.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self.__dict__ }}",
        "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
    ],
)
def test_sandbox_variants(tmp_path: Path, body: str, variables: dict[str, object]) -> None:
    write(tmp_path, "x.en.md", template(body))
    with pytest.raises(CannedError):
        load_library(tmp_path).render("x", "en", variables)


def test_sandbox_is_immutable(library: CannedLibrary, variables: dict[str, object]) -> None:
    fields = variables["fields"]
    with pytest.raises(CannedError, match="SecurityError"):
        library.render("mutate", "en", variables)
    assert fields == {"customfield_10010": "Gold", "tracking_number": "RA123456789RU"}


def test_runtime_errors_become_canned_errors(library: CannedLibrary, variables: dict[str, object]) -> None:
    with pytest.raises(CannedError, match="ZeroDivisionError"):
        library.render("div", "en", variables)


def test_escape_applies_to_variables_not_to_the_template(tmp_path: Path) -> None:
    write(tmp_path, "x.en.md", template("*Summary:* {{ summary }}"))
    library = load_library(tmp_path)
    text = library.render("x", "en", {"summary": "[~admin] {html}<b>"}, escape=escape_jira)
    assert text == "*Summary:* \\[\\~admin\\] \\{html\\}<b>"
    assert library.render("x", "en", {"summary": "*x*"}) == "*Summary:* *x*"


def test_variables_helper() -> None:
    assert set(canned_variables(issue_key="A-1")) == set(VARIABLES)


# --- ::key expansion ---------------------------------------------------------------------------------


def test_expand(library: CannedLibrary, variables: dict[str, object]) -> None:
    result = expand_codes("/reply ::greet\n\nThanks!", library, "en", variables)
    assert result.text == "/reply Hello Анна, about SUP-7.\n\nThanks!"
    assert result.used == ["greet"] and result.changed
    assert not result.unknown and not result.errors and not result.problems


def test_expand_several_and_repeated(library: CannedLibrary, variables: dict[str, object]) -> None:
    result = expand_codes("::greet (::plan) ::greet.", library, "ru", variables)
    assert result.text == (
        "Здравствуйте, Анна! SUP-7. (Plan: Gold; SLA: We answer within 4 business hours.) Здравствуйте, Анна! SUP-7.."
    )
    assert result.used == ["greet", "plan"]


def test_unknown_key_stays_with_suggestions(library: CannedLibrary, variables: dict[str, object]) -> None:
    result = expand_codes("::gret and ::zzzzzz", library, "en", variables)
    assert result.text == "::gret and ::zzzzzz"
    assert result.unknown == {"gret": ["greet"], "zzzzzz": []}
    assert not result.changed
    assert result.problems == [
        "::gret is not a canned response. Did you mean: ::greet?",
        "::zzzzzz is not a canned response.",
    ]


def test_failing_template_leaves_the_code_and_reports(
    library: CannedLibrary, variables: dict[str, object]
) -> None:
    result = expand_codes("/reply ::greet then ::typo", library, "en", variables)
    assert result.text == "/reply Hello Анна, about SUP-7. then ::typo"
    assert result.used == ["greet"]
    assert "requester_nmae" in result.errors["typo"]
    assert result.problems[0].startswith("::typo was not inserted: canned response 'typo.en'")


@pytest.mark.parametrize(
    "text",
    [
        "a::greet",  # inside a word
        "std::greet",
        "::greetings",  # a longer word is another key, not ::greet
        "::greet_x",
        "::Greet",  # keys are lowercase
        "::greet:1",  # IPv6-like
        "x:::greet",
        "{code}::greet{code}",
        "{noformat}\n::greet\n{noformat}",
        "{{::greet}}",
        "`::greet`",
        "```\n::greet\n```",
    ],
)
def test_codes_that_are_not_codes(library: CannedLibrary, variables: dict[str, object], text: str) -> None:
    result = expand_codes(text, library, "en", variables)
    assert "greet" not in result.used
    assert "Hello" not in result.text


@pytest.mark.parametrize(
    "text", ["::greet", "(::greet)", "x ::greet, y", "::greet.", "\n::greet\n", "«::greet»"]
)
def test_codes_that_are_codes(library: CannedLibrary, variables: dict[str, object], text: str) -> None:
    assert expand_codes(text, library, "en", variables).used == ["greet"]


@given(st.text(max_size=200))
def test_expansion_without_codes_changes_nothing(text: str) -> None:
    library = CannedLibrary()
    result = expand_codes(text, library, "en", {})
    assert result.text == text
    assert not result.used and not result.errors
    assert set(result.unknown) <= {m.group(1) for m in CODE.finditer(text)}


def test_round_trip_reply_with_a_code(variables: dict[str, object]) -> None:
    """The issue's end-to-end story, pure half: ``/reply ::logs-request`` becomes the customer's text."""
    library = load_library(SHIPPED)
    expansion = expand_codes("/reply ::logs-request", library, "en", variables, escape=escape_jira)
    assert expansion.used == ["logs-request"]
    event = TrackerEvent(
        tracker="jira",
        kind="comment_created",
        event_id="comment:1:t",
        issue_key="SUP-7",
        comment_id="1",
        comment_body=expansion.text,
    )
    text = customer_text(event)
    assert text is not None
    assert text.startswith("Hello Анна,")
    assert '("Printer *on fire*")' in text  # escaped into Jira, unescaped for the customer
    assert "::" not in text and "/reply" not in text
