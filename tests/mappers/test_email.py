"""Unit tests of ``mappers.email.parse_email`` on our own fixtures and on generated edge cases.

Fixture files (tests/fixtures/email/, see SOURCES.md) cover charsets and real-client shapes; small
factories build the structural extremes (deep nesting, many parts, huge headers) at test time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import pytest

from mappers.charsets import decode_bytes, decode_encoded_words, normalize_charset
from mappers.email import EmailLimits, parse_email
from mappers.errors import AnomalousPayload, PayloadTooLarge
from mappers.html_text import MAX_QUOTE_DEPTH, html_to_text
from mappers.models import Channel, MessageKind
from mappers.quotes import cut_html_quote, strip_text_quotes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
NOW = dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC)


def parse(raw: bytes, limits: EmailLimits = EmailLimits()):
    return parse_email(raw, received_at=NOW, own_domain="hub.example.com", limits=limits)


def fixture(name: str):
    return parse((FIXTURES / name).read_bytes())


# file -> expected (field, value) pairs; "text" compares stripped text
CASES: dict[str, dict[str, object]] = {
    "koi8r-8bit.eml": {
        "name": "Сергей Иванов",
        "email": "Sergey@example.ru",
        "subject": "Не работает вход",
        "text": "Добрый день!\nНе могу войти в личный кабинет.",
    },
    "cp1251-qp.eml": {
        "name": "Анна",
        "subject": "Счёт на оплату",
        "text": "Пришлите, пожалуйста, счёт на оплату.",
    },
    "cp1251-undeclared-8bit.eml": {
        "subject": "Акт сверки за квартал",
        "text": "Добрый день, пришлите акт сверки за первый квартал.",
    },
    "misdeclared-utf8-cp1251.eml": {"subject": "Заявка", "text": "Прошу перезвонить мне завтра утром."},
    "rfc2047-split-midchar.eml": {"subject": "Ошибка при оплате заказа", "text": "ok"},
    "html-only.eml": {
        "text": "Hello,\n\nmy order #123 never arrived. See the order page "
        "(https://shop.example.com/orders/123).\n\n- Paid: yes\n\n- Shipped: no",
    },
    "reply-gmail-en.eml": {
        "text": "Restarting did not help, the printer is still offline.",
        "subject": "Re: [SUP-42] Printer offline",
    },
    "reply-outlook-ru.eml": {"text": "Принтер снова не печатает, ошибка E-05.\n\nС уважением,\nПётр"},
    "cyrillic-attachment-names.eml": {
        "attachments": ["Договор №7.pdf", "Письмо.doc", "схема.png", "attachment-4.bin"],
        "text": "Документы во вложении.",
    },
    "no-message-id.eml": {"text": "There is no Message-ID header here."},
    "auto-submitted.eml": {"kind": MessageKind.AUTO_REPLY, "reason": "header Auto-Submitted: auto-replied"},
    "oof-exchange.eml": {"kind": MessageKind.AUTO_REPLY, "reason": "header X-MS-Exchange-Inbox-Rules-Loop"},
    "list-mail.eml": {"kind": MessageKind.AUTO_REPLY, "reason": "header List-Id"},
    "dsn-bounce-rfc822.eml": {
        "kind": MessageKind.BOUNCE,
        "bounced": ("<hub-out-9-1@hub.example.com>", "5.1.1", "gone@example.net"),
        "attachments": ["Delivery report.txt", "[SUP-9] Your request.eml"],
    },
    "mailer-daemon-bounce.eml": {
        "kind": MessageKind.BOUNCE,
        "reason": "from mailer-daemon",
        "bounced": ("<hub-out-5-2@hub.example.com>", None, None),
    },
    "invalid-base64.eml": {"text": "Hello world", "attachments": ["a.pdf"]},
    "nul-bytes.eml": {"subject": "nulhere", "text": "bodywithnuls"},
}


def test_every_fixture_has_a_case():
    assert {p.name for p in FIXTURES.glob("*.eml")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture(name: str):
    msg = fixture(name)
    case = CASES[name]
    assert msg.channel is Channel.EMAIL
    assert msg.received_at == NOW
    assert msg.conversation_key == "email:" + msg.external_id
    assert "\ufffd" not in msg.text + msg.subject
    assert msg.kind is case.get("kind", MessageKind.NEW)
    if "name" in case:
        assert msg.sender.name == case["name"]
    if "email" in case:
        assert msg.sender.email == case["email"]
    if "subject" in case:
        assert msg.subject == case["subject"]
    if "text" in case:
        assert msg.text.strip() == case["text"]
    if "reason" in case:
        assert msg.auto_reason == case["reason"]
    if "attachments" in case:
        assert [a.filename for a in msg.attachments] == case["attachments"]
        assert all(a.data is not None and a.size == len(a.data) for a in msg.attachments)
    if "bounced" in case:
        meta = msg.email
        assert (meta.bounced_message_id, meta.bounce_status, meta.bounce_recipient) == case["bounced"]


def test_message_id_and_threading_headers():
    msg = fixture("reply-gmail-en.eml")
    assert msg.external_id == "<CAgmail-reply@mail.gmail.com>"
    assert msg.email.message_id == "<CAgmail-reply@mail.gmail.com>"
    assert msg.email.in_reply_to == ["<hub-out-42-1@hub.example.com>"]
    assert msg.email.references == ["<hub-in-42@example.com>", "<hub-out-42-1@hub.example.com>"]
    assert msg.email.to == ["support@hub.example.com"]


def test_missing_message_id_uses_the_hash_of_the_raw_bytes():
    raw = (FIXTURES / "no-message-id.eml").read_bytes()
    msg = parse(raw)
    assert msg.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert msg.email.message_id is None


def test_message_id_is_normalised():
    msg = parse(b"From: a@b.example\nMessage-ID:  \n <abc@ def.example>  \n\nx")
    assert msg.external_id == "<abc@def.example>"


def test_inline_image_with_filename_is_an_attachment():
    msg = fixture("cyrillic-attachment-names.eml")
    image = next(a for a in msg.attachments if a.filename == "схема.png")
    assert image.content_type == "image/png"
    assert image.data.startswith(b"\x89PNG")


def test_embedded_message_is_an_eml_attachment():
    msg = fixture("dsn-bounce-rfc822.eml")
    eml = msg.attachments[1]
    assert eml.content_type == "message/rfc822"
    assert b"Message-ID: <hub-out-9-1@hub.example.com>" in eml.data


def test_content_language_sets_the_sender_language():
    msg = parse(b"From: a@b.example\nContent-Language: ru-RU\n\nx")
    assert msg.sender.language == "ru-RU"
    assert parse(b"From: a@b.example\n\nx").sender.language is None


def test_sender_domain_is_lowercased_local_part_kept():
    msg = parse(b"From: Ivan <Ivan.Petrov@EXAMPLE.RU>\n\nx")
    assert msg.sender.email == "Ivan.Petrov@example.ru"


def test_reply_to_and_cc():
    msg = parse(b"From: a@b.example\nCc: X <x@c.example>, y@d.example\nReply-To: r@e.example\n\nx")
    assert msg.email.cc == ["x@c.example", "y@d.example"]
    assert msg.email.reply_to == "r@e.example"


def test_delivered_to_is_kept_as_the_mailboxes_the_mail_reached():
    msg = parse(
        b"Delivered-To: VIP@Support.Example\nDelivered-To: <vip@support.example>\n"
        b"Delivered-To: all@support.example\nFrom: a@b.example\nTo: list@lists.example\n\nx"
    )
    assert msg.email.delivered_to == ["VIP@support.example", "vip@support.example", "all@support.example"]
    assert msg.facts().recipients == (
        "list@lists.example",
        "VIP@support.example",
        "vip@support.example",
        "all@support.example",
    )


def test_delivered_to_and_to_are_bounded():
    hops = b"".join(b"Delivered-To: hop%d@relay.example\n" % n for n in range(50))
    to = b"To: " + b", ".join(b"r%d@x.example" % n for n in range(300)) + b"\n"
    msg = parse(hops + to + b"From: a@b.example\n\nx", EmailLimits(max_delivered_to=3, max_addresses=20))
    assert msg.email.delivered_to == ["hop0@relay.example", "hop1@relay.example", "hop2@relay.example"]
    assert len(msg.email.to) == 20


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"just some words without headers"])
def test_not_a_mail_is_anomalous(raw: bytes):
    with pytest.raises(AnomalousPayload):
        parse(raw)


def test_over_max_bytes_is_too_large():
    with pytest.raises(PayloadTooLarge):
        parse(b"From: a@b.example\n\n" + b"x" * 2000, EmailLimits(max_bytes=1000))


def test_mbox_from_line_and_preamble_are_skipped():
    msg = parse(b"From someone@example.com Mon Jan  1 00:00:00 2024\nFrom: a@b.example\nSubject: s\n\nbody")
    assert (msg.sender.email, msg.subject, msg.text) == ("a@b.example", "s", "body")


def test_unindented_folded_header_is_mended():
    raw = b"From: a@b.example\nX-Long: abc\ndefghijklmnop\nSubject: kept\n\nbody"
    msg = parse(raw)
    assert (msg.subject, msg.text) == ("kept", "body")


# --- structural limits: factories ---------------------------------------------------------------


def nested(depth: int) -> bytes:
    head = b"From: a@b.example\nSubject: deep\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth)
    )
    closing = b"".join(b"\n--b%d--\n" % i for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\n\nhello deep" + closing


def many_parts(count: int, ctype: bytes = b"text/plain", disposition: bytes = b"inline") -> bytes:
    parts = b"".join(
        b"--q\nContent-Type: %s\nContent-Disposition: %s; filename=f%d.txt\n\npart %d\n"
        % (ctype, disposition, i, i)
        for i in range(count)
    )
    return (
        b"From: a@b.example\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nintro\n" + parts + b"--q--\n"
    )


def test_nesting_within_the_limit_reaches_the_text():
    assert parse(nested(10)).text == "hello deep"


@pytest.mark.timeout(60)  # a hang guard, not a speed check: speed is measured in bench/
@pytest.mark.parametrize("depth", [25, 1000, 3000])
def test_deep_nesting_degrades_with_a_note(depth: int):
    msg = parse(nested(depth))
    assert msg.subject == "deep"
    assert msg.notes


@pytest.mark.timeout(60)
def test_many_parts_are_capped_with_a_note():
    msg = parse(many_parts(10_000, disposition=b"attachment"))
    assert len(msg.attachments) == 50
    assert any("attachments over the limit" in note for note in msg.notes)
    assert any("MIME parts over the limit" in note for note in msg.notes)


def test_attachment_limit_is_configurable():
    msg = parse(many_parts(5, disposition=b"attachment"), EmailLimits(max_attachments=2))
    assert [a.filename for a in msg.attachments] == ["f0.txt", "f1.txt"]
    assert msg.notes == ["attachments over the limit of 2: 3 dropped"]


def test_huge_header_line_is_capped():
    msg = parse(b"From: a@b.example\nSubject: " + b"x" * 1_000_000 + b"\n\nbody")
    assert len(msg.subject) == EmailLimits().max_header_chars
    assert msg.text == "body"


def test_long_text_is_truncated_with_a_note():
    msg = parse(b"From: a@b.example\n\n" + b"word " * 1000, EmailLimits(max_text_chars=100))
    assert len(msg.text) == 100
    assert msg.notes == ["text truncated to 100 characters"]


def test_nameless_parts_get_generated_names():
    raw = (
        b"From: a@b.example\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\ntext\n"
        b"--q\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
        b"--q\nContent-Type: application/x-thing\n\nabc\n--q--\n"
    )
    assert [a.filename for a in parse(raw).attachments] == ["attachment-1.png", "attachment-2.bin"]


@pytest.mark.parametrize("stray", [b"", b"!", b"\xe9"], ids=["clean", "ascii-junk", "8-bit-byte"])
@pytest.mark.parametrize("size", [60_000, 300_000, 1_200_000])
def test_base64_attachment_bytes_match_the_stdlib_decoding(stray: bytes, size: int):
    """Large bodies are decoded in one pass (mappers.mime), small ones by the stdlib: same bytes."""
    data = bytes(range(256)) * (size // 256)
    encoded = base64.encodebytes(data)
    encoded = encoded[:1000] + stray + encoded[1000:]
    raw = (
        b"From: a@b.example\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\ntext\n"
        b"--q\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n"
        + encoded
        + b"--q--\n"
    )
    assert [a.data for a in parse(raw).attachments] == [data]


def test_forward_keeps_the_forwarded_text():
    raw = (
        b"From: a@b.example\nSubject: Fwd: invoice\n\nsee below\n\n"
        b"-----Original Message-----\nFrom: shop@x.example\nSent: Monday\nTo: a@b.example\n\n"
        b"Invoice 42 is due\n"
    )
    assert "Invoice 42 is due" in parse(raw).text


def test_reply_that_is_only_a_quote_keeps_the_quote():
    raw = b"From: a@b.example\nSubject: Re: x\n\n> only quoted\n> text\n"
    assert parse(raw).text == "> only quoted\n> text"


# --- helpers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "codec"),
    [("utf8", "utf-8"), ("unicode-1-1-utf-7", "utf-7"), ("x-unknown", None), ("base64", None), ("", None)],
)
def test_normalize_charset(name: str, codec: str | None):
    assert normalize_charset(name) == codec


@pytest.mark.parametrize("charset", ["cp1251", "koi8-r"])
@pytest.mark.parametrize("text", ["Вопрос по договору", "Да", "Прошу выслать копию договора и акт сверки."])
def test_undeclared_cyrillic_is_detected(text: str, charset: str):
    assert decode_bytes(text.encode(charset)) == text


def test_lying_latin_declaration_over_cp1251_is_overruled():
    assert decode_bytes("Ошибка оплаты".encode("cp1251"), "us-ascii") == "Ошибка оплаты"
    assert decode_bytes("Grüße".encode("latin-1"), "iso-8859-1") == "Grüße"


def test_adjacent_encoded_words_join_bytes_before_decoding():
    raw = "Срочно".encode()
    import base64

    words = " ".join("=?UTF-8?B?" + base64.b64encode(chunk).decode() + "?=" for chunk in (raw[:3], raw[3:]))
    assert decode_encoded_words(words) == "Срочно"


@pytest.mark.timeout(60)
def test_html_to_text_is_bounded():
    # 100,000 links are cut at the link cap (Zammad's guard is 5,000); 300,000 unclosed tags end
    text = html_to_text('<a href="https://x.example/">l</a>' * 100_000)
    assert text.count("https://x.example/") <= 5_000
    assert isinstance(html_to_text("<a " * 300_000), str)


@pytest.mark.parametrize("opening", ["<blockquote>", '<div class="gmail_quote">'])
def test_nested_quotes_write_a_bounded_number_of_quote_marks(opening: str):
    # each line once got one "> " per level: 80,000 levels in a 1 MB mail made 10^10 characters
    text = html_to_text(cut_html_quote(opening + "x" + opening) * 500 + "y")
    assert text.split("\n")[-1] == "> " * MAX_QUOTE_DEPTH + "y"


def test_html_to_text_drops_scripts_and_urls_over_the_link_cap():
    assert html_to_text("<script>x()</script><style>p{}</style><p>a &amp; b</p>") == "a & b"
    text = html_to_text('<a href="https://u.example/">go</a>' * 3, max_links=2)
    assert "https://" not in text


def test_quote_helpers():
    # the container becomes a quote, so text after it (a bottom-posted reply) is not cut with it
    assert (
        cut_html_quote('<p>new</p><div class="gmail_quote">old</div>')
        == "<p>new</p><blockquote>old</blockquote>"
    )
    text = "Спасибо!\n\n14.03.2026, 10:00, Иван <ivan@example.ru> пишет:\n> старое"
    assert strip_text_quotes(text) == "Спасибо!"
    assert strip_text_quotes("ok\n-----Original Message-----\nold") == "ok"
    assert strip_text_quotes("ок\n\nОт: a\nОтправлено: b\nКому: c\nТема: d\n\nold") == "ок"
