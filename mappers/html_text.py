"""HTML mail bodies to plain readable text, in bounded time.

Customer text goes to a tracker as plain text (DESIGN.md, security rules: "Strip HTML to text"), so the
result carries no markup at all: no Markdown either, which a tracker might render. A small converter
keeps that under our control: block elements end lines, ``<br>`` breaks them, list items get
a dash, a link keeps its URL in parentheses when the URL differs from the text, scripts and styles vanish,
and a ``<blockquote>`` becomes ``> `` lines, so quote stripping can treat HTML and plain mail alike.

The tokenizer is a linear scan with bounded regular expressions, not ``html.parser``: that one goes
quadratic on input such as 300,000 unclosed ``<a `` tags. Bounds: the input is cut at ``max_chars``
and, like Zammad's 5,000-link guard, a document with more than ``max_links`` links keeps its link
texts but drops every URL; a line carries at most ``MAX_QUOTE_DEPTH`` quote marks.
"""

from __future__ import annotations

import re
from html import unescape

MAX_HTML_CHARS = 1_000_000
MAX_LINKS = 5_000
# Quote marks written per line at most: 100,000 nested blockquotes would otherwise write 10^10 of them.
MAX_QUOTE_DEPTH = 20

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
# A tag with bounded attribute text, so a failed match costs constant time (no quadratic rescans).
_TAG = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9:-]{0,40})((?:[^<>"']|"[^"<]{0,4000}"|'[^'<]{0,4000}'){0,4000})>"""
)
_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


class _TextBuilder:
    """Collects text and line structure from tag and text events."""

    def __init__(self, *, keep_urls: bool) -> None:
        self.keep_urls = keep_urls
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, href: str) -> None:
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
            self.links.append((href, len(self.parts)))

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
        lines.append(("> " * min(depth, MAX_QUOTE_DEPTH) + stripped).rstrip())
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _feed(builder: _TextBuilder, html: str) -> None:
    """Drive the builder over ``html`` in one linear pass; unparseable ``<`` is text."""
    pos = 0
    size = len(html)
    while pos < size:
        lt = html.find("<", pos)
        if lt < 0:
            builder.handle_data(unescape(html[pos:]))
            return
        if lt > pos:
            builder.handle_data(unescape(html[pos:lt]))
        pos = _consume_markup(builder, html, lt)


def _consume_markup(builder: _TextBuilder, html: str, lt: int) -> int:
    """Handle the markup starting at ``lt``; return where the scan continues."""
    if html.startswith("<!--", lt):
        end = html.find("-->", lt + 4)
        return len(html) if end < 0 else end + 3
    match = _TAG.match(html, lt)
    if match is None:
        if html.startswith(("<!", "<?"), lt):
            end = html.find(">", lt)
            return len(html) if end < 0 else end + 1
        builder.handle_data("<")
        return lt + 1
    closing, tag, attrs = match.group(1), match.group(2).lower(), match.group(3)
    if closing:
        builder.handle_endtag(tag)
        return match.end()
    if tag in _SKIP and not attrs.rstrip().endswith("/"):
        closer = re.compile(rf"</{tag}\s*>", re.IGNORECASE).search(html, match.end())
        return len(html) if closer is None else closer.end()
    builder.handle_starttag(tag, _href(attrs) if tag == "a" else "")
    return match.end()


def _href(attrs: str) -> str:
    found = _HREF.search(attrs)
    if found is None:
        return ""
    return unescape(next(group for group in found.groups() if group is not None)).strip()


def html_to_text(html: str, *, max_chars: int = MAX_HTML_CHARS, max_links: int = MAX_LINKS) -> str:
    """Readable plain text of an HTML document or fragment; never raises on malformed HTML."""
    html = html[:max_chars].replace("\x00", "")
    builder = _TextBuilder(keep_urls=len(_LINK_OPEN.findall(html)) <= max_links)
    _feed(builder, html)
    return _render_lines("".join(builder.parts).replace("\xa0", " "))
