"""The header fields of a mail the hub reads: the sender, the addresses, the threading ids.

Addresses are read leniently (names without angle brackets, encoded words with commas) and bounded.
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import getaddresses

from mappers.autoreply import bounce_details
from mappers.charsets import (
    decode_bytes,
    decode_encoded_words,
    header_text,
    raw_header_values,
    unfold,
)
from mappers.mail_limits import EmailLimits
from mappers.mime import (
    STDLIB_ERRORS,
    msgid_list,
)
from mappers.models import EmailMeta, MessageKind, Sender

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SPACES = re.compile(r"\s+")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}$")
_ENCODED_WORD = re.compile(r"=\?[\x21-\x3e\x40-\x7e]+\?[bBqQ]\?[\t\x20-\x3e\x40-\x7e]*?\?=")
_COMMENT = re.compile(r"\([^()]*\)")
_EMAIL_TOKEN = re.compile(r"[^\s<>\"(),;:]+@[^\s<>\"(),;:]+")


def clean_line(text: str) -> str:
    """One header line for display: no control characters, whitespace collapsed."""
    return SPACES.sub(" ", CONTROL.sub("", text)).strip()


def read_sender(msg: Message, limits: EmailLimits) -> Sender:
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
        fallback_name = clean_line(header_text(msg, "From", 500))
    return Sender(name=fallback_name[: limits.max_header_chars], language=language)


def read_meta(msg: Message, message_id: str | None, kind: MessageKind, limits: EmailLimits) -> EmailMeta:
    reply_to = _emails(msg, "Reply-To", limits.max_addresses)
    bounce = bounce_details(msg) if kind is MessageKind.BOUNCE else None
    return EmailMeta(
        message_id=message_id,
        in_reply_to=msgid_list(header_text(msg, "In-Reply-To", 20_000), limits.max_references),
        references=msgid_list(header_text(msg, "References", 100_000), limits.max_references),
        to=_emails(msg, "To", limits.max_addresses),
        cc=_emails(msg, "Cc", limits.max_addresses),
        delivered_to=_emails(msg, "Delivered-To", limits.max_delivered_to),
        reply_to=reply_to[0] if reply_to else None,
        bounced_message_id=bounce.message_id if bounce else None,
        bounce_status=bounce.status if bounce else None,
        bounce_recipient=bounce.recipient if bounce else None,
    )


def _language(msg: Message) -> str | None:
    value = header_text(msg, "Content-Language", 200).split(",")[0].strip()
    return value if _LANGUAGE.match(value) else None


def _emails(msg: Message, header: str, limit: int) -> list[str]:
    """The distinct addresses of every ``header`` field, at most ``limit``."""
    found: list[str] = []
    for raw in raw_header_values(msg, header):
        for _name, address in _addresses(raw, limit):
            if len(found) >= limit:
                return found
            if "@" in address and address not in found:
                found.append(address)
    return found


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


def _normalize_address(address: str) -> str:
    """The address with its domain lowercased (the local part is case-sensitive, RFC 5321 2.4)."""
    address = CONTROL.sub("", address).strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def _split_loose(name: str, address: str) -> tuple[str, str]:
    """Repair "Test test@example.com" (no angle brackets): the token with "@" is the address."""
    if not SPACES.search(address) or address.startswith('"'):  # a quoted local part may hold spaces
        return name, address
    tokens = address.split()
    found = [token for token in tokens if "@" in token]
    if not found:
        return name, address
    rest = " ".join(token for token in tokens if token != found[-1])
    return (name or rest), found[-1]


def _display_name(name: str) -> str:
    """A decoded display name without RFC 5322 comments, unless the comment is all there is."""
    text = clean_line(decode_encoded_words(name))
    without_comments = clean_line(_COMMENT.sub(" ", text))
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
