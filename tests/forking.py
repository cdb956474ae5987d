"""Run code in a forked child, as gunicorn's preloaded workers and the worker's slots are."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any


def in_child(work: Callable[[], object]) -> dict[str, Any]:
    """Run ``work`` in a forked child and return what it returned (JSON through a pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(read_end)
            result = json.dumps({"ok": work()})
        except BaseException as exc:
            result, code = json.dumps({"error": f"{type(exc).__name__}: {exc}"}), 1
        os.write(write_end, result.encode())
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = json.loads(pipe.read())
    os.waitpid(pid, 0)
    return answer
