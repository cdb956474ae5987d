"""The Kaiten connector under test, talking to ``responses``' mocks."""

from __future__ import annotations

import pytest

from connector.kaiten import KaitenTracker
from tests.connector.kaiten.factories import ORIGIN, TOKEN


@pytest.fixture
def tracker() -> KaitenTracker:
    return KaitenTracker(ORIGIN, TOKEN, timeout=5, read_retries=0)
