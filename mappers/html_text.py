"""HTML mail bodies to plain readable text, in bounded time.

Customer text goes to a tracker as plain text (DESIGN.md, security rules: "Strip HTML to text"), so the
result carries no markup at all: no Markdown either, which a tracker might render. A converter on
``html.parser`` keeps that under our control: block elements end lines, ``<br>`` breaks them, list items get
a dash, a link keeps its URL in parentheses when the URL differs from the text, scripts and styles vanish,
and a ``<blockquote>`` becomes ``> `` lines, so quote stripping can treat HTML and plain mail alike.

Bounds: the input is cut at ``max_chars`` and, like Zammad's 5,000-link guard, a document with more than
``max_links`` links keeps its link texts but drops every URL.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_HTML_CHARS = 1_000_000
MAX_LINKS = 5_000

_SKIP = {"script", "style", "title", "template", "xml", "svg", "object"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
}  # fmt: skip
_CELL = {"td", "th"}
_QUOTE_OPEN = "\x00q+\x00"
_QUOTE_CLOSE = "\x00q-\x00"
_SPACES = re.compile(r"[ \t\r\n\f\v\u200b]+")
_BLANKS = re.compile(r"\n{3,}")
_LINK_OPEN = re.compile(r"<a[\s>]", re.IGNORECASE)


class _TextBuilder(HTMLParser):
    """Collects text and line structure from HTML events."""

    def __init__(self, *, keep_urls: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.keep_urls = keep_urls
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "blockquote":
            self.parts.append("\n" + _QUOTE_OPEN + "\n")
        elif tag in _BLOCK:
            self.parts.append("\n- " if tag == "li" else "\n")
            self.pre_depth += tag == "pre"
        elif tag in _CELL:
            self.parts.append(" ")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "blockquote":
            self.parts.append("\n" + _QUOTE_CLOSE + "\n")
        elif tag in _BLOCK:
            self.parts.append("\n")
            self.pre_depth = max(0, self.pre_depth - (tag == "pre"))
        elif tag == "a" and self.links:
            self._close_link()

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        self.parts.append(data if self.pre_depth else _SPACES.sub(" ", data))

    def _close_link(self) -> None:
        href, start = self.links.pop()
        if not self.keep_urls or not href.lower().startswith(("http://", "https://")):
            return
        text = "".join(self.parts[start:]).strip()
        if text and text != href and text.rstrip("/") != href.rstrip("/"):
            self.parts.append(f" ({href})")
        elif not text:
            self.parts.append(href)


def _render_lines(raw: str) -> str:
    lines: list[str] = []
    depth = 0
    for line in raw.split("\n"):
        stripped = line.strip()
        if stripped == _QUOTE_OPEN.strip():
            depth += 1
            continue
        if stripped == _QUOTE_CLOSE.strip():
            depth = max(0, depth - 1)
            continue
        lines.append(("> " * depth + stripped).rstrip())
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str, *, max_chars: int = MAX_HTML_CHARS, max_links: int = MAX_LINKS) -> str:
    """Readable plain text of an HTML document or fragment; never raises on malformed HTML."""
    html = html[:max_chars].replace("\x00", "")
    keep_urls = len(_LINK_OPEN.findall(html, 0, max_chars)) <= max_links
    builder = _TextBuilder(keep_urls=keep_urls)
    try:
        builder.feed(html)
        builder.close()
    except (AssertionError, ValueError, IndexError):  # old html.parser versions assert on odd markup
        return _render_lines(_SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)))
    return _render_lines("".join(builder.parts).replace("\xa0", " "))
