"""Strip the quoted history from a reply, keeping only what the customer newly wrote.

A follow-up becomes a tracker comment; repeating the whole thread in every comment buries the news.
Two passes:

- on HTML, before conversion, cut at the container a mail client wraps the history in (Gmail's
  ``gmail_quote``, Outlook's ``divRplyFwdMsg``/``appendonsend``, Thunderbird's ``moz-cite-prefix``,
  Apple's ``blockquote type="cite"``, Yahoo's ``yahoo_quoted``);
- on text, cut at the first attribution line ("On <date>, X wrote:", "... пишет:", "... написал(а):",
  "-----Original Message-----", an Outlook "From:/От:" header block) and drop ``>`` lines.

When the whole message was a quote, the original is returned: an empty comment helps nobody.
"""

from __future__ import annotations

import re

_HTML_MARKERS = re.compile(
    r"""<div[^>]{0,200}?class=["']?(?:gmail_quote|gmail_quote_container|yahoo_quoted|moz-cite-prefix)\b"""
    r"""|<div[^>]{0,200}?id=["']?(?:divRplyFwdMsg|appendonsend)\b"""
    r"""|<hr[^>]{0,200}?id=["']?stopSpelling\b"""
    r"""|<blockquote[^>]{0,200}?type=["']?cite\b""",
    re.IGNORECASE,
)
_ATTRIBUTION_ONE_LINE = re.compile(
    r"^\s*(?:"
    r"on\b.{0,300}\bwrote:"  # Gmail, Apple Mail, Thunderbird (English)
    r"|am\b.{0,300}\bschrieb.{0,100}:"  # German clients
    r"|(?=.*[\d@]).{0,300}\b(?:пишет|писал|написал|написала|написал\(а\))\s*:"  # Russian, with a date
    r"|-{2,}\s*(?:original message|исходное сообщение|пересылаемое сообщение|forwarded message)\s*-{2,}"
    r")\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\**(?:from|от|von|de)\s*:\**\s+\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\s*\**(?:sent|date|to|subject|отправлено|дата|кому|тема|gesendet|an|betreff)\s*:", re.IGNORECASE
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_BLANKS = re.compile(r"\n{3,}")


def cut_html_quote(html: str) -> str:
    """The HTML up to the first quoted-history container a known mail client inserts."""
    match = _HTML_MARKERS.search(html)
    return html if match is None else html[: match.start()]


def _is_outlook_header(lines: list[str], index: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()]
    return sum(1 for line in following[:4] if _OUTLOOK_NEXT.match(line)) >= 2


def _is_attribution(lines: list[str], index: int) -> bool:
    line = lines[index]
    if len(line) > 400:
        return False
    if _ATTRIBUTION_ONE_LINE.match(line):
        return True
    # Clients wrap a long attribution: "On Mon, 1 Jan 2024 at 10:00, Ivan <ivan@\nexample.ru> wrote:".
    if index + 1 < len(lines) and line.strip():
        joined = line.rstrip() + " " + lines[index + 1].strip()
        if joined.lower().lstrip().startswith(("on ", "am ")) and _ATTRIBUTION_ONE_LINE.match(joined):
            return True
    if _UNDERSCORES.match(line) and index + 1 < len(lines):
        return _is_outlook_header(lines, index + 1)
    return _is_outlook_header(lines, index)


def _quote_start(lines: list[str]) -> int | None:
    for index in range(len(lines)):
        if _is_attribution(lines, index):
            return index
    return None


def strip_text_quotes(text: str) -> str:
    """The new text of a reply: history after the first attribution line and ``>`` lines removed."""
    lines = text.split("\n")
    start = _quote_start(lines)
    kept = lines if start is None else lines[:start]
    kept = [line for line in kept if not line.lstrip().startswith(">")]
    result = _BLANKS.sub("\n\n", "\n".join(kept)).strip()
    return result if result else text.strip()
