"""Alembic's environment for the hub's schema.

store.migrate runs it at start-up with a connection that holds the schema lock inside a transaction
(``config.attributes["connection"]``). The ``alembic`` command (README.md here) runs it against
``DATABASE_URL``, under the same lock; ``--sql`` writes the SQL instead of running it.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from store.db import metadata


def render_item(kind: str, obj: Any, _autogen: Any) -> str | Literal[False]:
    """Render store.db's column types as SQLAlchemy's own (they differ only in what they bind), so a
    generated revision never imports store.db: a revision must stay as written when store.db changes."""
    if kind == "type" and isinstance(obj, sa.types.TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def configure(**options: Any) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite alters a table by copying it; PostgreSQL gets plain ALTERs
        render_item=render_item,
        **options,
    )


def run_on(conn: Connection) -> None:
    configure(connection=conn)
    with context.begin_transaction():  # inside store.migrate's transaction: that one decides
        context.run_migrations()


def run_from_the_command_line() -> None:
    from config.settings import get_settings
    from store.migrate import schema_lock

    url = get_settings().DATABASE_URL
    if context.is_offline_mode():
        configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with schema_lock(engine) as conn:
            run_on(conn)
    finally:
        engine.dispose()


given: Connection | None = context.config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    run_from_the_command_line()
