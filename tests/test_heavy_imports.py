"""Heavy libraries are loaded where they are used (issue 18): the web process, which validates the rule
file and journals messages, loads neither the ``jira`` client nor ``holidays`` (8.8 MiB to import, 8 more
to list its countries; bench/node.py's floors), nor the PostgreSQL dialect on a SQLite journal, nor matplotlib (the weekly report's chart)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from store.db import create_db_engine
from tests.conftest import REPO_ROOT

PROBE = """
import json, sys
from routes import create_app
app = create_app()
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"holidays", "jira", "alembic", "matplotlib"})
loaded += [m for m in ("sqlalchemy.dialects.postgresql",) if m in sys.modules]
print(json.dumps(loaded))
"""


def test_the_web_app_loads_no_tracker_client_no_holidays_and_no_other_dialect(
    tmp_path: Path, redis_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "KAITEN_", "HUB_", "DATABASE_"))}
    env.update(
        REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{tmp_path / 'hub.sqlite3'}", HUB_LOG_LEVEL="WARNING"
    )
    create_db_engine(env["DATABASE_URL"]).dispose()  # the schema first, as `trackerhub web` makes it
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
