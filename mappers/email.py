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

from mappers.autoreply import classify
from mappers.charsets import header_text
from mappers.errors import PayloadTooLarge
from mappers.mail_body import compose_text, walk_parts
from mappers.mail_headers import clean_line, read_meta, read_sender
from mappers.mail_limits import EmailLimits
from mappers.mail_raw import bound_structure, parse_message, repair_header_block
from mappers.mime import normalize_msgid
from mappers.models import Channel, InboundMessage
from mappers.subjects import is_forward

__all__ = ["EmailLimits", "parse_email"]

_DEFAULT_LIMITS = EmailLimits()


def parse_email(
    raw: bytes, *, received_at: dt.datetime, own_domain: str, limits: EmailLimits = _DEFAULT_LIMITS
) -> InboundMessage:
    """Parse one raw mail. Raises AnomalousPayload for non-mail, PayloadTooLarge over ``max_bytes``."""
    if len(raw) > limits.max_bytes:
        raise PayloadTooLarge(f"mail is {len(raw)} bytes, over {limits.max_bytes}")
    bounded, limit_notes = bound_structure(raw, limits)
    msg, notes = parse_message(repair_header_block(bounded))
    message_id = normalize_msgid(header_text(msg, "Message-ID", 2_000))
    external_id = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    subject = clean_line(header_text(msg, "Subject", limits.max_header_chars))
    sender = read_sender(msg, limits)
    kind, reason = classify(msg, own_domain=own_domain, subject=subject, from_email=sender.email or "")
    walk = walk_parts(msg, limits, notes, body_wanted=not notes)
    text = compose_text(walk.texts, limits, walk.notes, keep_quotes=is_forward(subject))
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=external_id,
        conversation_key="email:" + external_id,
        kind=kind,
        sender=sender,
        subject=subject,
        text=text,
        attachments=walk.attachments,
        received_at=received_at,
        email=read_meta(msg, message_id, kind, limits),
        auto_reason=reason,
        notes=[*limit_notes, *(note for note in walk.notes if note not in limit_notes)],
    )
