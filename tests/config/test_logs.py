"""``ScrubbingFormatter``: secrets never reach a log line, whether or not the cheap pre-check runs the regex."""

from __future__ import annotations

import logging
import sys

import pytest

from config.logs import ScrubbingFormatter

FORMAT = "level=%(levelname)s msg=%(message)s"


def formatted(message: str, *args: object) -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    return ScrubbingFormatter(FORMAT).format(record)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "GET https://api.telegram.org/bot123:AA-b_c/sendMessage",
            "https://api.telegram.org/bot<token>/sendMessage",
        ),
        ("url=/BOT42:xyz", "/BOT<token>"),
        ("Authorization: Bearer abc.def", "Bearer <token>"),
        ("header=BEARER   abc", "BEARER   <token>"),
        ("redis://user:hunter2@127.0.0.1:6379/0", "redis://user:<password>@127.0.0.1"),
        ("Error handling request POST /hooks/kaiten?token=hunter2", "/hooks/kaiten?token=<secret>"),
        ("GET /hooks/jira?lang=ru&Token=hunter2&x=1 HTTP/1.1", "?lang=ru&Token=<secret>&x=1 HTTP/1.1"),
        ("url=https://hub.example/cb?client_secret=hunter2#top", "?client_secret=<secret>#top"),
        ("path=/x?api_key=hunter2 status=200", "?api_key=<secret> status=200"),
        ("path=/x?sig=hunter2&password=hunter2", "?sig=<secret>&password=<secret>"),
    ],
)
def test_secrets_are_redacted(message: str, expected: str) -> None:
    line = formatted(message)
    assert expected in line
    assert "hunter2" not in line and "AA-b_c" not in line and "abc.def" not in line


@pytest.mark.parametrize(
    "line",
    [
        "deliver.found-earlier-create message_id=ab12 key=SUP-12",  # key=value, not a query
        "GET /forms/support?lang=ru HTTP/1.1",  # a query without a credential
        "canned.expanded issue=SUP-1 comment=10001 tokens=3",
    ],
)
def test_lines_without_credentials_keep_their_values(line: str) -> None:
    assert formatted(line) == f"level=INFO msg={line}"


def test_secrets_in_arguments_and_tracebacks_are_redacted() -> None:
    assert "s3cret" not in formatted("connecting to %s", "postgresql://hub:s3cret@db/hub")
    try:
        raise RuntimeError("https://api.telegram.org/bot9:s3cret/getFile failed")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "s3cret" not in ScrubbingFormatter(FORMAT).format(record)


def test_ordinary_lines_are_left_alone() -> None:
    line = "intake.accepted message_id=ab12 channel=telegram kind=new status=queued enqueued=yes"
    assert formatted(line) == f"level=INFO msg={line}"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("x\nts=forged level=ERROR msg=hub.pwned", "event=x\\nts=forged level=ERROR msg=hub.pwned"),
        ("\ud800kind", "event=\\ud800kind"),  # an unpaired surrogate: not encodable as UTF-8
        ("bell\x07\r", "event=bell\\x07\\r"),
        ("Привет, 世界", "event=Привет, 世界"),  # letters of every script are kept
    ],
)
def test_text_a_stranger_chose_stays_one_line_of_valid_utf8(value: str, written: str) -> None:
    line = formatted("hook.unsupported event=%s", value)
    assert line == f"level=INFO msg=hook.unsupported {written}"
    assert "\n" not in line
    line.encode("utf-8")  # raises on an unpaired surrogate


def test_a_traceback_keeps_its_lines() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "\nValueError: boom" in ScrubbingFormatter(FORMAT).format(record)
