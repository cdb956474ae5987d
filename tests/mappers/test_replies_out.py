"""mappers.replies_out: which comments reach the customer, and as what text."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mappers.kaiten_events import parse_kaiten_webhook
from mappers.markup import escape_jira, escape_kaiten
from mappers.markup_text import markdown_to_text, wiki_to_text
from mappers.replies_out import (
    ReplyMode,
    customer_text,
    html_alternative,
    names_file,
    strip_marker,
)
from mappers.tracker_events import TrackerEvent, parse_jira_webhook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def jira_comment(body: str, public: bool | None = None, kind: str = "comment_created") -> TrackerEvent:
    return TrackerEvent(
        tracker="jira",
        kind=kind,  # type: ignore[arg-type]
        event_id="comment:1:x",
        issue_key="SUP-1",
        comment_id="1",
        comment_body=body,
        comment_public=public,
    )


def kaiten_comment(body: str, public: bool | None = None) -> TrackerEvent:
    return TrackerEvent(
        tracker="kaiten",
        kind="comment_created",
        event_id="comment:add:1:x",
        issue_key="42",
        comment_id="1",
        comment_body=body,
        comment_public=public,
    )


def fixture(folder: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / folder / name).read_text(encoding="utf-8"))


# --- marker mode -------------------------------------------------------------------------------------


@pytest.mark.parametrize("public", [True, False, None])
def test_marker_mode_sends_marked_comments_whatever_the_visibility(public: bool | None) -> None:
    event = jira_comment("/reply Hello, *the fix* is deployed.", public)
    assert customer_text(event) == "Hello, the fix is deployed."


@pytest.mark.parametrize(
    "body",
    [
        "Hello, the fix is deployed.",  # no marker
        "We should /reply later",  # marker not first
        "/replying soon",  # a longer word
        "/reply",  # only the marker
        "/reply   \n  ",
        "",
    ],
)
def test_marker_mode_sends_nothing_else(body: str) -> None:
    assert customer_text(jira_comment(body, public=True)) is None


def test_marker_mode_variants() -> None:
    assert customer_text(jira_comment("\n  /REPLY\nLine one\nLine two")) == "Line one\nLine two"
    assert customer_text(jira_comment("!reply hi"), marker="!reply") == "hi"
    assert customer_text(jira_comment("/reply hi"), marker="!reply") is None
    assert customer_text(jira_comment("/reply hi"), marker="   ") is None


def test_marker_removed_exactly_once() -> None:
    assert strip_marker("/reply /reply twice") == "/reply twice"
    assert strip_marker("/reply\n\nbody") == "\nbody"
    assert strip_marker("nothing") is None


def test_kaiten_marker_mode_uses_markdown() -> None:
    event = parse_kaiten_webhook(fixture("kaiten", "comment-add.docs-shape.json"))
    assert customer_text(event) == "Мы получили ваши логи, спасибо!"


def test_non_comment_events_send_nothing() -> None:
    event = parse_jira_webhook(fixture("jira", "zulip__issue_updated__status.json"))
    assert customer_text(event) is None
    assert customer_text(event, ReplyMode.PUBLIC) is None


# --- public mode -------------------------------------------------------------------------------------


def test_public_mode_sends_public_comments() -> None:
    event = parse_jira_webhook(fixture("jira", "zulip__comment_created.json"))  # jsdPublic: true
    assert customer_text(event, ReplyMode.PUBLIC) == "Leaving a comment here! :)"
    assert customer_text(event, "public") == "Leaving a comment here! :)"
    assert customer_text(event, ReplyMode.MARKER) is None  # the same comment, unmarked


def test_public_mode_strips_a_marker_too() -> None:
    assert customer_text(jira_comment("/reply hi", public=True), ReplyMode.PUBLIC) == "hi"


def test_public_mode_never_sends_internal_comments() -> None:
    assert customer_text(jira_comment("internal note", public=False), ReplyMode.PUBLIC) is None
    event = parse_kaiten_webhook(fixture("kaiten", "comment-add-internal.docs-shape.json"))
    assert event.comment_public is False
    assert customer_text(event, ReplyMode.PUBLIC) is None


def test_public_mode_never_sends_comments_of_unknown_visibility() -> None:
    # Jira Server/Data Center send no jsdPublic: nothing tells the comment is for the customer.
    event = parse_jira_webhook(fixture("jira", "mattermost-plugin-jira__webhook-server-comment-created.json"))
    assert event.comment_public is None
    assert customer_text(event, ReplyMode.PUBLIC) is None
    # ...even when it carries the marker: public mode is about visibility.
    assert customer_text(jira_comment("/reply hi", public=None), ReplyMode.PUBLIC) is None


def test_public_kaiten_comment() -> None:
    event = parse_kaiten_webhook(fixture("kaiten", "comment-update.docs-shape.json"))
    assert customer_text(event, ReplyMode.PUBLIC) == "Мы получили ваши логи и уже смотрим."


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError):
        customer_text(jira_comment("/reply x"), "everything")


# --- Jira wiki markup --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wiki", "text"),
    [
        (
            "*bold* and _italic_ and -gone- +ins+ ^sup^ ~sub~ ??cite??",
            "bold and italic and gone ins sup sub cite",
        ),
        ("{color:red}red text{color}", "red text"),
        ("{colour:#ff0000}x{colour}", "x"),
        ("[Docs|https://example.com/a_b_c]", "Docs (https://example.com/a_b_c)"),
        ("[https://example.com]", "https://example.com"),
        ("[mailto:help@example.com]", "help@example.com"),
        ("Hi [~john.smith], see below", "Hi, see below"),
        ("[~accountid:5b10a2844c20165700ede21g] please check", "please check"),
        ("!screen.png!", "[image: screen.png]"),
        ("!screen shot.png|thumbnail!", "[image: screen shot.png]"),
        ("!https://example.com/i.gif!", "[image: https://example.com/i.gif]"),
        ("[^logs.zip]", "[attachment: logs.zip]"),
        ("\\*not bold\\* and \\[not a link\\]", "*not bold* and [not a link]"),
        ("C:&#92;Users&#92;me", "C:\\Users\\me"),
        ("line one\\\\line two", "line one\nline two"),
        ("{{monospace_text}}", "monospace_text"),
        ("h2. Heading\nbody", "Heading\nbody"),
        ("bq. a quote", "> a quote"),
        ("{quote}\nsaid\n{quote}", "> said"),
        ("* one\n* two\n** two a\n# first\n# second", "- one\n- two\n  - two a\n1. first\n2. second"),
        ("||h1||h2||\n|a|b|", "h1 | h2\na | b"),
        ("{panel:title=Note}inside{panel}", "inside"),
        ("snake_case e-mail 2*3*4 Wow!Great! [1] [sic]", "snake_case e-mail 2*3*4 Wow!Great! [1] [sic]"),
        ("----", "----"),
        ("a\n\n\n\nb", "a\n\nb"),
    ],
)
def test_wiki_to_text(wiki: str, text: str) -> None:
    assert wiki_to_text(wiki) == text


def test_code_blocks_are_kept_verbatim() -> None:
    wiki = (
        "Try:\n{code:bash}\nrm -rf *build* && echo {color}\n{code}\nand\n{noformat}\n_raw_ [x|y]\n{noformat}"
    )
    assert wiki_to_text(wiki) == "Try:\n\nrm -rf *build* && echo {color}\n\nand\n\n_raw_ [x|y]"


def test_unclosed_code_block_runs_to_the_end() -> None:
    assert wiki_to_text("see {code}*x*") == "see\n*x*"


def test_escape_jira_round_trips() -> None:
    # What the hub escapes into Jira reads back as the customer wrote it.
    original = "Price: 5*3 = [15] {total} -- a_b_c ~x~ !bang! \\path h1. no # no"
    assert wiki_to_text(escape_jira(original)) == original


# --- Kaiten markdown ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("**bold** *it* _it_ __bold__ ~~del~~", "bold it it bold del"),
        ('[docs](https://example.com/a_b "Title")', "docs (https://example.com/a_b)"),
        ("<https://example.com>", "https://example.com"),
        ("[https://x.org](https://x.org)", "https://x.org"),
        ("![shot](https://kaiten.example/files/a.png)", "[image: shot]"),
        ("![](https://kaiten.example/files/a.png)", "[image: a.png]"),
        ("`co*de*`", "co*de*"),
        ("```\nx = *1*\n```", "x = *1*"),
        ("\\*literal\\* \\_x\\_", "*literal* _x_"),
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ("<b>bold</b><br>next", "bold\nnext"),
        ("line  \nbreak", "line\nbreak"),
        ("# Title\n\n* a\n+ b\n- c", "Title\n\n- a\n- b\n- c"),
        ("***", "----"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
    ],
)
def test_markdown_to_text(markdown: str, text: str) -> None:
    assert markdown_to_text(markdown) == text


def test_escape_kaiten_round_trips() -> None:
    original = "Price: 5*3 = [15] <b>x</b> a_b_c #tag @me &amp;\nsecond line"
    assert markdown_to_text(escape_kaiten(original)) == original


# --- HTML alternative --------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_alternative() -> None:
    out = html_alternative("Hi <script>alert(1)</script> & co\n  indented\n\nSecond paragraph")
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co<br>" in out
    assert "&nbsp;&nbsp;indented</p>" in out
    assert "<p>Second paragraph</p>" in out
    parser = _Collector()
    parser.feed(out)
    assert set(parser.tags) <= {"html", "head", "meta", "body", "p", "br"}


@given(st.text(max_size=300))
def test_html_alternative_has_only_its_own_tags(text: str) -> None:
    parser = _Collector()
    parser.feed(html_alternative(text))
    assert set(parser.tags) <= {"html", "head", "meta", "body", "p", "br"}


# --- properties --------------------------------------------------------------------------------------

# Text built from the pieces markup is made of, so hypothesis reaches the interesting paths quickly.
wiki_pieces = st.sampled_from(
    [
        "*",
        "_",
        "-",
        "+",
        "^",
        "~",
        "??",
        "{",
        "}",
        "[",
        "]",
        "|",
        "!",
        "\\",
        "\\\\",
        "#",
        "\n",
        " ",
        "{color:red}",
        "{color}",
        "{colour}",
        "{{",
        "}}",
        "{panel}",
        "{quote}",
        "[~user]",
        "[a|http://x]",
        "!a.png!",
        "&#92;",
        "&#123;",
        "&amp;",
        "h1. ",
        "bq. ",
        "||",
        "word",
        "a_b",
        "\ue000",
        "\ue001",
        "\ue0020\ue003",
        "\x00",
    ]
)
wiki_text = st.lists(wiki_pieces | st.text(max_size=5), max_size=40).map("".join)


@given(wiki_text)
@example("{{{color:red}}")  # found by hypothesis in CI: monospace parked half a colour tag
def test_wiki_to_text_never_leaves_colour_tags(body: str) -> None:
    text = wiki_to_text(body)
    assert isinstance(text, str)
    assert not any(c in text for c in "\ue000\ue001\ue002\ue003\x00")
    if "{code" not in body and "{noformat" not in body:
        assert "{color" not in text.lower() and "{colour" not in text.lower()


def assert_tidy(text: str) -> None:
    """What a customer receives: no control characters or placeholders, no spaces at a line's end, at
    most one blank line in a row, no blank lines around it."""
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\r\ue000-\ue003]", text)
    assert not re.search(r"[ \t]+(\n|$)", text)
    assert "\n\n\n" not in text and text == text.strip("\n")


@given(st.text(max_size=400))
def test_wiki_to_text_gives_tidy_text_for_any_input(body: str) -> None:
    assert_tidy(wiki_to_text(body))


plain_text = st.text(alphabet="abcXYZ019 \t\nабв", max_size=200)


def tidied(body: str) -> str:
    lines = "\n".join(line.rstrip(" \t") for line in body.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", lines).strip("\n")


@given(plain_text)
def test_text_without_markup_reaches_the_customer_as_written(body: str) -> None:
    """Only trailing spaces and extra blank lines go; every word stays, in order."""
    assert wiki_to_text(body) == markdown_to_text(body) == tidied(body)


md_pieces = st.sampled_from(
    [
        "*",
        "**",
        "_",
        "__",
        "~~",
        "`",
        "```\n",
        "[",
        "](",
        ")",
        "![",
        "<",
        ">",
        "\\",
        "&amp;",
        "#",
        "\n",
        "  \n",
        "http://x.y/",
        "<br>",
        "word",
        "\ue000",
        "\ue001",
    ]
)
md_text = st.lists(md_pieces | st.text(max_size=5), max_size=40).map("".join)


@given(md_text)
def test_markdown_to_text_gives_tidy_text_for_any_input(body: str) -> None:
    assert_tidy(markdown_to_text(body))


@given(st.text(max_size=200))
def test_customer_text_never_raises(body: str) -> None:
    for mode in ReplyMode:
        for event in (jira_comment("/reply " + body, True), kaiten_comment(body, True)):
            result = customer_text(event, mode)
            assert result is None or result.strip() == result


@pytest.mark.parametrize(
    ("body", "wiki", "markdown"),
    [
        # markup that never closes is left as written: nothing the engineer wrote is lost
        ("*a " * 11000, ("*a " * 11000).strip(), ("*a " * 11000).strip()),
        ("[" * 32000, "[" * 32000, "[" * 32000),
        ("{{" * 16000, "{{" * 16000, "{{" * 16000),
        ("`" * 32000, "`" * 32000, "`" * 32000),
        ("![" * 16000, "![" * 16000, "![" * 16000),
        ("[a](" * 8000, "[a](" * 8000, "[a](" * 8000),
        ("_x " * 11000, ("_x " * 11000).strip(), ("_x " * 11000).strip()),
        # two backslashes: a forced line break in wiki markup, an escaped backslash in markdown
        ("\\" * 32000, "", "\\" * 16000),
    ],
)
@pytest.mark.timeout(60)  # a hang guard against catastrophic backtracking; speed belongs in bench/
def test_adversarial_comments_convert(body: str, wiki: str, markdown: str) -> None:
    assert wiki_to_text(body) == wiki
    assert markdown_to_text(body) == markdown


# -- which files a comment names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "filename"),
    [
        ("/reply Please install the driver: [^driver-setup.pdf]", "driver-setup.pdf"),
        ("/reply Here is what you should see: !screen.png!", "screen.png"),
        ("/reply !screen.png|thumbnail!", "screen.png"),
        ("/reply See [report.pdf](https://acme.kaiten.ru/files/aa11)", "report.pdf"),
        ("/reply See ![screen.png](https://acme.kaiten.ru/files/bb22)", "screen.png"),
        ("/reply I attached log.txt.", "log.txt"),
        ("/reply log.txt, then reboot", "log.txt"),
        ("/reply (log.txt)", "log.txt"),
        ("/reply Инструкция.docx во вложении", "Инструкция.docx"),
        ("/reply see my report (final).pdf", "my report (final).pdf"),
        ("/reply attached: log\\_2026.txt", "log_2026.txt"),  # a markdown editor escaped the "_"
    ],
)
def test_a_comment_names_a_file_by_marker_or_exact_whole_name(comment: str, filename: str) -> None:
    assert names_file(comment, filename)


@pytest.mark.parametrize(
    ("comment", "filename"),
    [
        ("/reply see [^changelog.txt]", "log.txt"),
        ("/reply see log.txt.bak", "log.txt"),
        ("/reply see log.txt-old", "log.txt"),
        ("/reply see /var/log/log.txt", "log.txt"),
        ("/reply see report.pdfx", "report.pdf"),
        ("/reply the catalog", "log"),
        ("/reply see Log.txt", "log.txt"),  # exact: another file could be called Log.txt
        ("/reply anything", ""),
    ],
)
def test_part_of_another_word_or_name_does_not_name_a_file(comment: str, filename: str) -> None:
    assert not names_file(comment, filename)


_NAME = st.text(alphabet="abcxyz019_-", min_size=1, max_size=8).map(lambda stem: stem + ".pdf")


@given(name=_NAME, prefix=st.text(alphabet="abcXYZ09_", min_size=1, max_size=5))
def test_a_name_inside_a_longer_name_is_never_taken_for_it(name: str, prefix: str) -> None:
    assert not names_file(f"/reply see {prefix}{name} and {name}.old", name)
    assert names_file(f"/reply see {prefix}{name} and {name}", name)
