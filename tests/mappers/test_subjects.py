"""``mappers.subjects``: reply/forward prefixes in English, German and Russian, and issue keys."""

from __future__ import annotations

import pytest

from mappers.subjects import clean_subject, find_issue_keys, is_forward


@pytest.mark.parametrize(
    ("subject", "cleaned"),
    [
        ("Re: Hello", "Hello"),
        ("RE: RE: re: Hello", "Hello"),
        ("Fwd: FW: Fw: Hello", "Hello"),
        ("AW: WG: Hallo", "Hallo"),
        ("Re[2]: Re(3): Re^4: Hello", "Hello"),
        ("Отв: RE: [Ticket#10042] Не приходит письмо с паролем", "Не приходит письмо с паролем"),
        ("Ответ: Пересл: тест", "тест"),
        ("AW: Ticket Templates [Ticket#11168]", "Ticket Templates"),
        ("Re: [SUP-12]   broken   printer", "broken printer"),
        ("Автоматический ответ: Заявка", "Автоматический ответ: Заявка"),
        ("Reply needed: invoice", "Reply needed: invoice"),
        ("Отчет за март", "Отчет за март"),
        ("", ""),
    ],
)
def test_clean_subject(subject: str, cleaned: str):
    assert clean_subject(subject) == cleaned


@pytest.mark.parametrize(
    ("subject", "keys"),
    [
        ("[SUP-123] Printer", ["SUP-123"]),
        ("Re: SUP-1 and OPS_2-77, again SUP-1", ["SUP-1", "OPS_2-77"]),
        ("sup-123 lower case", []),
        ("A-1 single letter project", []),
        ("SUP-12345678 long", ["SUP-12345678"]),
        ("xSUP-1 glued", []),
    ],
)
def test_find_issue_keys(subject: str, keys: list[str]):
    assert find_issue_keys(subject) == keys


@pytest.mark.parametrize(
    ("subject", "forward"),
    [("Fwd: x", True), ("WG: x", True), ("W.: Invoice", True), ("Пересл: x", True), ("Re: Fwd: x", True),
     ("Re: x", False), ("Forward planning", False)],
)  # fmt: skip
def test_is_forward(subject: str, forward: bool):
    assert is_forward(subject) is forward
