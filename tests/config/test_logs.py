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
    ],
)
def test_secrets_are_redacted(message: str, expected: str) -> None:
    line = formatted(message)
    assert expected in line
    assert "hunter2" not in line and "AA-b_c" not in line and "abc.def" not in line


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
