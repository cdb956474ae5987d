"""Customer text is escaped for Jira wiki markup: nothing it contains can become markup."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.markup import JIRA, KAITEN, Markup, escape_jira, one_line

ATTACKS = [
    "{html}<script>alert(1)</script>{html}",
    "[~admin] please look",
    "[click here|http://evil.example/phish]",
    "!http://evil.example/tracker.png!",
    "{code}rm -rf /{code}",
    "{noformat}x{noformat}",
    "{color:red}alarm{color}",
    "*bold* _italic_ -strike- +under+ ^sup^ ~sub~ ??cite??",
    "h1. Fake heading",
    "bq. fake quote",
    "|| a || b ||\n| 1 | 2 |",
    "# one\n* two\n- three",
    "----",
    "line\\\\break and \\{escaped}",
    "[^attachment.pdf]",
    "{{monospace}}",
]

MARKUP_CHARS = set("{}[]!|*_+^~?#-")


def unescaped_markup(escaped: str) -> list[str]:
    """Markup characters not preceded by the escaping backslash."""
    found = []
    for index, char in enumerate(escaped):
        before = escaped[index - 1] if index else ""
        after = escaped[index + 1] if index + 1 < len(escaped) else ""
        if char == "-" and before.isalnum() and after.isalnum():
            continue  # a hyphen inside a word or number cannot be strikethrough markup
        if char == "?" and "?" not in (before, after):
            continue  # only "??" is citation markup
        if char == "#" and escaped[:index].rpartition("\n")[2].strip():
            continue  # "#" is a numbered list only at the start of a line
        if char in MARKUP_CHARS and before != "\\":
            found.append(char)
    return found


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_are_fully_escaped(attack: str) -> None:
    escaped = escape_jira(attack)
    assert unescaped_markup(escaped) == []
    assert "\\\\" not in escaped.replace("&#92;", "")  # no forced line break smuggled in


def test_block_markers_at_line_start_are_escaped() -> None:
    assert escape_jira("h1. Title").startswith("\\h1.")
    assert escape_jira("  bq. quote").startswith("  \\bq.")


def test_plain_text_is_kept_readable() -> None:
    assert escape_jira("Привет, мир. Order 42 failed") == "Привет, мир. Order 42 failed"
    assert escape_jira("e-mail on 2026-11-23? Order #42") == "e-mail on 2026-11-23? Order #42"
    assert escape_jira("??cite??\n# item") == "\\?\\?cite\\?\\?\n\\# item"
    assert escape_jira("-gone- and - dash") == "\\-gone\\- and \\- dash"
    assert escape_jira("a\r\nb\rc") == "a\nb\nc"
    assert escape_jira("nul\x00byte\x07") == "nulbyte"


@given(st.text())
def test_no_markup_survives_any_text(text: str) -> None:
    escaped = escape_jira(text)
    assert unescaped_markup(escaped) == []
    # every backslash we emit is an escape of a markup character or part of the entity
    assert not re.search(r"\\(?![{}\[\]!|*_+^~?#\-]|h[1-6]\.|bq\.)", escaped.replace("&#92;", ""))
    assert "??" not in escaped.replace("\\?", "")


@given(st.text(), st.integers(min_value=10, max_value=300))
def test_one_line_is_one_bounded_line(text: str, limit: int) -> None:
    line = one_line(text, limit)
    assert "\n" not in line and "\r" not in line
    assert len(line) <= limit


# --- quoted history the text keeps (">" lines) is a block quote in the comment -----------------------


@pytest.mark.parametrize("markup", [JIRA, KAITEN], ids=["jira", "kaiten"])
@pytest.mark.parametrize("text", ATTACKS)
def test_text_without_quotes_is_just_escaped(markup: Markup, text: str):
    assert markup.text(text) == markup.escape(text)


def test_jira_quote_block_holds_escaped_lines_the_customer_cannot_close():
    text = "Still broken.\n> On Mon, Support wrote:\n>\n> > {quote}[~admin]\nIvan"
    assert JIRA.text(text) == (
        "Still broken.\n\n{quote}\nOn Mon, Support wrote:\n\n\\{quote\\}\\[\\~admin\\]\n{quote}\n\nIvan"
    )


def test_kaiten_quote_is_a_markdown_block_quote_of_escaped_lines():
    text = "Still broken.\n> On Mon, Support wrote:\n> <b>old</b>\nIvan"
    assert KAITEN.text(text) == "Still broken\\.\n\n> On Mon, Support wrote:  \n> \\<b\\>old\\</b\\>\n\nIvan"
