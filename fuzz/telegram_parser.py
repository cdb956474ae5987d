"""Coverage-guided fuzzing of the Telegram update parser (``mappers.telegram.parse_update``) with atheris.

Run through ``make fuzz`` (``fuzz/run.py``), or by hand with libFuzzer flags::

    .venv/bin/python fuzz/telegram_parser.py var/fuzz/telegram/corpus SEED_DIR -max_total_time=60

The input is the webhook body; it is decoded as ``POST /hooks/telegram`` decodes it (``json.loads``,
whose failures the route answers with 400), then parsed.
"""

from __future__ import annotations

import json
import sys

import atheris
import common  # the project on sys.path; not instrumented

with atheris.instrument_imports(include=["mappers"]):
    from mappers.errors import MapperError
    from mappers.telegram import parse_update


def test_one_input(data: bytes) -> None:
    try:
        update = json.loads(data)
    except (ValueError, RecursionError):  # what routes/telegram.py answers with 400
        return
    try:
        message = parse_update(update, received_at=common.NOW)
    except MapperError:
        return
    common.check_message(message)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
