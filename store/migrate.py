"""Bring the database's schema to the newest revision when a process starts, one process at a time.

Every process (``trackerhub web`` before gunicorn forks, each gunicorn worker, ``worker``,
``scheduler``, ``up``, the tests' engines) gets its engine from ``store.db.create_db_engine``, which
calls :func:`upgrade_to_head`. At head, the usual case, that costs one query and Alembic is not loaded.
Behind head, the process takes the schema lock, looks again (another node may have just migrated) and
runs the missing revisions in one transaction, so two nodes never migrate at once and a revision that
fails leaves the schema as it was.

A database made before migrations (wave 1: ``create_all``, no ``alembic_version``) is recognised by its
tables: they are compared with revision 0001's frozen copy and, when they match, the database is stamped
0001 and upgraded like any other. When they differ, nothing is changed and :class:`SchemaMismatch` says
what differs. (0001 is not made idempotent instead: a same-named table of another shape would pass.)
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the wave-1 schema, the revision a wave-1 database is stamped with
SCHEMA_LOCK_KEY = 0x747261636B6875  # "trackhu": PostgreSQL's advisory lock for schema changes


class SchemaMismatch(RuntimeError):
    """The database has tables by the hub's names that are not the schema the hub made; nothing changed."""


def upgrade_to_head(engine: Engine) -> None:
    """Migrate ``engine``'s database to :data:`HEAD` unless it is there already, or past it.

    A database past this release's head was migrated by a newer release, on another node during a
    rolling upgrade: revisions only add (store/migrations/README.md), so this release runs on it as it
    is, rather than refusing to start (a restarted worker of a node not yet upgraded)."""
    current = revision_of(engine)
    if current == HEAD:
        return
    if is_newer_than_head(current):
        log.warning("schema.newer revision=%s head=%s (a newer release migrated it)", current, HEAD)
        return
    with schema_lock(engine) as conn:
        _upgrade(conn)


def is_newer_than_head(revision: str | None) -> bool:
    """Whether ``revision`` comes after :data:`HEAD` (revisions are numbered ``0001``, ``0002``, …)."""
    return revision is not None and revision.isdigit() and int(revision) > int(HEAD)


def revision_of(engine: Engine) -> str | None:
    """The database's revision: ``None`` when it has none (an empty or a wave-1 database)."""
    try:
        with engine.connect() as conn:
            revision: str | None = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            return revision
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return None  # no such table; an unreachable server fails again, with its reason, in schema_lock


@contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection of its own, in one transaction, holding the schema lock until that transaction ends.

    PostgreSQL: a session advisory lock (it also holds across a revision's ``autocommit_block``); it ends
    with the connection, which is closed instead of going back to the pool. SQLite: an exclusive
    ``flock`` on a file beside the database (it waits as long as a migration takes, where SQLite's busy
    timeout gives up after 10 s), and the transaction is begun here with ``BEGIN EXCLUSIVE``: left to
    itself, pysqlite commits each DDL statement on its own, and a failed revision would leave half a
    schema.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.detach()
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            conn.commit()
            with conn.begin():
                yield conn
        return
    database = engine.url.database
    if not database or database == ":memory:":  # one process, one connection: nothing to race
        with engine.begin() as conn:
            yield conn
        return
    with _file_lock(Path(f"{database}.migrate-lock")), engine.connect() as conn:
        conn.detach()  # closed afterwards: the isolation level changed below never reaches the pool
        conn.connection.dbapi_connection.isolation_level = None  # type: ignore[union-attr]
        with conn.begin():
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
            yield conn


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, or the process dies
        yield


def _upgrade(conn: Connection) -> None:
    from alembic import command  # only a database behind head loads Alembic

    before = _revision_in(conn)
    if before == HEAD or is_newer_than_head(before):
        return  # another process migrated it while this one waited for the lock
    config = alembic_config(conn)
    if before is None and set(_wave1(config).tables) & set(sa.inspect(conn).get_table_names()):
        _check_wave1(conn, config)
        command.stamp(config, BASELINE)
        before = f"{BASELINE}(wave-1)"
    command.upgrade(config, "head")
    log.info("schema.upgraded from=%s to=%s", before or "empty", HEAD)


def alembic_config(conn: Connection) -> Config:
    """Alembic's configuration for running the revisions on ``conn`` (env.py takes it from there)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _revision_in(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    revision: str | None = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return revision


def _wave1(config: Config) -> sa.MetaData:
    from alembic.script import ScriptDirectory

    baseline = ScriptDirectory.from_config(config).get_revision(BASELINE)
    assert baseline is not None
    wave1: sa.MetaData = baseline.module.WAVE1
    return wave1


def _check_wave1(conn: Connection, config: Config) -> None:
    """Raise :class:`SchemaMismatch` unless the hub's tables in the database are revision 0001's."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    wave1 = _wave1(config)
    ours = set(wave1.tables)
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parents: kind != "table" or name in ours,
        },
    )
    differences = compare_metadata(context, wave1)
    if differences:
        listed = "; ".join(str(d) for d in differences)
        raise SchemaMismatch(
            f"the database has tables named as the hub's ({', '.join(sorted(ours))}) but no "
            f"alembic_version, and they are not the schema the hub made before migrations: {listed}. "
            "Nothing was changed; point DATABASE_URL at the hub's own database."
        )
