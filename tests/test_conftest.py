"""The test harness itself: a Redis that does not come up stops the run with a reason, not a hang or
a cascade of unrelated failures later."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import conftest


def test_a_redis_server_that_never_answers_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "redis-server"
    broken.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(broken) if name == "redis-server" else None)
    with pytest.raises(pytest.fail.Exception, match=r"did not answer PING .*\(exit code 3\)"):
        conftest.start_redis_server(tmp_path)
