"""Raw RFC 5322 mail to an :class:`InboundMessage`: the e-mail channel's pure parser.

``POST /hooks/email`` and the IMAP poll hand the raw bytes here. The parser is lenient (real customer
mail is full of lying charsets, broken MIME and junk headers) and bounded (depth, part, attachment, HTML
and text limits, see :class:`EmailLimits`): over a structural limit it keeps what it has and says so in
``notes``. It raises only :class:`AnomalousPayload` for input that is not mail at all, and
:class:`PayloadTooLarge` over ``max_bytes``.

The stdlib parser runs with ``compat32``: it keeps header bytes as they came (surrogate-escaped), so
``mappers.charsets`` can detect undeclared 8-bit charsets, which ``policy.default`` turns into U+FFFD.
Threading by In-Reply-To/References is the worker's job; the conversation key here is the mail's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses

from mappers.autoreply import bounce_details, classify
from mappers.charsets import (
    as_raw_bytes,
    decode_bytes,
    decode_encoded_words,
    header_text,
    raw_header_values,
    unfold,
)
from mappers.errors import AnomalousPayload, PayloadTooLarge
from mappers.html_text import html_to_text
from mappers.mime import (
    STDLIB_ERRORS,
    children_of,
    content_type,
    embedded_message,
    message_bytes,
    msgid_list,
    normalize_msgid,
    param,
    payload_bytes,
)
from mappers.models import Attachment, Channel, EmailMeta, InboundMessage, MessageKind, Sender
from mappers.quotes import cut_html_quote, strip_text_quotes
from mappers.subjects import is_forward


@dataclass(frozen=True)
class EmailLimits:
    """Bounds on the work one mail may cause; beyond the structural ones the parser degrades."""

    max_bytes: int = 40 * 1024 * 1024  # over this: PayloadTooLarge (the route's own limit is lower)
    max_depth: int = 20  # MIME nesting levels walked
    max_parts: int = 500  # MIME parts walked
    max_attachments: int = 50
    max_header_chars: int = 16_384  # per decoded header value kept (subject, names)
    max_addresses: int = 100  # per To / Cc
    max_references: int = 100
    max_html_chars: int = 1_000_000  # HTML converted to text
    max_html_links: int = 5_000  # above this the text keeps link texts but no URLs (as Zammad)
    max_text_chars: int = 100_000  # text kept


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
_BODY_TYPES = ("text/plain", "text/html")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}$")
_SPACES = re.compile(r"\s+")
_BLANKS = re.compile(r"\n{3,}")
_FIELD = re.compile(rb"^[!-9;-~]{1,200}:")  # RFC 5322 section 3.6.8: ftext then a colon
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MAX_HEADER_SCAN = 4 * 1024 * 1024
_ENCODED_WORD = re.compile(r"=\?[\x21-\x3e\x40-\x7e]+\?[bBqQ]\?[\t\x20-\x3e\x40-\x7e]*?\?=")
_COMMENT = re.compile(r"\([^()]*\)")
_EMAIL_TOKEN = re.compile(r"[^\s<>\"(),;:]+@[^\s<>\"(),;:]+")


@dataclass
class _Walk:
    """What the MIME walk collects."""

    texts: list[tuple[str, str]]
    attachments: list[Attachment]
    notes: list[str]
    charset_hint: str | None = None  # the top-level charset, for raw 8-bit filenames
    dropped_attachments: int = 0


def parse_email(
    raw: bytes, *, received_at: dt.datetime, own_domain: str, limits: EmailLimits = EmailLimits()
) -> InboundMessage:
    """Parse one raw mail. Raises AnomalousPayload for non-mail, PayloadTooLarge over ``max_bytes``."""
    if len(raw) > limits.max_bytes:
        raise PayloadTooLarge(f"mail is {len(raw)} bytes, over {limits.max_bytes}")
    msg, notes = _parse(_repair_header_block(raw))
    message_id = normalize_msgid(header_text(msg, "Message-ID", 2_000))
    external_id = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    subject = _clean_line(header_text(msg, "Subject", limits.max_header_chars))
    sender = _sender(msg, limits)
    kind, reason = classify(msg, own_domain=own_domain, subject=subject, from_email=sender.email or "")
    walk = _walk(msg, limits, notes, body_wanted=not notes)
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=external_id,
        conversation_key="email:" + external_id,
        kind=kind,
        sender=sender,
        subject=subject,
        text=_compose_text(walk.texts, limits, walk.notes, keep_quotes=is_forward(subject)),
        attachments=walk.attachments,
        received_at=received_at,
        email=_meta(msg, message_id, kind, limits),
        auto_reason=reason,
        notes=walk.notes,
    )


def _repair_header_block(raw: bytes) -> bytes:
    """Mend the header block the way lenient MTAs read it, before the strict stdlib parser sees it.

    Lines before the first header field (an mbox "From " line, "---- Original email message ----")
    are dropped; a line inside the block that is neither a field nor indented (a folded value that lost
    its indentation) becomes a continuation line, when more fields follow it (RFC 5322 section 2.2).
    """
    end = _HEADER_END.search(raw, 0, _MAX_HEADER_SCAN)
    block_end = end.start() if end else min(len(raw), _MAX_HEADER_SCAN)
    lines = raw[:block_end].splitlines(keepends=True)
    field_indexes = [index for index, line in enumerate(lines) if _FIELD.match(line)]
    if not field_indexes or (field_indexes[0] == 0 and _is_clean(lines, field_indexes)):
        return raw
    first, last = field_indexes[0], field_indexes[-1]
    mended = [
        line if index > last or _FIELD.match(line) or line[:1] in (b" ", b"\t") else b" " + line
        for index, line in enumerate(lines[first:], start=first)
    ]
    return b"".join(mended) + raw[block_end:]


def _is_clean(lines: list[bytes], field_indexes: list[int]) -> bool:
    fields = set(field_indexes)
    return all(
        index in fields or line[:1] in (b" ", b"\t") for index, line in enumerate(lines[: field_indexes[-1]])
    )


def _parse(raw: bytes) -> tuple[Message, list[str]]:
    """The parsed message, and a note when only its headers could be parsed."""
    if not raw.strip():
        raise AnomalousPayload("not an e-mail: empty input")
    notes: list[str] = []
    try:
        msg = BytesParser(policy=compat32).parsebytes(raw)
    except STDLIB_ERRORS:  # RecursionError on ~1,000 nested multiparts, among others
        notes.append("MIME structure could not be parsed; only the headers were read")
        try:
            msg = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
        except STDLIB_ERRORS as exc:
            raise AnomalousPayload("not an e-mail: unparseable", {"error": type(exc).__name__}) from None
    if not _has_headers(msg):
        raise AnomalousPayload("not an e-mail: no header fields")
    return msg, notes


def _has_headers(msg: Message) -> bool:
    try:
        return len(msg.keys()) > 0
    except STDLIB_ERRORS:
        return False


def _clean_line(text: str) -> str:
    """One header line for display: no control characters, whitespace collapsed."""
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()


# --- addresses ----------------------------------------------------------------------------------------


def _normalize_address(address: str) -> str:
    """The address with its domain lowercased (the local part is case-sensitive, RFC 5321 2.4)."""
    address = _CONTROL.sub("", address).strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def _split_loose(name: str, address: str) -> tuple[str, str]:
    """Repair "Test test@example.com" (no angle brackets): the token with "@" is the address."""
    if not _SPACES.search(address) or address.startswith('"'):  # a quoted local part may hold spaces
        return name, address
    tokens = address.split()
    found = [token for token in tokens if "@" in token]
    if not found:
        return name, address
    rest = " ".join(token for token in tokens if token != found[-1])
    return (name or rest), found[-1]


def _addresses(raw: bytes, limit: int) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header; encoded words decoded in names only.

    RFC 2047 section 5: an encoded word must not appear in an addr-spec, so an address such as
    ``=?utf-8?Q?agent?=@example.com`` is kept as written, never decoded into something else.
    """
    text, words = _shield_encoded_words(unfold(decode_bytes(raw[:100_000])))
    try:
        pairs = getaddresses([text])
    except STDLIB_ERRORS:
        pairs = [("", token) for token in _EMAIL_TOKEN.findall(text)]
    result: list[tuple[str, str]] = []
    for name, address in pairs[:limit]:
        name, address = _split_loose(_unshield(name, words), _unshield(address, words))
        if address:
            result.append((_display_name(name), _normalize_address(address)[:500]))
    return result


def _display_name(name: str) -> str:
    """A decoded display name without RFC 5322 comments, unless the comment is all there is."""
    text = _clean_line(decode_encoded_words(name))
    without_comments = _clean_line(_COMMENT.sub(" ", text))
    return (without_comments or text)[:500]


def _shield_encoded_words(text: str) -> tuple[str, list[str]]:
    """Replace encoded words by plain atoms, so a comma inside one does not split the address list."""
    words: list[str] = []

    def shield(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return f"ENCODEDWORD{len(words) - 1}X"

    return _ENCODED_WORD.sub(shield, text), words


def _unshield(text: str, words: list[str]) -> str:
    if not words:
        return text
    return re.sub(r"ENCODEDWORD(\d+)X", lambda match: words[int(match.group(1))], text)


def _emails(msg: Message, header: str, limits: EmailLimits) -> list[str]:
    found: list[str] = []
    for raw in raw_header_values(msg, header):
        for _name, address in _addresses(raw, limits.max_addresses):
            if "@" in address and address not in found and len(found) < limits.max_addresses:
                found.append(address)
    return found


def _language(msg: Message) -> str | None:
    value = header_text(msg, "Content-Language", 200).split(",")[0].strip()
    return value if _LANGUAGE.match(value) else None


def _sender(msg: Message, limits: EmailLimits) -> Sender:
    """The author: the first From (else Sender) address with an "@"; a bare name when there is none."""
    language = _language(msg)
    fallback_name = ""
    for header in ("From", "Sender"):
        for raw in raw_header_values(msg, header):
            for name, address in _addresses(raw, 10):
                if "@" in address:
                    return Sender(name=name, email=address, language=language)
                fallback_name = fallback_name or name or address
    if not fallback_name:
        fallback_name = _clean_line(header_text(msg, "From", 500))
    return Sender(name=fallback_name[: limits.max_header_chars], language=language)


def _meta(msg: Message, message_id: str | None, kind: MessageKind, limits: EmailLimits) -> EmailMeta:
    reply_to = _emails(msg, "Reply-To", limits)
    bounce = bounce_details(msg) if kind is MessageKind.BOUNCE else None
    return EmailMeta(
        message_id=message_id,
        in_reply_to=msgid_list(header_text(msg, "In-Reply-To", 20_000), limits.max_references),
        references=msgid_list(header_text(msg, "References", 100_000), limits.max_references),
        to=_emails(msg, "To", limits),
        cc=_emails(msg, "Cc", limits),
        reply_to=reply_to[0] if reply_to else None,
        bounced_message_id=bounce.message_id if bounce else None,
        bounce_status=bounce.status if bounce else None,
        bounce_recipient=bounce.recipient if bounce else None,
    )


# --- the MIME walk --------------------------------------------------------------------------------------


def _walk(msg: Message, limits: EmailLimits, notes: list[str], *, body_wanted: bool) -> _Walk:
    """Collect body texts and attachments, depth-first in document order, within the limits."""
    walk = _Walk(texts=[], attachments=[], notes=notes, charset_hint=param(msg, "charset"))
    stack: list[tuple[Message, int, bool]] = [(msg, 0, body_wanted)]
    seen = 0
    too_deep = False
    while stack:
        part, depth, body_ok = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            walk.notes.append(f"MIME parts over the limit of {limits.max_parts}: the rest was ignored")
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


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except STDLIB_ERRORS:
        disposition = ""
    return disposition == "attachment" or _filename(part) is not None


def _take_leaf(part: Message, body_ok: bool, walk: _Walk, limits: EmailLimits) -> None:
    ctype = content_type(part)
    if ctype.startswith("multipart/"):
        ctype = "text/plain"  # a multipart whose boundary never appears: its payload is its text
    if ctype in _BODY_TYPES and not _is_attachment(part):
        if body_ok:
            walk.texts.append((ctype, _leaf_text(part, ctype, limits)))
        return
    if len(walk.attachments) >= limits.max_attachments:
        walk.dropped_attachments += 1
        return
    walk.attachments.append(_attachment(part, ctype, len(walk.attachments) + 1, walk.charset_hint))


def _leaf_text(part: Message, ctype: str, limits: EmailLimits) -> str:
    """A body part's text: decoded by its charset, HTML converted, format=flowed joined."""
    cap = (limits.max_html_chars if ctype == "text/html" else limits.max_text_chars) * 4
    text = decode_bytes(payload_bytes(part)[:cap], param(part, "charset"))
    if ctype == "text/html":
        return _html_text(text, limits)
    if (param(part, "format") or "").lower() == "flowed":
        return _unflow(text, delsp=(param(part, "delsp") or "").lower() == "yes")
    return text


def _html_text(html: str, limits: EmailLimits) -> str:
    """HTML as text, cut at the client's quoted-history container unless nothing would be left."""
    options = {"max_chars": limits.max_html_chars, "max_links": limits.max_html_links}
    text = html_to_text(cut_html_quote(html), **options)
    return text if text.strip() else html_to_text(html, **options)


def _unflow(text: str, *, delsp: bool) -> str:
    """Join RFC 3676 soft line breaks (a line ending in a space continues on the next)."""
    out: list[str] = []
    pending = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.endswith(" ") and line != "-- ":
            pending += line[:-1] if delsp else line
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out)


def _compose_text(
    texts: list[tuple[str, str]], limits: EmailLimits, notes: list[str], *, keep_quotes: bool
) -> str:
    """The body parts joined in order, quoted history removed (not from a forward), cleaned, capped."""
    joined = "\n\n".join(text for _ctype, text in texts if text.strip())
    joined = _CONTROL.sub("", joined.replace("\r\n", "\n").replace("\r", "\n"))
    joined = "\n".join(line.rstrip() for line in joined.split("\n"))
    text = _BLANKS.sub("\n\n", joined if keep_quotes else strip_text_quotes(joined)).strip()
    if len(text) > limits.max_text_chars:
        notes.append(f"text truncated to {limits.max_text_chars} characters")
        text = text[: limits.max_text_chars]
    return text


# --- attachments ----------------------------------------------------------------------------------------


def _attachment(part: Message, ctype: str, index: int, hint: str | None) -> Attachment:
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
    name = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    name = unicodedata.normalize("NFC", _SPACES.sub(" ", name))
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
        subject = _clean_line(header_text(inner, "Subject", 150)) if inner is not None else ""
        named = _safe_filename(subject + ".eml") if subject else None
        if named:
            return named
    described = _safe_filename(_clean_line(header_text(part, "Content-Description", 150)))
    if described:  # RFC 2045 section 8: a description, e.g. "Delivery report"
        return described if "." in described[-6:] else described + _extension(ctype)
    if ctype == "message/delivery-status":
        return "delivery-status.txt"
    if ctype == "text/rfc822-headers":
        return "rfc822-headers.txt"
    return f"attachment-{index}{_extension(ctype)}"


def _extension(ctype: str) -> str:
    return _EXTENSIONS.get(ctype, ".txt" if ctype.startswith(("text/", "message/")) else ".bin")
