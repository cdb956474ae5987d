"""Strip the quoted history from a reply, keeping every line the customer newly wrote.

A follow-up becomes a tracker comment; repeating the whole thread in every comment buries the news.
Two passes:

- on HTML, before conversion (``cut_html_quote``): the containers mail clients wrap the history in
  become ``<blockquote>``, so the converter writes them as ``>`` lines like any other quote, and
  Outlook's unmarked history is cut (``mappers.quotes_html``);
- on text (``strip_text_quotes``): ``>`` lines are history, and so is an attribution line ("On <date>,
  X wrote:", "26.06.2014, 14:41, "X" <x@…>:", an Outlook "От:/Отправлено:/Кому:/Тема:" block) with
  the ``>`` block after it. Text after that block is the customer's (a bottom-posted or inline reply).
  An attribution with no ``>`` block after it is followed by unmarked history: the rest is cut.

Losing a customer's words is worse than keeping a quote: when nothing new can be told apart, the whole
message is kept, with the history marked by ``>`` so the tracker shows it as a quote
(``mappers.markup.Markup.text``).
"""

from __future__ import annotations

import re

from mappers.quotes_html import cut_html_quote

__all__ = ["QUOTE_MARKS", "cut_html_quote", "is_quoted", "strip_text_quotes"]

# --- attribution lines --------------------------------------------------------------------------------
# Where each shape comes from (facts from public test fixtures; tests/fixtures/email/quotes/SOURCES.md):
# - Gmail, Apple Mail, Thunderbird (en): "On <date>, <name> wrote:", wrapped over 2-3 lines;
# - Thunderbird (ru): "21.09.2026 20:11, <addr> пишет:"; Apple Mail (ru): "21 сент. 2026 г., в 10:00,
#   <name> <addr> написал(а):" (an Odoo mail add-on's test table of live mail, pmk_mail_ui);
# - Android Gmail (ru): '02.04.2012 14:20 пользователь "bob@…" <' + 'bob@…> написал:' over two lines
#   (mailgun/talon, talon/quotations.py, its SPLITTER_PATTERNS comments);
# - Yandex: '26.06.2014, 14:41, "Alexander L" <abc@example.com>:' (mailgun/talon,
#   talon-core/tests/fixtures/html_replies/yandex_ru.html), with "Кому:"/"Тема:" lines above it when the
#   reply carries the header (pmk_mail_ui table);
# - Mail.ru: "Thu, 26 Jun 2014 14:00:51 +0400 от Alexander L <abc@example.com>:" (mailgun/talon,
#   talon-core/talon_core_tests/fixtures/html_replies/mail_ru.html) and "Понедельник, 21 сентября 2026,
#   09:54 +10:00 от zakaz@example.org:" (pmk_mail_ui table); Gmail (ru): "пн, 21 сент. 2026 г. в 10:00,
#   Иван <ivan@example.org>:" (same table); Gmail: "2014-10-17 11:28 GMT+03:00 Bob <bob@…>:" (talon);
# - Rambler: no public sample found; its web mail is covered by the same dated form as Mail.ru's.
_WEEKDAY = (
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]{0,6}|пн|вт|ср|чт|пт|сб|вс"
    r"|понедельник|вторник|среда|четверг|пятница|суббота|воскресенье)\.?,?\s+"
)
_DATE = (
    r"(?:\d{1,2}[./]\d{1,2}[./](?:\d{4}|\d{2})\b|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}\s+[^\W\d_]{3,10}\.?,?\s+\d{4}(?:\s*г\.)?)"
)
# A date, a time and an address or "<", ending in a colon: Yandex, Mail.ru, Rambler, Gmail (ru).
_DATED = rf"(?:{_WEEKDAY})?{_DATE}[^:\n]{{0,20}}?\b\d{{1,2}}:\d{{2}}\b[^@<\n]{{0,300}}[@<][^:\n]{{0,300}}:"
_WROTE = re.compile(
    r"^\s*(?:"
    r"on\b.{0,300}\bwrote:"  # Gmail, Apple Mail, Thunderbird (English)
    r"|am\b.{0,300}\bschrieb.{0,100}:"  # German clients
    r"|(?=.*[\d@]).{0,300}\b(?:пишет|писал|написал|написала|написал\(а\))\s*:"  # Russian, with a date
    rf"|{_DATED}"
    r")\s*$",
    re.IGNORECASE,
)
# How a wrapped attribution's first line begins: only such a line may be joined with the next ones.
_ATTRIBUTION_START = re.compile(rf"^\s*(?:(?:on|am)\b|(?:{_WEEKDAY})?{_DATE})", re.IGNORECASE)
# Separators after which the history follows unmarked, to the end.
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|исходное сообщение|пересылаемое сообщение|forwarded message)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\**(?:from|от|von|de)\s*:\**\s+\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\s*\**(?:sent|date|to|cc|subject|отправлено|дата|кому|копия|тема|gesendet|an|betreff)\s*:",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
# Header lines a client puts right above its attribution (Yandex: a dash rule, "Кому:", "Тема:").
_HEADERISH = re.compile(r"^\s*(?:-{8,}|(?:to|cc|subject|date|кому|копия|тема|дата)\s*:.*)\s*$", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")
QUOTE_MARKS = re.compile(r"^\s*(?:>\s?)+")  # all quote marks of a line, nested ones too
_BLANKS = re.compile(r"\n{3,}")
_MAX_LINE = 400  # longer lines are text, never an attribution (and bound the regular expressions)


def is_quoted(line: str) -> bool:
    """Whether a text line is marked as quoted history (``>``)."""
    return _QUOTED.match(line) is not None


def _is_outlook_header(lines: list[str], index: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 10] if line.strip()]  # HTML: blank lines between
    return sum(1 for line in following[:4] if _OUTLOOK_NEXT.match(line)) >= 2


def _unclosed(line: str) -> bool:
    """Whether the line stops inside an address or a quoted name (wrapped mid-attribution)."""
    return line.count("<") > line.count(">") or line.count('"') % 2 == 1


def _wrapped_span(lines: list[str], index: int) -> int:
    """How many lines (2 or 3) a wrapped attribution starting at ``index`` takes; 0 if none does.

    A line is joined only when it begins like an attribution, and not when the following lines are an
    attribution by themselves: then the customer's line above stays the customer's.
    """
    first = lines[index]
    if not _ATTRIBUTION_START.match(first):
        return 0
    for extra in (1, 2):
        tail = lines[index + 1 : index + 1 + extra]
        if len(tail) < extra or not tail[-1].strip() or is_quoted(tail[-1]) or len(tail[-1]) > _MAX_LINE:
            return 0
        if _ATTRIBUTION_START.match(tail[-1]):
            return 0
        pieces = [line.strip() for line in tail]
        if not _unclosed(first) and any(_WROTE.match(" ".join(pieces[start:])) for start in range(extra)):
            return 0
        if _WROTE.match(" ".join([first.strip(), *pieces])):
            return 1 + extra
    return 0


def _attribution(lines: list[str], index: int) -> tuple[int, bool] | None:
    """The attribution starting at ``index``: its line count and whether unmarked history follows."""
    line = lines[index]
    if not line.strip() or is_quoted(line) or len(line) > _MAX_LINE:
        return None
    if _SEPARATOR.match(line) or _is_outlook_header(lines, index):
        return 1, True
    if _UNDERSCORES.match(line):
        below = next((i for i in range(index + 1, min(len(lines), index + 3)) if lines[i].strip()), None)
        if below is not None and _is_outlook_header(lines, below):
            return 1, True
    if _WROTE.match(line):
        return 1, False
    span = _wrapped_span(lines, index)
    return (span, False) if span else None


def _followed_by_quote(lines: list[str], index: int) -> int | None:
    """The index of the ``>`` line after ``index`` (blank lines between), or None."""
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index if index < len(lines) and is_quoted(lines[index]) else None


def _quote_end(lines: list[str], index: int) -> int:
    """The end of the ``>`` block starting at ``index`` (blank lines inside it belong to it)."""
    end = index
    while end < len(lines) and (is_quoted(lines[end]) or not lines[end].strip()):
        end += 1
    while end > index and not lines[end - 1].strip():
        end -= 1
    return end


def _starts_with_attribution(block: list[str]) -> bool:
    """Whether a ``>`` block opens with its own attribution (Gmail's, Thunderbird's, Mail.ru's HTML)."""
    lines = [QUOTE_MARKS.sub("", line) for line in block]
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    return first is not None and _attribution(lines, first) is not None


def _text_after(lines: list[str]) -> list[bool]:
    """For each index, whether a non-blank line that is not ``>``-quoted comes at or after it."""
    after = [False] * (len(lines) + 1)
    for index in range(len(lines) - 1, -1, -1):
        after[index] = after[index + 1] or (bool(lines[index].strip()) and not is_quoted(lines[index]))
    return after


def _mark_header_above(lines: list[str], history: list[bool], index: int) -> None:
    """Mark the header lines right above an attribution (blank lines between them allowed)."""
    above = index - 1
    while above >= 0 and not history[above] and (_HEADERISH.match(lines[above]) or not lines[above].strip()):
        above -= 1
    first = above + 1
    while first < index and not lines[first].strip():
        first += 1
    history[first:index] = [True] * (index - first)


def _history_lines(lines: list[str]) -> list[bool]:
    """For each line, whether it is quoted history: an attribution and the ``>`` block after it (or the
    unmarked rest), a ``>`` block that opens with an attribution, that opens or ends the message, and
    every ``>`` block after one of those.

    A ``>`` block between lines of new text and before any history is kept: it is more likely the
    customer's own indented text (Outlook's and Yandex's indent is a ``<blockquote>``) or a piece
    quoted to answer it; the tracker shows it as a quote.
    """
    history = [False] * len(lines)
    text_after = _text_after(lines)
    attributed = text_before = False
    index = 0
    while index < len(lines):
        if is_quoted(lines[index]):
            end = _quote_end(lines, index)
            block = lines[index:end]
            if attributed or not text_before or not text_after[end] or _starts_with_attribution(block):
                history[index:end] = [True] * (end - index)
                attributed = True
            index = end
            continue
        found = _attribution(lines, index)
        if found is None:
            text_before = text_before or bool(lines[index].strip())
            index += 1
            continue
        attributed = True
        count, to_end = found
        _mark_header_above(lines, history, index)
        quote = None if to_end else _followed_by_quote(lines, index + count)
        end = len(lines) if quote is None else quote
        history[index:end] = [True] * (end - index)
        index = end
    return history


def _joined(lines: list[str]) -> str:
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def strip_text_quotes(text: str) -> str:
    """The new text of a reply; when none can be told apart, the whole text with its history marked."""
    lines = text.split("\n")
    history = _history_lines(lines)
    new = _joined([line for line, old in zip(lines, history, strict=True) if not old])
    if new:
        return new
    marked = [
        "> " + line if old and line.strip() and not is_quoted(line) else line
        for line, old in zip(lines, history, strict=True)
    ]
    return _joined(marked)
