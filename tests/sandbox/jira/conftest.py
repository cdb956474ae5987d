"""What the Jira look-alike's tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandboxes import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint recording what the look-alike sends."""
    rec = Receiver()
    yield rec
    rec.stop()
