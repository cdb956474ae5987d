"""A rule's ``when``: the conditions a message must meet, and the pure code that checks them.

The matcher sees a message as :class:`MessageFacts` (``InboundMessage.facts()`` builds them), so the
configuration needs nothing from the mappers. Every condition takes one value or a list and holds when
the message has any of the values; all given conditions must hold, and an empty ``when`` matches
everything.

Comparisons are made as a person would read them: addresses and domains case-insensitively, domains
in their ASCII (punycode) form, so ``пример.рф`` and ``xn--e1afmkfd.xn--p1ai`` are the same domain;
keywords case-insensitively, as whole words (``\\w`` is Unicode, so Cyrillic words have boundaries
too), with "ё" read as "е" and any run of white space between the words of a phrase.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import idna
from pydantic import Field, ValidationInfo, field_validator

from config.base import Strict

MAX_KEYWORDS = 200
MAX_KEYWORD_CHARS = 100


@dataclass(frozen=True)
class MessageFacts:
    """What a ``when`` can look at in a message.

    ``sender`` is the sender's e-mail address (mail and forms); ``recipients`` the addresses the mail
    reached (To, Cc, Delivered-To), or the form's name for a form; ``telegram_bot`` the id of the bot
    the update came through (the number before the colon in its token).
    """

    channel: str
    category: str | None = None
    form: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    telegram_chat: int | None = None
    telegram_bot: int | None = None
    subject: str = ""
    text: str = ""

    @functools.cached_property
    def words(self) -> tuple[str, ...]:
        """The subject and the text as keywords are matched in (computed once per message)."""
        return tuple(plain_words(part) for part in (self.subject, self.text) if part)


@runtime_checkable
class HasFacts(Protocol):
    """A message that can describe itself to the matcher (``mappers.models.InboundMessage``)."""

    def facts(self) -> MessageFacts:
        """The message as the matcher sees it."""
        ...


def ascii_domain(domain: str) -> str:
    """A domain lowercased and in its ASCII (IDNA 2008, UTS #46) form; as written when it is no IDN."""
    domain = domain.strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def address_key(address: str) -> str:
    """An e-mail address as compared: case-insensitive, its domain in ASCII form."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    return f"{local.casefold()}@{ascii_domain(domain)}" if at else address.strip().casefold()


def domain_of(address: str) -> str:
    """The ASCII domain of an address ("" when it has none)."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    return ascii_domain(domain) if at and local else ""


def plain_words(text: str) -> str:
    """Text as keywords are matched in: composed (NFC), with "ё" read as "е"."""
    return unicodedata.normalize("NFC", text).replace("ё", "е").replace("Ё", "Е")


@functools.lru_cache(maxsize=512)
def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive pattern finding any of ``keywords`` as whole words."""
    phrases = sorted({plain_words(k) for k in keywords}, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(re.escape(word) for word in phrase.split()) for phrase in phrases)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _is_domain(text: str) -> bool:
    return bool(text.strip()) and "@" not in text and not any(c.isspace() for c in text.strip())


# condition → (is the value valid, its normal form, what the error says)
_TEXT_CONDITIONS: dict[str, tuple[Callable[[str], bool], Callable[[str], str], str]] = {
    "sender": (lambda a: bool(domain_of(a)), address_key, "not e-mail addresses"),
    "sender_domain": (_is_domain, ascii_domain, "not domains (write client.example, without @)"),
    "recipient": (
        lambda r: bool(r.strip()) and ("@" not in r or bool(domain_of(r))),
        address_key,
        "not e-mail addresses or form names",
    ),
    "keywords": (
        lambda k: bool(k.strip()) and len(k) <= MAX_KEYWORD_CHARS,
        lambda k: " ".join(k.split()),
        f"keywords must be 1 to {MAX_KEYWORD_CHARS} characters",
    ),
}


class When(Strict):
    """Conditions a message must meet for a rule to apply; an empty ``when`` matches everything."""

    channel: tuple[Literal["telegram", "email", "form"], ...] = ()
    category: tuple[str, ...] = ()
    form: tuple[str, ...] = ()
    sender: tuple[str, ...] = ()
    sender_domain: tuple[str, ...] = ()
    recipient: tuple[str, ...] = ()
    telegram_chat: tuple[int, ...] = ()
    telegram_bot: tuple[int, ...] = ()
    keywords: tuple[str, ...] = Field(default=(), max_length=MAX_KEYWORDS)

    @field_validator("*", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return value if isinstance(value, list | tuple) else (value,)

    @field_validator("sender", "sender_domain", "recipient", "keywords")
    @classmethod
    def _normalized(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        valid, normalize, problem = _TEXT_CONDITIONS[str(info.field_name)]
        bad = [item for item in value if not valid(item)]
        if bad:
            raise ValueError(f"{problem}: {bad}")
        return tuple(normalize(item) for item in value)

    def matches(self, facts: MessageFacts) -> bool:
        """Whether the message meets every condition given."""
        return (
            _among(self.channel, facts.channel)
            and _among(self.category, facts.category)
            and _among(self.form, facts.form)
            and _among(self.sender, facts.sender and address_key(facts.sender))
            and _among(self.sender_domain, facts.sender and domain_of(facts.sender))
            and (not self.recipient or any(address_key(r) in self.recipient for r in facts.recipients))
            and _among(self.telegram_chat, facts.telegram_chat)
            and _among(self.telegram_bot, facts.telegram_bot)
            and (not self.keywords or _mentions(self.keywords, facts))
        )


def _among(wanted: tuple[Any, ...], value: Any) -> bool:
    return not wanted or (value is not None and value in wanted)


def _mentions(keywords: tuple[str, ...], facts: MessageFacts) -> bool:
    pattern = keyword_pattern(keywords)
    return any(pattern.search(part) for part in facts.words)
