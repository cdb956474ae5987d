"""Quoted history is stripped from replies of every mail client customers use, and no customer's word is
lost: top- and bottom-posted, plain and HTML, attribution on one line or wrapped, Russian and English.

Real shapes are fixtures in tests/fixtures/email/quotes/ (SOURCES.md says where each comes from); the
table below builds every variation of each client's attribution through the whole parser.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappers.email import parse_email
from mappers.issue import TEXT_LIMIT, build_comment, describe
from mappers.markup import JIRA, KAITEN
from mappers.models import Channel, InboundMessage, Sender
from mappers.quotes import strip_text_quotes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email" / "quotes"
NOW = dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC)
SUPPORT = "support@hub.example.com"


def parse(raw: bytes) -> InboundMessage:
    return parse_email(raw, received_at=NOW, own_domain="hub.example.com")


def reply(body: str, *, ctype: str = "text/plain", subject: str = "Re: [SUP-42] Printer") -> bytes:
    """A reply mail from a customer with ``body`` as its only part."""
    head = (
        f"From: Ivan <ivan@example.ru>\nTo: {SUPPORT}\nSubject: {subject}\nMessage-ID: <r@example.ru>\n"
        f"MIME-Version: 1.0\nContent-Type: {ctype}; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    )
    return head.encode() + base64.encodebytes(body.encode())


# --- real shapes ----------------------------------------------------------------------------------

FIXTURE_TEXTS = {
    "yandex-html-top-ru.eml": "Добрый день!\n\nПринтер снова не печатает, ошибка E-05.",
    "yandex-html-header-ru.eml": "Владимир, здравствуйте.\n\nПришлите сертификаты.",
    "yandex-plain-bottom-ru.eml": "Ошибка E-05, принтер в бухгалтерии.",
    "mailru-html-top-ru.eml": "Принтер снова не печатает.\n\nСпасибо,\nИван",
    "mailru-web-html-bottom-ru.eml": "Счёт во вложении.\n\nС уважением, Иван",
    "mailru-app-html-top-ru.eml": "Спасибо, получили.\n\nОтправлено из мобильной Почты Mail.ru",
    "rambler-plain-top-ru.eml": "Картридж заменили, всё работает.",
    "outlook-ru-html-top.eml": "Счёт во вложении.",
    "outlook-desktop-ru-html-top.eml": "Спасибо, ждём мастера.",
    "android-gmail-ru-plain-wrapped.eml": "Да, перезагрузка помогла.",
    "gmail-ru-html-top.eml": "Спасибо, всё получили!",
    "gmail-indent-html.eml": "Прошу изготовить:\n\nограждение 12 м;\n\nкалитка 1 шт.\n\nСпасибо.",
    "thunderbird-flowed-bottom-en.eml": "Hello, restarting did not help.\n\n--\nIvan",
    "thunderbird-flowed-bottom-ru.eml": "Перезагрузка не помогла, ошибка E-05.",
    "thunderbird-html-bottom-en.eml": "Restarting did not help.\n\n--\nIvan",
    "apple-html-top-ru.eml": "Хорошо, договорились.",
    "quote-unseparable-ru.eml": (
        "> От: Служба поддержки <support@hub.example.com>\n> Отправлено: 2 марта 2026 г. 10:00\n"
        "> Кому: ivan@example.ru\n> Тема: [SUP-42] Принтер не печатает\n\n> Принтер снова не печатает."
    ),
}


def test_every_quote_fixture_has_an_expected_text():
    assert {p.name for p in FIXTURES.glob("*.eml")} == set(FIXTURE_TEXTS)


@pytest.mark.parametrize("name", sorted(FIXTURE_TEXTS))
def test_client_reply_keeps_exactly_the_new_text(name: str):
    assert parse((FIXTURES / name).read_bytes()).text == FIXTURE_TEXTS[name]


# --- every client's attribution: wrapped or not, plain or HTML, top- or bottom-posted, ru and en -----

# (client, language, attribution lines): a marked (">") quote follows each.
ATTRIBUTIONS: list[tuple[str, str, list[str]]] = [
    ("gmail", "en", [f"On Mon, 2 Mar 2026 at 10:00, Support <{SUPPORT}> wrote:"]),
    ("gmail", "en", ["On Mon, 2 Mar 2026 at 10:00, Support <", f"{SUPPORT}> wrote:"]),
    ("gmail", "en", ["On Mon, 2 Mar 2026 at 10:00, Hub Support", f"Desk <{SUPPORT}>", "wrote:"]),
    ("gmail", "ru", [f"пн, 2 мар. 2026 г. в 10:00, Служба поддержки <{SUPPORT}>:"]),
    ("gmail", "ru", ["пн, 2 мар. 2026 г. в 10:00, Служба поддержки <", f"{SUPPORT}>:"]),
    ("gmail", "en", [f"2026-03-02 10:00 GMT+03:00 Support <{SUPPORT}>:"]),
    ("android-gmail", "ru", [f'02.03.2026 10:00 пользователь "{SUPPORT}" <{SUPPORT}> написал:']),
    ("android-gmail", "ru", [f'02.03.2026 10:00 пользователь "{SUPPORT}" <', f"{SUPPORT}> написал:"]),
    ("yandex", "ru", [f'02.03.2026, 10:00, "Служба поддержки" <{SUPPORT}>:']),
    ("yandex", "ru", ['02.03.2026, 10:00, "Служба поддержки" <', f"{SUPPORT}>:"]),
    ("yandex", "en", [f'02.03.2026, 10:00, "Support" <{SUPPORT}>:']),
    ("mailru", "ru", [f"Mon, 02 Mar 2026 10:00:51 +0300 от Служба поддержки <{SUPPORT}>:"]),
    ("mailru", "ru", [f"Понедельник, 2 марта 2026, 10:00 +03:00 от {SUPPORT}:"]),
    ("mailru", "ru", ["Понедельник, 2 марта 2026, 10:00 +03:00 от Служба", f"поддержки <{SUPPORT}>:"]),
    ("mailru", "en", [f"Monday, 2 March 2026, 10:00 +03:00 from Support <{SUPPORT}>:"]),
    ("rambler", "ru", ["Понедельник, 2 марта 2026, 10:00 +03:00", "от Служба поддержки", f"<{SUPPORT}>:"]),
    ("thunderbird", "en", ["On 02.03.2026 10:00, Support wrote:"]),
    ("thunderbird", "ru", ["02.03.2026 10:00, Служба поддержки пишет:"]),
    ("thunderbird", "ru", ["02.03.2026 10:00, Служба поддержки", "пишет:"]),
    ("apple", "ru", [f"2 мар. 2026 г., в 10:00, Служба поддержки <{SUPPORT}> написал(а):"]),
    ("apple", "en", [f"On 2 Mar 2026, at 10:00, Support <{SUPPORT}> wrote:"]),
]
# Outlook writes a header block and the history unmarked below it: top-posted only.
OUTLOOK_BLOCKS: list[tuple[str, list[str]]] = [
    ("ru", [f"От: Служба поддержки <{SUPPORT}>", "Отправлено: 2 марта 2026 г. 10:00", "Кому: ivan@example.ru",
            "Тема: RE: [SUP-42] Принтер"]),
    ("ru", ["________________________________", f"От: Служба поддержки <{SUPPORT}>",
            "Отправлено: 2 марта 2026 г. 10:00", "Копия: it@example.ru", "Тема: RE: [SUP-42] Принтер"]),
    ("ru", ["-----Исходное сообщение-----", f"От: Служба поддержки <{SUPPORT}>"]),
    ("en", [f"From: Support <{SUPPORT}>", "Sent: Monday, March 2, 2026 10:00 AM", "To: ivan@example.ru",
            "Subject: RE: [SUP-42] Printer"]),
]  # fmt: skip
NEW = {
    "ru": ["Принтер снова не печатает, ошибка E-05.", "Иван"],
    "en": ["The printer is still offline, error E-05.", "Ivan"],
}
OLD = {
    "ru": ["Здравствуйте! Заявка SUP-42 принята.", "Служба поддержки"],
    "en": ["Hello, ticket received.", "Support"],
}


def plain_reply(new: list[str], attribution: list[str], old: list[str], *, bottom: bool) -> str:
    quote = "\n".join([*attribution, *("> " + line for line in old)])
    return f"{quote}\n\n" + "\n".join(new) if bottom else "\n".join(new) + f"\n\n{quote}\n"


def html_reply(new: list[str], attribution: list[str], old: list[str], *, bottom: bool) -> str:
    """An HTML reply as Yandex and Mail.ru write it: the attribution, then a bare ``<blockquote>``."""
    esc = html.escape
    ours = "".join(f"<div>{esc(line)}</div>" for line in new)
    quote = (
        "<div>" + "<br>".join(esc(line) for line in attribution) + "</div><blockquote>"
        + "".join(f"<div>{esc(line)}</div>" for line in old) + "</blockquote>"
    )  # fmt: skip
    return quote + ours if bottom else ours + "<div><br></div>" + quote


def _id(value: object) -> str:
    return value[0] if isinstance(value, list) else str(value)


@pytest.mark.parametrize("bottom", [False, True], ids=["top", "bottom"])
@pytest.mark.parametrize("kind", ["plain", "html"])
@pytest.mark.parametrize(("client", "language", "attribution"), ATTRIBUTIONS, ids=_id)
def test_attribution_and_quote_go_new_text_stays(
    client: str, language: str, attribution: list[str], kind: str, bottom: bool
):
    new, old = NEW[language], OLD[language]
    if kind == "plain":
        msg = parse(reply(plain_reply(new, attribution, old, bottom=bottom)))
        assert msg.text == "\n".join(new), client
    else:
        msg = parse(reply(html_reply(new, attribution, old, bottom=bottom), ctype="text/html"))
        assert msg.text == "\n\n".join(new), client  # each <div> is a paragraph of the converted text


@pytest.mark.parametrize("kind", ["plain", "html"])
@pytest.mark.parametrize(("language", "block"), OUTLOOK_BLOCKS, ids=_id)
def test_outlook_header_block_and_the_unmarked_history_below_go(language: str, block: list[str], kind: str):
    new, old = NEW[language], OLD[language]
    if kind == "plain":
        body = "\n".join(new) + "\n\n" + "\n".join([*block, "", *old])
        assert parse(reply(body)).text == "\n".join(new)
    else:
        body = "".join(f"<p>{html.escape(line)}</p>" for line in [*new, *block, *old])
        assert parse(reply(body, ctype="text/html")).text == "\n\n".join(new)


@pytest.mark.parametrize("bottom", [False, True], ids=["top", "bottom"])
def test_mailru_quoted_body_container_is_history_without_its_blockquote(bottom: bool):
    quote = '<div id="style_17724000000000001020_BODY"><div>Здравствуйте! Заявка принята.</div></div>'
    ours = "<div>Ошибка E-05.</div>"
    body = quote + ours if bottom else ours + quote
    assert parse(reply(body, ctype="text/html")).text == "Ошибка E-05."


def test_thunderbird_flowed_quote_is_not_joined_onto_the_answer():
    # issue 20: the flowed "> Hi " was joined onto the unquoted "Hello" below it (RFC 3676 4.5 forbids it)
    body = "On 02.03.2026 10:00, Support wrote:\n> Hi \nHello, \nit still fails.\n"
    raw = reply(body).replace(b"charset=utf-8", b"charset=utf-8; format=flowed")
    assert parse(raw).text == "Hello, it still fails."


# --- lines that look like an attribution but are the customer's ------------------------------------

CUSTOMER_LINES = [
    "Прошу рассчитать по КМД от 12.09.2026:",  # a date and "от", no time, no address (pmk's table)
    "Совещание завтра в 10:00, повестка:",
    "Документы присылайте на docs@example.org:",
    "Нужны позиции к 01.10.2026:",
    "On Monday the printer worked, on Tuesday it did not.",
    "02.03.2026 мы оплатили счёт.",
]


@pytest.mark.parametrize("line", CUSTOMER_LINES)
def test_a_customer_line_that_looks_like_an_attribution_is_kept(line: str):
    text = f"Добрый день!\n{line}\n> ограждение 12 м\n> калитка 1 шт.\nСпасибо, Иван"
    assert strip_text_quotes(text) == text


def test_customer_line_starting_like_an_attribution_is_not_joined_into_the_next():
    text = "On my side it still fails\nOn Mon, 2 Mar 2026 Support wrote:\n> restart it"
    assert strip_text_quotes(text) == "On my side it still fails"


def test_indented_text_between_the_customers_lines_is_kept_as_a_quote():
    text = "Прошу изготовить:\n> ограждение 12 м;\n> калитка 1 шт.\nСпасибо."
    assert strip_text_quotes(text) == text


def test_inline_answers_between_quoted_pieces_are_kept():
    text = "On Mon, 2 Mar 2026 Support wrote:\n> Model?\nHP 1020\n> Error code?\nE-05\n> Since when?"
    assert strip_text_quotes(text) == "HP 1020\nE-05"


# --- nothing new can be told apart: every word stays, the history marked as a quote -----------------

UNSEPARABLE = [
    "> only quoted\n> text",
    "On Mon, 2 Mar 2026 Support wrote:\n\nThe printer still fails, error E-05.",
    "От: Служба поддержки\nОтправлено: 2 марта\nКому: ivan@example.ru\nТема: RE: Принтер\n\nПринтер не печатает.",
    "-----Original Message-----\nThe printer still fails.",
]


@pytest.mark.parametrize("text", UNSEPARABLE)
def test_a_reply_whose_quote_cannot_be_told_apart_keeps_every_word(text: str):
    kept = strip_text_quotes(text)
    assert [word for word in kept.split() if word != ">"] == [word for word in text.split() if word != ">"]
    assert all(line.startswith(">") for line in kept.split("\n") if line)


def test_kept_history_is_a_quote_in_the_jira_and_kaiten_comment():
    text = parse(reply("On Mon, 2 Mar 2026 Support wrote:\n\nThe printer {still} fails.\n")).text
    message = InboundMessage(
        channel=Channel.EMAIL, external_id="<r@example.ru>", conversation_key="email:<r@example.ru>",
        sender=Sender(name="Ivan", email="ivan@example.ru"), text=text, received_at=NOW,
    )  # fmt: skip
    jira = build_comment(message, "m1", markup=JIRA)
    assert "{quote}\nOn Mon, 2 Mar 2026 Support wrote:\n\nThe printer \\{still\\} fails.\n{quote}" in jira
    kaiten = build_comment(message, "m1", markup=KAITEN)
    assert "> On Mon, 2 Mar 2026 Support wrote:  \n>   \n> The printer \\{still\\} fails\\." in kaiten


def test_a_long_text_with_quotes_is_cut_to_the_limit_with_every_jira_quote_closed():
    message = InboundMessage(
        channel=Channel.EMAIL, external_id="x", conversation_key="email:x", received_at=NOW,
        text="Still broken.\n> {quote} old\n" * 12_000,
    )  # fmt: skip
    body = describe(message, JIRA)
    assert len(body) <= TEXT_LIMIT
    assert body.count("{quote}") % 2 == 0 and "\\{quote\\}" in body


# --- property: a line the customer wrote before the first attribution is never removed -------------

CUSTOMER_TEXT = st.text(
    alphabet=st.sampled_from("abcdefghij ABCDEFGHIJ абвгдежзик АБВГДЕЖЗИК 0123456789 .,!?-()"), max_size=60
).filter(lambda line: any(char.isalnum() for char in line))
# Lines that begin like an attribution ("On …", a date) but are the customer's own.
CUSTOMER_LINE = CUSTOMER_TEXT | st.builds(
    str.__add__,
    st.sampled_from(["On ", "Am ", "02.03.2026 ", "2 марта 2026 ", "Mon, 2 Mar 2026 "]),
    CUSTOMER_TEXT,
)
QUOTE_TEXT = st.text(alphabet=st.sampled_from("abcdef абвгд 0123456789 .,:<>@-\"'"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(CUSTOMER_LINE, min_size=1, max_size=6),
    st.sampled_from(
        [lines for _client, _language, lines in ATTRIBUTIONS] + [b for _lang, b in OUTLOOK_BLOCKS]
    ),
    st.lists(QUOTE_TEXT, max_size=4),
    st.booleans(),
)
def test_strip_never_removes_a_customer_line_before_the_first_attribution(
    customer: list[str], attribution: list[str], quoted: list[str], blank: bool
):
    text = "\n".join([*customer, *([""] if blank else []), *attribution, *("> " + line for line in quoted)])
    kept = iter(line.strip() for line in strip_text_quotes(text).split("\n"))
    assert all(line.strip() in kept for line in customer)  # each one, in order
