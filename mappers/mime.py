"""Defensive MIME helpers shared by the e-mail parser and the auto-reply classifier.

The stdlib parser accepts nearly anything, but walking and decoding what it built can still fail:
``Message.walk`` recurses (deep nesting meets the recursion limit), and payload decoding, parameter
parsing and re-serialising a ``message/rfc822`` part raise a zoo of exceptions on broken input. The
helpers here walk iteratively with depth and count limits and turn every such failure into "no value".
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from email import errors as email_errors
from email.message import Message

# What stdlib e-mail code raises on hostile input; caught at each call into it, nowhere else.
STDLIB_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    LookupError,
    TypeError,
    IndexError,
    AttributeError,
    AssertionError,
    UnicodeError,
    binascii.Error,
    RecursionError,
    email_errors.MessageError,
)
_BIG_PAYLOAD = 64 * 1024  # characters of a part's body from which base64 is decoded in one pass
_MSGID = re.compile(r"<([^<>]{1,990})>")
_BARE_MSGID = re.compile(r"[^\s<>@]{1,900}@[^\s<>@]{1,255}")
# Whitespace (folding) and control characters: neither belongs in a Message-ID, and a NUL in a key
# would be refused by PostgreSQL's text columns.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]+")


def iter_parts(msg: Message, *, max_depth: int, max_parts: int) -> Iterator[tuple[Message, int]]:
    """Every part with its depth, depth-first in document order; stops at the limits, never recurses."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < max_parts:
        part, depth = stack.pop()
        seen += 1
        yield part, depth
        children = children_of(part)
        if children and depth < max_depth:
            stack.extend((child, depth + 1) for child in reversed(children))


def children_of(part: Message) -> list[Message]:
    """The sub-parts of a multipart, or [] for a leaf, a broken multipart or a message/* part.

    The stdlib parses message/rfc822 and message/delivery-status into sub-messages too; those are
    content of their own (an attached mail, DSN fields), never parts of this message's body.
    """
    try:
        if not part.is_multipart() or part.get_content_maintype() == "message":
            return []
        payload = part.get_payload()
    except STDLIB_ERRORS:
        return []
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def content_type(part: Message) -> str:
    """The part's content type, lowercased; text/plain when missing or invalid (RFC 2045 section 5.2)."""
    try:
        return part.get_content_type()
    except STDLIB_ERRORS:
        return "text/plain"


def param(part: Message, name: str, header: str = "content-type") -> str | None:
    """A header parameter as text (RFC 2231 continuations joined), or None."""
    try:
        value = part.get_param(name, header=header)
    except STDLIB_ERRORS:
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        try:
            from email.utils import collapse_rfc2231_value

            return collapse_rfc2231_value(value)
        except STDLIB_ERRORS:
            return str(value[2])
    return str(value)


def payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part (base64, quoted-printable, uuencode); b"" when undecodable."""
    try:
        big = _big_base64(part)
        if big is not None:
            return big
        data = part.get_payload(decode=True)
    except STDLIB_ERRORS:
        return b""
    return data if isinstance(data, bytes) else b""


def _big_base64(part: Message) -> bytes | None:
    """A large base64 body decoded in one pass, or None to leave it to the stdlib.

    The stdlib splits the body into lines and joins them again before decoding: for an 18 MB file that
    peaked at 111 MB and took 0.4 s; ``a2b_base64`` skips the line breaks itself (40 MB, 0.04 s). From
    64 K characters on, so a typical 200 KB attachment does not cost a web worker 1.2 MB either.
    Bodies it refuses (broken padding) go the stdlib's way, which repairs what it can, and so do bodies
    with stray 8-bit bytes: ``get_payload()`` hands those back with U+FFFD in place of the bytes.
    """
    payload = part.get_payload()
    if not isinstance(payload, str) or len(payload) < _BIG_PAYLOAD or not payload.isascii():
        return None
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() != "base64":
        return None
    try:
        return binascii.a2b_base64(payload.encode("ascii"))
    except binascii.Error:
        return None


def embedded_message(part: Message) -> Message | None:
    """The message inside a ``message/rfc822`` part, if the parser built one."""
    try:
        payload = part.get_payload()
    except STDLIB_ERRORS:
        return None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def message_bytes(msg: Message) -> bytes:
    """A parsed message serialised back to bytes, 8-bit content preserved; b"" when that fails."""
    try:
        return msg.as_bytes()
    except STDLIB_ERRORS:
        try:
            return str(msg).encode("utf-8", "surrogateescape")
        except STDLIB_ERRORS:
            return b""


def normalize_msgid(value: str | None) -> str | None:
    """The first Message-ID in a header value, as "<id>" without whitespace; None when there is none."""
    if not value:
        return None
    compact = _SPACE_OR_CONTROL.sub("", value)
    found = _MSGID.search(compact)
    if found:
        return f"<{found.group(1)}>"
    bare = _BARE_MSGID.search(compact)
    if bare:
        return f"<{bare.group(0)}>"
    if compact and len(compact) <= 990 and "<" not in compact and ">" not in compact:
        return f"<{compact}>"
    return None


def msgid_list(value: str | None, limit: int = 100) -> list[str]:
    """All Message-IDs in an In-Reply-To or References value (RFC 5322 section 3.6.4), in order."""
    if not value:
        return []
    ids: list[str] = []
    for found in _MSGID.finditer(value):
        msgid = "<" + _SPACE_OR_CONTROL.sub("", found.group(1)) + ">"
        if msgid != "<>" and msgid not in ids:
            ids.append(msgid)
        if len(ids) >= limit:
            break
    if not ids:
        bare = normalize_msgid(value) if "@" in value else None
        ids = [bare] if bare else []
    return ids
