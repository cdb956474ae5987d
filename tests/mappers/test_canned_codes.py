"""A value a customer chose can never become a canned code once a template has put it into a tracker
comment: ``::`` in a variable is written so that ``CODE`` no longer finds it, and still reads as ``::``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.canned import CODE, KEY, canned_variables, expand_codes
from mappers.canned_files import load_library
from mappers.markup import escape_jira, escape_kaiten
from mappers.markup_text import markdown_to_text, wiki_to_text

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "canned"
TRACKERS = [(escape_jira, wiki_to_text), (escape_kaiten, markdown_to_text)]


def expand(text: str, summary: str, escape: object) -> str:
    variables = canned_variables(issue_key="SUP-1", summary=summary, requester_name="::resolved")
    expansion = expand_codes(text, load_library(SHIPPED), "en", variables, escape=escape)  # type: ignore[arg-type]
    assert expansion.used == ["logs-request"]
    return expansion.text


@pytest.mark.parametrize(("escape", "to_text"), TRACKERS)
def test_a_code_in_a_variable_is_not_a_code_after_expansion(escape: object, to_text: object) -> None:
    expanded = expand("/reply ::logs-request", "::logs-request", escape)
    assert CODE.search(expanded) is None
    # a second pass over the edited comment finds nothing to expand
    again = expand_codes(expanded, load_library(SHIPPED), "en", canned_variables(issue_key="SUP-1"))
    assert again.used == [] and again.unknown == {} and again.text == expanded
    customer = to_text(expanded)  # type: ignore[operator]
    assert '"::logs-request"' in customer and "Hello ::resolved" in customer


_AROUND = st.text(alphabet=st.sampled_from(':abz-_ "\n({'), max_size=12)


@given(summary=st.builds("{}::{}{}".format, _AROUND, st.from_regex(KEY, fullmatch=True), _AROUND))
def test_no_summary_can_smuggle_a_code(summary: str) -> None:
    for escape, _ in TRACKERS:
        variables = canned_variables(issue_key="SUP-1", summary=summary)
        rendered = load_library(SHIPPED).render("logs-request", "en", variables, escape=escape)
        assert CODE.search(rendered) is None


@pytest.mark.parametrize(("escape", "to_text"), TRACKERS)
def test_template_text_beside_a_variable_cannot_complete_a_code(
    tmp_path: Path, escape: object, to_text: object
) -> None:
    (tmp_path / "note.en.md").write_text("---\ntitle: Note\n---\nSee :{{ summary }}: and {{ status }}:x\n")
    variables = canned_variables(issue_key="SUP-1", summary=":logs-request", status="a:")
    rendered = load_library(tmp_path).render("note", "en", variables, escape=escape)  # type: ignore[arg-type]
    assert CODE.search(rendered) is None
    assert to_text(rendered) == "See ::logs-request: and a::x"  # type: ignore[operator]
