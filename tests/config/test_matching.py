"""A rule's ``when``: which messages each condition lets through (pure code, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from config.matching import MessageFacts, When, address_key, ascii_domain
from config.rules import HubConfig

MAIL = MessageFacts(
    channel="email",
    sender="Boss@Client.Example",
    recipients=("support@hub.example", "VIP@Support.Example"),
    subject="Outage since morning",
    text="Hello, the portal is down.",
)
FORM = MessageFacts(
    channel="form", category="bug", form="support", sender="ann@пример.рф", recipients=("support",)
)
CHAT = MessageFacts(channel="telegram", telegram_chat=-100123, telegram_bot=777, text="Принтер НЕ  работает!")


@pytest.mark.parametrize(
    ("when", "facts", "matches"),
    [
        ({}, MAIL, True),
        ({}, CHAT, True),
        ({"channel": "email"}, MAIL, True),
        ({"channel": ["telegram", "form"]}, MAIL, False),
        ({"category": "bug"}, FORM, True),
        ({"category": "bug"}, MAIL, False),
        ({"form": "support"}, FORM, True),
        ({"form": ["other"]}, FORM, False),
        # sender: exact address, case-insensitive
        ({"sender": "boss@client.example"}, MAIL, True),
        ({"sender": ["BOSS@CLIENT.EXAMPLE"]}, MAIL, True),
        ({"sender": "other@client.example"}, MAIL, False),
        ({"sender": "boss@client.example"}, CHAT, False),
        # sender domain: exact domain, case-insensitive, IDN as punycode either way
        ({"sender_domain": "client.example"}, MAIL, True),
        ({"sender_domain": "CLIENT.example."}, MAIL, True),
        ({"sender_domain": "example"}, MAIL, False),
        ({"sender_domain": "other.client.example"}, MAIL, False),
        ({"sender_domain": "xn--e1afmkfd.xn--p1ai"}, FORM, True),
        ({"sender_domain": "ПРИМЕР.РФ"}, FORM, True),
        ({"sender": "ann@xn--e1afmkfd.xn--p1ai"}, FORM, True),
        ({"sender_domain": "client.example"}, CHAT, False),
        # recipient: any address the mail reached; a form's name for a form
        ({"recipient": "vip@support.example"}, MAIL, True),
        ({"recipient": ["sales@hub.example", "SUPPORT@hub.example"]}, MAIL, True),
        ({"recipient": "sales@hub.example"}, MAIL, False),
        ({"recipient": "support"}, FORM, True),
        ({"recipient": "vip@support.example"}, FORM, False),
        ({"recipient": "vip@support.example"}, CHAT, False),
        # Telegram chat and bot
        ({"telegram_chat": -100123}, CHAT, True),
        ({"telegram_chat": ["-100123", 5]}, CHAT, True),
        ({"telegram_chat": [5]}, CHAT, False),
        ({"telegram_chat": -100123}, MAIL, False),
        ({"telegram_bot": 777}, CHAT, True),
        ({"telegram_bot": 778}, CHAT, False),
        ({"telegram_bot": 777}, MAIL, False),
        # keywords: any of them, whole words, in subject or text, case-insensitive, Cyrillic-aware
        ({"keywords": "outage"}, MAIL, True),
        ({"keywords": "OUTAGE"}, MAIL, True),
        ({"keywords": "portal"}, MAIL, True),
        ({"keywords": "out"}, MAIL, False),
        ({"keywords": "port"}, MAIL, False),
        ({"keywords": ["invoice", "down"]}, MAIL, True),
        ({"keywords": "не работает"}, CHAT, True),
        ({"keywords": "Принтер"}, CHAT, True),
        ({"keywords": "принт"}, CHAT, False),
        ({"keywords": "работа"}, CHAT, False),
        # all conditions must hold
        ({"channel": "email", "sender_domain": "client.example", "keywords": "outage"}, MAIL, True),
        ({"channel": "email", "sender_domain": "client.example", "keywords": "invoice"}, MAIL, False),
        ({"channel": "telegram", "telegram_chat": -100123, "keywords": "работает"}, CHAT, True),
    ],
)
def test_when_matches(when: dict[str, Any], facts: MessageFacts, matches: bool) -> None:
    assert When.model_validate(when).matches(facts) is matches


@pytest.mark.parametrize(
    ("keyword", "text", "found"),
    [
        ("ёлка", "Купили елку? Нет, ЁЛКА стоит", True),
        ("елка", "ёлка упала", True),
        ("не работает", "Почта не\nработает", True),
        ("не работает", "почта неработает", False),
        ("сбой", "Сбой. Срочно!", True),
        ("сбой", "сбойный модуль", False),
        ("c++", "the C++ build fails", True),
        ("vpn", "VPN-шлюз лежит", True),
        ("vpn", "openvpn is down", False),
        ("Straße", "STRASSE closed", False),  # no folding beyond case: "ß" is not "ss"
        ("e\u0301", "caf\u00e9 is closed", False),
        ("café", "CAFE\u0301 is closed", True),  # composed or not, the same word
    ],
)
def test_keywords_are_whole_words(keyword: str, text: str, found: bool) -> None:
    assert When(keywords=(keyword,)).matches(MessageFacts(channel="email", text=text)) is found


@pytest.mark.parametrize(
    ("when", "error"),
    [
        ({"sender": "not-an-address"}, "not e-mail addresses"),
        ({"sender_domain": "@client.example"}, "not domains"),
        ({"recipient": "x@"}, "not e-mail addresses or form names"),
        ({"keywords": ["ok", "  "]}, "keywords must be"),
        ({"keywords": ["x" * 101]}, "keywords must be"),
        ({"telegram_chat": "general"}, "telegram_chat"),
        ({"telegram_bot": "@my_bot"}, "telegram_bot"),
        ({"channel": "fax"}, "channel"),
        ({"subject": "x"}, "subject"),
    ],
)
def test_bad_conditions_are_refused(when: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        When.model_validate(when)


def test_rule_for_falls_back_to_the_last_rule() -> None:
    config = HubConfig.model_validate(
        {
            "rules": [
                {"name": "vip", "when": {"sender_domain": "client.example"}, "target": {"project": "VIP"}},
                {"name": "chat", "when": {"telegram_chat": -100123}, "target": {"project": "TG"}},
                {"name": "rest", "when": {"channel": "form"}, "target": {"project": "SUP"}},
            ]
        }
    )
    assert config.rule_for(MAIL).name == "vip"
    assert config.rule_for(CHAT).name == "chat"
    assert config.rule_for(MessageFacts(channel="email", sender="x@elsewhere.example")).name == "rest"


LETTERS = "abcdefxyzABCDEFXYZабвгдеёжзиклмнопрстуфхцчшщъыьэюяАБВЕЁЖЯ"
words = st.text(st.sampled_from(LETTERS), min_size=1, max_size=12)
separators = st.sampled_from([" ", ", ", ". ", "\n", "!", " (", "-", "\t", "«"])


@given(before=words, keyword=words, after=words, left=separators, right=separators)
def test_a_keyword_between_separators_is_found_in_any_case(
    before: str, keyword: str, after: str, left: str, right: str
) -> None:
    text = f"{before}{left}{keyword.upper()}{right}{after}"
    assert When(keywords=(keyword.lower(),)).matches(MessageFacts(channel="telegram", text=text))


@given(prefix=words, keyword=words, suffix=st.one_of(st.just(""), words))
def test_a_keyword_inside_a_longer_word_is_not_found(prefix: str, keyword: str, suffix: str) -> None:
    text = f"{prefix}{keyword}{suffix}"  # one word, longer than the keyword
    assert not When(keywords=(keyword,)).matches(MessageFacts(channel="email", subject=text))


@given(
    st.from_regex(r"[a-zA-Z0-9]{1,10}", fullmatch=True),
    st.sampled_from(["пример.рф", "ДОМЕН.РУС", "bücher.de"]),
)
def test_an_address_matches_its_punycode_and_case_variants(local: str, domain: str) -> None:
    written = f"{local}@{domain}"
    ascii_form = f"{local.lower()}@{ascii_domain(domain)}"
    assert ascii_form.isascii()
    assert address_key(written) == address_key(ascii_form.upper()) == ascii_form
