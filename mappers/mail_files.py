"""A mail's attachment parts as :class:`Attachment` values: their bytes and a safe, readable filename."""

from __future__ import annotations

import re
import unicodedata
from email.message import Message

from mappers.charsets import (
    as_raw_bytes,
    decode_bytes,
    decode_encoded_words,
    header_text,
    raw_header_values,
    unfold,
)
from mappers.mail_headers import CONTROL, SPACES, clean_line
from mappers.mime import (
    STDLIB_ERRORS,
    embedded_message,
    message_bytes,
    param,
    payload_bytes,
)
from mappers.models import Attachment

_EXTENSIONS = {
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "message/rfc822": ".eml",
}


def is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except STDLIB_ERRORS:
        disposition = ""
    return disposition == "attachment" or _filename(part) is not None


def make_attachment(part: Message, ctype: str, index: int, hint: str | None) -> Attachment:
    data = _part_bytes(part)
    name = _filename(part, param(part, "charset") or hint) or _generated_name(part, ctype, index)
    return Attachment(filename=name, content_type=ctype, size=len(data), data=data)


def _part_bytes(part: Message) -> bytes:
    """A leaf's decoded bytes; for message/* parts, the embedded message(s) serialised again."""
    try:
        payload = part.get_payload()
    except STDLIB_ERRORS:
        return b""
    if isinstance(payload, list):
        return b"".join(message_bytes(item) for item in payload if isinstance(item, Message))
    return payload_bytes(part)


def _filename(part: Message, hint: str | None = None) -> str | None:
    """The part's filename: RFC 2231 parameters, RFC 2047 words inside quotes, or raw 8-bit."""
    try:
        name = part.get_filename()
    except STDLIB_ERRORS:
        return None
    if name is None:
        return None
    if "\ufffd" in name:
        name = _raw_filename(part, hint) or name
    text = decode_encoded_words(unfold(decode_bytes(as_raw_bytes(name))))
    return _safe_filename(text)


def _raw_filename(part: Message, hint: str | None) -> str | None:
    """A filename given as raw 8-bit bytes, read from the header bytes and decoded by detection."""
    pattern = re.compile(rb"""\b(?:file)?name\s*=\s*(?:"([^"]*)"|([^\s;]+))""", re.IGNORECASE)
    for header in ("Content-Disposition", "Content-Type"):
        for raw in raw_header_values(part, header):
            found = pattern.search(raw)
            if found:
                return decode_bytes(found.group(1) or found.group(2) or b"", hint)
    return None


def _safe_filename(name: str) -> str | None:
    """A filename with no path, no control characters and at most 200 characters; None if empty."""
    name = CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    name = unicodedata.normalize("NFC", SPACES.sub(" ", name))
    if name in ("", ".", ".."):
        return None
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else name[:200]
    return name


def _generated_name(part: Message, ctype: str, index: int) -> str:
    """A name for a part that has none: an attached mail's subject, its description, its type."""
    if ctype == "message/rfc822":
        inner = embedded_message(part)
        subject = clean_line(header_text(inner, "Subject", 150)) if inner is not None else ""
        named = _safe_filename(subject + ".eml") if subject else None
        if named:
            return named
    described = _safe_filename(clean_line(header_text(part, "Content-Description", 150)))
    if described:  # RFC 2045 section 8: a description, e.g. "Delivery report"
        return described if "." in described[-6:] else described + _extension(ctype)
    if ctype == "message/delivery-status":
        return "delivery-status.txt"
    if ctype == "text/rfc822-headers":
        return "rfc822-headers.txt"
    return f"attachment-{index}{_extension(ctype)}"


def _extension(ctype: str) -> str:
    return _EXTENSIONS.get(ctype, ".txt" if ctype.startswith(("text/", "message/")) else ".bin")
