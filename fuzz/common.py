"""What both fuzz targets share: the project on ``sys.path``, the clock, and the "journal-able" check.

A finding is any exception other than the parser's documented :class:`mappers.errors.MapperError`
subclasses, or a hang (libFuzzer's ``-timeout``). Beyond "does not raise", every parsed message must be
what the request path journals and the worker reads back: JSON-serialisable and valid again when read,
and it must become an issue description that fits the tracker.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def check_message(message: Any) -> None:
    """Raise when a parsed message could not be journaled, read back by the worker, or filed."""
    from mappers.issue import TEXT_LIMIT, describe
    from mappers.models import InboundMessage

    body = message.model_dump_json()
    again = InboundMessage.model_validate_json(body)
    if again != message.model_copy(update={"attachments": again.attachments}):
        raise AssertionError("the journaled message reads back different")
    description = describe(message)
    if len(description) > TEXT_LIMIT:
        raise AssertionError(f"issue description of {len(description)} characters, over {TEXT_LIMIT}")
