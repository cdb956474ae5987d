"""Decide which tracker comments reach the customer, and turn them into plain text. Pure: no I/O.

Which comments go out is a per-project choice (issue 5, "Replies to the customer"):

- ``marker`` (the default): only a comment whose first word is the marker (default ``/reply``) goes
  out, with the marker removed. Writing the marker is the engineer's explicit decision, so it is
  honoured whatever the comment's visibility.
- ``public``: a Jira Service Management public comment (Cloud's ``jsdPublic: true``) or a Kaiten
  comment without the ``internal`` flag goes out. When the payload does not tell (Jira Server/Data
  Center, which send no ``jsdPublic``), the comment is **not** sent: internal discussion must never
  reach a customer by accident. A leading marker is removed here too.

The text conversion is mappers/markup_text.py's.
"""

from __future__ import annotations

import html
import re
from enum import StrEnum

from mappers.markup import clean_text
from mappers.markup_text import markdown_to_text, wiki_to_text
from mappers.tracker_events import TrackerEvent

DEFAULT_MARKER = "/reply"
COMMENT_KINDS = frozenset({"comment_created", "comment_updated"})


class ReplyMode(StrEnum):
    """Which tracker comments a project sends to the customer."""

    MARKER = "marker"
    PUBLIC = "public"


def customer_text(
    event: TrackerEvent, mode: ReplyMode | str = ReplyMode.MARKER, marker: str = DEFAULT_MARKER
) -> str | None:
    """The plain text to send the customer for a comment event, or None when nothing goes out.

    The caller expands ``::codes`` first (and checks the author is not the hub itself); an empty
    comment, or one that is only the marker, sends nothing.
    """
    if event.kind not in COMMENT_KINDS or not event.comment_body:
        return None
    body = clean_text(event.comment_body)
    rest = strip_marker(body, marker)
    if ReplyMode(mode) is ReplyMode.MARKER:
        if rest is None:
            return None
        body = rest
    else:
        if event.comment_public is not True:
            return None
        body = body if rest is None else rest
    convert = wiki_to_text if event.tracker == "jira" else markdown_to_text
    text = convert(body).strip()
    return text or None


def strip_marker(body: str, marker: str = DEFAULT_MARKER) -> str | None:
    """``body`` without its leading marker, or None when it does not start with it.

    The marker must be the first word (leading blank lines and spaces allowed, case ignored): a
    comment starting "/replying" or quoting the marker mid-text is not marked.
    """
    marker = marker.strip()
    if not marker:
        return None
    match = re.match(rf"\s*{re.escape(marker)}(?=\s|$)[ \t]*\n?", body, re.IGNORECASE)
    if match is None:
        return None
    return body[match.end() :]


# ---------------------------------------------------------------------------------------------------
# files a comment names

# Around a file name: not a letter, digit, "_", "-", "." or path separator before it; after it, not a
# letter, digit, "_" or "-", nor "." followed by one (so "log.txt." ends a sentence, "log.txt.bak" is
# another name).
_NAME_BEFORE = r"(?<![\w.\-/\\])"
_NAME_AFTER = r"(?![\w\-]|\.\w)"
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before ASCII punctuation (CommonMark)


def names_file(comment: str, filename: str) -> bool:
    """Whether a comment names a file of the issue explicitly, so the reply may carry it.

    Jira's ``[^report.pdf]`` and ``!screen.png!`` (``!screen.png|thumbnail!``), a markdown link or
    image whose text is the name, and the plain name as a whole word ("see report.pdf.") all name it.
    Part of another word or name does not: ``changelog.txt`` and ``log.txt.bak`` do not name
    ``log.txt``. Backslash escapes (``log\\_2026.txt`` in markdown) are read as the character.
    """
    if not filename.strip():
        return False
    pattern = re.compile(_NAME_BEFORE + re.escape(filename) + _NAME_AFTER)
    return any(pattern.search(text) for text in (comment, _ESCAPED.sub(r"\1", comment)))


# ---------------------------------------------------------------------------------------------------
# HTML


def html_alternative(text: str) -> str:
    """A minimal, safe HTML document for ``text``: escaped, blank lines as paragraphs, lines as <br>."""
    text = clean_text(text).strip("\n")
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    rendered = "\n".join(
        "<p>" + "<br>\n".join(_html_line(line) for line in p.split("\n")) + "</p>" for p in paragraphs
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body style="font-family:sans-serif">\n{rendered}\n</body></html>\n'
    )


def _html_line(line: str) -> str:
    escaped = html.escape(line.rstrip(), quote=True)
    indent = len(escaped) - len(escaped.lstrip(" "))
    return "&nbsp;" * indent + escaped[indent:]
