"""Mark the quoted history in an HTML reply, before it is converted to text.

``mappers.html_text`` writes a ``<blockquote>`` as ``>`` lines, so the text pass in ``mappers.quotes``
treats HTML and plain replies alike. Here the containers mail clients wrap the history in become
``<blockquote>`` too, so the history goes (with the attribution inside the container) while text after
it, a bottom-posted reply, stays. Where each shape comes from (tests/fixtures/email/quotes/SOURCES.md):

- Gmail ``div.gmail_quote`` (attribution in ``div.gmail_attr`` inside), Yahoo ``div.yahoo_quoted``
  (the selectors Proton Mail's messageBlockquote.ts lists), Thunderbird's attribution
  ``div.moz-cite-prefix`` before its ``blockquote type="cite"``;
- Mail.ru web ``div.mail-quote-collapse`` around a bordered ``blockquote`` that holds the attribution
  and a ``div id="style_…_BODY"`` (the quoted mail's body, a container of its own when the
  blockquote is missing); Mail.ru's app ``div#composeWebView_previouse_content`` (an Odoo
  mail add-on's test table of live mail, pmk_mail_ui; mailgun/talon's html_replies/mail_ru.html);
- Yandex: a bare ``<blockquote>`` after a ``<p>``/``<div>`` holding the attribution (talon's
  html_replies/yandex_ru.html); that line is recognised by the text pass.

Gmail's indent button also makes a ``<blockquote>``, styled ``border:none``: that is the customer's own
text, so it becomes a ``<div>``. Outlook's history is not in a container: everything from
``divRplyFwdMsg``/``appendonsend`` (or Hotmail's ``hr#stopSpelling``) on is cut, as before.
"""

from __future__ import annotations

import re

_CUT_MARKERS = re.compile(
    r"""<div[^<>]{0,200}?id=["']?(?:divRplyFwdMsg|appendonsend)\b"""
    r"""|<hr[^<>]{0,200}?id=["']?stopSpelling\b""",
    re.IGNORECASE,
)
# ``[^<>]*`` stops at the next "<": a scan of many unclosed tags stays linear.
_TAG = re.compile(r"<(/?)(div|blockquote)\b([^<>]*)>", re.IGNORECASE)
_CONTAINER = re.compile(
    r"""\bclass\s*=\s*["']?[^"'<>]*?\b(?:gmail_quote|gmail_quote_container|yahoo_quoted|moz-cite-prefix"""
    r"""|mail-quote-collapse)"""
    r"""|\bid\s*=\s*["']?(?:composeWebView_previouse_content\b|style_\d+_BODY)""",
    re.IGNORECASE,
)
_INDENT = re.compile(r"""\bstyle\s*=\s*["'][^"']*\bborder\s*:\s*none""", re.IGNORECASE)


def _replacement(tag: str, closing: bool, attrs: str, stack: list[str | None]) -> str | None:
    """The tag to write instead (None: keep it), keeping ``stack`` of what each open tag became."""
    if closing:
        return stack.pop() if stack else None
    if tag == "div" and _CONTAINER.search(attrs):
        stack.append("</blockquote>")
        return "<blockquote>"
    if tag == "blockquote" and _INDENT.search(attrs) and not _CONTAINER.search(attrs):
        stack.append("</div>")
        return "<div>"
    stack.append(None)
    return None


def _mark_containers(html: str) -> str:
    """Rewrite history containers as ``<blockquote>`` and indent blockquotes as ``<div>``, in one pass."""
    stacks: dict[str, list[str | None]] = {"div": [], "blockquote": []}
    out: list[str] = []
    pos = 0
    for match in _TAG.finditer(html):
        tag = match.group(2).lower()
        replacement = _replacement(tag, bool(match.group(1)), match.group(3), stacks[tag])
        if replacement is not None:
            out.extend((html[pos : match.start()], replacement))
            pos = match.end()
    out.append(html[pos:])
    return "".join(out)


def cut_html_quote(html: str) -> str:
    """The HTML with Outlook's history cut and other clients' history containers as ``<blockquote>``."""
    match = _CUT_MARKERS.search(html)
    return _mark_containers(html if match is None else html[: match.start()])
