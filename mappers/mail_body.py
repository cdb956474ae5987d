"""The MIME walk: a mail's body text (one alternative, HTML as text, quotes cut) and its attachment parts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from mappers.charsets import decode_bytes
from mappers.flowed import decode_flowed
from mappers.html_text import html_to_text
from mappers.mail_files import is_attachment, make_attachment
from mappers.mail_headers import CONTROL
from mappers.mail_limits import EmailLimits
from mappers.mail_raw import parts_note
from mappers.mime import (
    children_of,
    content_type,
    param,
    payload_bytes,
)
from mappers.models import Attachment
from mappers.quotes import cut_html_quote, strip_text_quotes

_BODY_TYPES = ("text/plain", "text/html")
_BLANKS = re.compile(r"\n{3,}")


@dataclass
class _Walk:
    """What the MIME walk collects."""

    texts: list[tuple[str, str]]
    attachments: list[Attachment]
    notes: list[str]
    charset_hint: str | None = None  # the top-level charset, for raw 8-bit filenames
    dropped_attachments: int = 0


def walk_parts(msg: Message, limits: EmailLimits, notes: list[str], *, body_wanted: bool) -> _Walk:
    """Collect body texts and attachments, depth-first in document order, within the limits."""
    walk = _Walk(texts=[], attachments=[], notes=notes, charset_hint=param(msg, "charset"))
    stack: list[tuple[Message, int, bool]] = [(msg, 0, body_wanted)]
    seen = 0
    too_deep = False
    while stack:
        part, depth, body_ok = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            walk.notes.append(parts_note(limits.max_parts))
            break
        children = children_of(part)
        if children:
            if depth >= limits.max_depth:
                too_deep = True
                continue
            flags = _body_flags(part, children, body_ok, limits)
            stack.extend(
                (child, depth + 1, flag) for child, flag in reversed(list(zip(children, flags, strict=True)))
            )
            continue
        _take_leaf(part, body_ok, walk, limits)
    if too_deep:
        walk.notes.append(f"MIME nesting deeper than {limits.max_depth} levels was ignored")
    if walk.dropped_attachments:
        walk.notes.append(
            f"attachments over the limit of {limits.max_attachments}: {walk.dropped_attachments} dropped"
        )
    return walk


def _body_flags(part: Message, children: list[Message], body_ok: bool, limits: EmailLimits) -> list[bool]:
    """Which children may hold body text: one alternative of a multipart/alternative, else all."""
    if content_type(part) != "multipart/alternative":
        return [body_ok] * len(children)
    chosen = _pick_alternative(children, limits)
    return [body_ok and index == chosen for index in range(len(children))]


def _pick_alternative(children: list[Message], limits: EmailLimits) -> int:
    """Prefer a non-empty text/plain, then a rich multipart (related html), then html, then the last."""
    kinds = [content_type(child) for child in children]
    for index, child in enumerate(children):
        if kinds[index] == "text/plain" and _leaf_text(child, "text/plain", limits).strip():
            return index
    for wanted in ("multipart/", "text/html"):
        for index, kind in enumerate(kinds):
            if kind.startswith(wanted):
                return index
    return len(children) - 1


def _take_leaf(part: Message, body_ok: bool, walk: _Walk, limits: EmailLimits) -> None:
    ctype = content_type(part)
    if ctype.startswith("multipart/"):
        ctype = "text/plain"  # a multipart whose boundary never appears: its payload is its text
    if ctype in _BODY_TYPES and not is_attachment(part):
        if body_ok:
            walk.texts.append((ctype, _leaf_text(part, ctype, limits)))
        return
    if len(walk.attachments) >= limits.max_attachments:
        walk.dropped_attachments += 1
        return
    walk.attachments.append(make_attachment(part, ctype, len(walk.attachments) + 1, walk.charset_hint))


def _leaf_text(part: Message, ctype: str, limits: EmailLimits) -> str:
    """A body part's text: decoded by its charset, HTML converted, format=flowed joined."""
    cap = (limits.max_html_chars if ctype == "text/html" else limits.max_text_chars) * 4
    text = decode_bytes(payload_bytes(part)[:cap], param(part, "charset"))
    if ctype == "text/html":
        return _html_text(text, limits)
    if (param(part, "format") or "").lower() == "flowed":
        return decode_flowed(text, delsp=(param(part, "delsp") or "").lower() == "yes")
    return text


def _html_text(html: str, limits: EmailLimits) -> str:
    """HTML as text, cut at the client's quoted-history container unless nothing would be left."""
    options = {"max_chars": limits.max_html_chars, "max_links": limits.max_html_links}
    text = html_to_text(cut_html_quote(html), **options)
    return text if text.strip() else html_to_text(html, **options)


def compose_text(
    texts: list[tuple[str, str]], limits: EmailLimits, notes: list[str], *, keep_quotes: bool
) -> str:
    """The body parts joined in order, quoted history removed (not from a forward), cleaned, capped."""
    joined = "\n\n".join(text for _ctype, text in texts if text.strip())
    joined = CONTROL.sub("", joined.replace("\r\n", "\n").replace("\r", "\n"))
    joined = "\n".join(line.rstrip() for line in joined.split("\n"))
    text = _BLANKS.sub("\n\n", joined if keep_quotes else strip_text_quotes(joined)).strip()
    if len(text) > limits.max_text_chars:
        notes.append(f"text truncated to {limits.max_text_chars} characters")
        text = text[: limits.max_text_chars]
    return text
