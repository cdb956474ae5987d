"""The report tests' fixtures: the Kaiten look-alike and its context, beside tests/jobs/conftest.py's."""

from __future__ import annotations

from tests.jobs.test_kaiten_delivery import kaiten_sandbox, kctx  # noqa: F401 - the Kaiten fixtures
