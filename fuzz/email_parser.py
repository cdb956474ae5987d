"""Coverage-guided fuzzing of ``mappers.email.parse_email`` with atheris (libFuzzer).

Run through ``make fuzz`` (``fuzz/run.py``), or by hand with libFuzzer flags::

    .venv/bin/python fuzz/email_parser.py var/fuzz/email/corpus SEED_DIR -max_total_time=60

and reproduce a finding with ``.venv/bin/python fuzz/email_parser.py var/fuzz/email/artifacts/crash-…``.
The input is the raw mail, as ``POST /hooks/email`` and the IMAP poll hand it over.
"""

from __future__ import annotations

import sys

import atheris
import common  # the project on sys.path; not instrumented

with atheris.instrument_imports(include=["mappers", "email"]):
    from mappers.email import parse_email
    from mappers.errors import MapperError


def test_one_input(data: bytes) -> None:
    try:
        message = parse_email(data, received_at=common.NOW, own_domain="hub.example.com")
    except MapperError:
        return
    common.check_message(message)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
