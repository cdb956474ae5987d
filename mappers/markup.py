"""Escape untrusted customer text for the tracker's markup.

Jira wiki markup (Data Center, and Cloud's REST v2): every character that can open markup is
backslash-escaped, so no ``{html}``/``{code}`` macro, ``[~mention]``, ``[text|url]`` link or ``!image!``
survives; a backslash itself becomes ``&#92;`` because ``\\\\`` is a forced line break and there is no
other way to print a plain backslash before markup (pandoc's Jira writer reached the same conclusion,
jgm/pandoc#5926). Line-leading list, heading, quote and table markers are escaped too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mappers.quotes import QUOTE_MARKS, is_quoted

# Characters that open Jira wiki markup anywhere in a line. For readability a few are left alone where
# they cannot be markup: a hyphen between two letters or digits ("e-mail", "2026-11-23") cannot open or
# close ``-strikethrough-``, a lone "?" is not ``??citation??``, and "#" is a list only at a line start.
_JIRA_INLINE = re.compile(r"([{}\[\]!|*_+^~]|\?(?=\?)|(?<=\?)\?|(?<![^\W_])-|-(?![^\W_]))")
# Line starts that are block markup: numbered lists, headings, block quotes.
_JIRA_BLOCK_START = re.compile(r"^(\s*)(#|h[1-6]\.|bq\.)", re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Normalise line ends and drop control characters (NUL and friends) that trackers reject."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def escape_jira(text: str) -> str:
    """Customer text as Jira wiki markup that renders exactly as the text, with nothing active."""
    text = clean_text(text).replace("\\", "&#92;")
    text = _JIRA_INLINE.sub(r"\\\1", text)
    return _JIRA_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def one_line(text: str, limit: int = 255) -> str:
    """A single line of at most ``limit`` characters, whitespace collapsed, cut after a whole word and
    ended with "…"; a word is cut only when it alone is longer than ``limit``."""
    words = clean_text(text).split()
    line = " ".join(words)
    if len(line) <= limit:
        return line
    if len(words[0]) >= limit:  # one word fills the line: cut it, or keep it whole if it just fits
        return words[0] if len(words[0]) == limit else words[0][: limit - 1] + "…"
    cut = words[0]
    for word in words[1:]:
        if len(cut) + 1 + len(word) > limit - 1:
            break
        cut += " " + word
    return (cut.rstrip(",;:-–—(") or cut) + "…"


# Kaiten text is markdown (developers.kaiten.ru: ``text_format_type_id`` 1, the default). CommonMark lets
# a backslash escape any ASCII punctuation, so every character that can start markdown, inline HTML, an
# entity, a link, an image or an @mention is escaped; hard line breaks keep the customer's lines.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~@&=^$\"'])")


def escape_kaiten(text: str) -> str:
    """Customer text as Kaiten markdown that renders as the text, with nothing active."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", clean_text(text))
    return escaped.replace("\n", "  \n")


def _jira_quote(escaped: str) -> str:
    """Escaped lines as a Jira wiki quote block (``{quote}`` does not nest; ``bq.`` takes one line)."""
    return "{quote}\n" + escaped + "\n{quote}"


def _kaiten_quote(escaped: str) -> str:
    """Escaped lines (joined by markdown hard breaks) as a markdown block quote."""
    return "> " + escaped.replace("\n", "\n> ")


def _quote_runs(text: str) -> list[tuple[bool, str]]:
    """The text as runs of plain and of ``>``-quoted lines, the quote marks removed from the latter.

    A blank line between two quoted lines belongs to the quote, so one quote stays one block.
    """
    lines = text.split("\n")
    quoted = [is_quoted(line) for line in lines]
    blank = [not line.strip() for line in lines]
    after = False  # whether the next non-blank line is quoted, scanning from the end
    inside = [False] * len(lines)
    for index in range(len(lines) - 1, -1, -1):
        inside[index] = after
        if not blank[index]:
            after = quoted[index]
    before = False
    for index in range(len(lines)):
        if blank[index]:
            quoted[index] = before and inside[index]
        else:
            before = quoted[index]
    runs: list[tuple[bool, list[str]]] = []
    for line, is_quote in zip(lines, quoted, strict=True):
        content = QUOTE_MARKS.sub("", line) if is_quote else line
        if runs and runs[-1][0] == is_quote:
            runs[-1][1].append(content)
        else:
            runs.append((is_quote, [content]))
    return [(is_quote, "\n".join(run)) for is_quote, run in runs]


@dataclass(frozen=True)
class Markup:
    """How one tracker's markup writes the few things the hub needs around the customer's text."""

    name: str
    escape: Callable[[str], str]
    bold_open: str
    bold_close: str
    rule: str
    marker_template: str  # with {marker}: text a retry can find, kept unobtrusive
    quote: Callable[[str], str]  # already-escaped lines as a block quote

    def text(self, text: str) -> str:
        """Customer text escaped, its ``>`` lines (quoted history kept) shown as block quotes."""
        if not any(is_quoted(line) for line in text.split("\n")):
            return self.escape(text)
        parts = [
            self.quote(self.escape(run.strip("\n"))) if quoted else self.escape(run.strip("\n"))
            for quoted, run in _quote_runs(text)
            if run.strip()
        ]
        return "\n\n".join(parts)

    def bold(self, text: str) -> str:
        """Already-escaped ``text`` in bold."""
        return f"{self.bold_open}{text}{self.bold_close}"

    def italic(self, text: str) -> str:
        """Already-escaped ``text`` in italics."""
        return f"_{text}_"

    def marker(self, marker: str) -> str:
        """The idempotency marker as it is written into a comment."""
        return self.marker_template.format(marker=marker)


JIRA = Markup("jira", escape_jira, "*", "*", "----", "{{color:#999999}}{marker}{{color}}", _jira_quote)
KAITEN = Markup("kaiten", escape_kaiten, "**", "**", "---", "_{marker}_", _kaiten_quote)
MARKUPS = {m.name: m for m in (JIRA, KAITEN)}


def markup_for(tracker: str) -> Markup:
    """The markup of a tracker named in a rule."""
    return MARKUPS[tracker]
