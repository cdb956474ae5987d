"""A forked child (a gunicorn worker of the preloaded app, a delivery slot of ``trackerhub worker
--slots``) never uses a database connection its parent opened: two processes on one socket or one SQLite
handle interleave their statements."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.forking import in_child


def test_a_forked_child_opens_its_own_database_connection(engine: Engine) -> None:
    # the parent's pooled connection carries a session-private table; a child that reused it would see it
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE opened_by_parent (x INTEGER)"))
        conn.commit()
    assert engine.pool.checkedin() == 1

    def child_sees_parent_table() -> bool:
        with engine.connect() as conn:
            tables = conn.execute(sa.text("SELECT 1 FROM opened_by_parent")).all()
        return tables is not None

    answer = in_child(child_sees_parent_table)

    assert "error" in answer and "opened_by_parent" in answer["error"], answer  # a new session: no such table
    with engine.connect() as conn:  # the parent's connection is still its own, table and all
        assert conn.execute(sa.text("SELECT count(*) FROM opened_by_parent")).scalar() == 0
