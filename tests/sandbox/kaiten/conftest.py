"""What the Kaiten look-alike's tests share: a webhook receiver for what it sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandboxes import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An endpoint that records the Kaiten webhooks the look-alike sends to it."""
    rec = Receiver("/hooks/kaiten")
    yield rec
    rec.stop()
