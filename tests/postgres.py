"""A throwaway PostgreSQL cluster for tests, started from the Debian package's binaries.

Usage::

    server = start_postgres(tmp_path)        # initdb + postgres on a free 127.0.0.1 port
    url = server.url                          # postgresql+psycopg://postgres@127.0.0.1:PORT/trackerhub
    other = server.new_database("case_1")     # a fresh, empty database; returns its URL
    server.drop_database("case_1")            # drops it, closing any connections still open
    quick = server.new_schema("case_2")       # a fresh schema of `trackerhub` (a URL that uses it)
    server.drop_schema("case_2")
    server.stop()                             # stops the server and deletes its data

PostgreSQL refuses to run as root, so under root the cluster runs as the ``postgres`` system user
(created when missing) in a data directory it owns. Durability is off (fsync, synchronous_commit,
full_page_writes): a test cluster never outlives its run, and this makes it several times faster.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

SUPERUSER = "postgres"
DATABASE = "trackerhub"
_SEARCH_PATHS = "/usr/lib/postgresql/*/bin"
_PR_SET_PDEATHSIG = 1  # prctl(2)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the server did not start."""


def find_bin_dir() -> Path:
    """The folder with ``initdb`` and ``postgres``: Debian keeps them off PATH, under a versioned dir."""
    candidates = sorted(glob.glob(_SEARCH_PATHS), key=_version_key, reverse=True)
    for folder in candidates:
        if Path(folder, "initdb").exists() and Path(folder, "postgres").exists():
            return Path(folder)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH); "
        "`make test` installs it, or run: apt-get install postgresql"
    )


def _version_key(folder: str) -> int:
    version = Path(folder).parent.name
    return int(version) if version.isdigit() else 0


@dataclass
class PostgresServer:
    """A running test cluster. ``url`` is its ``trackerhub`` database; ``new_database`` makes more."""

    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _owned_dir: Path | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's ``trackerhub`` database."""
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of one database of this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A plain libpq connection string, for psycopg itself."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={database}"

    def new_database(self, name: str) -> str:
        """Create an empty database called ``name`` (dropping an old one of that name); return its URL."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def new_schema(self, name: str) -> str:
        """Create an empty schema ``name`` in the ``trackerhub`` database; return a URL whose connections
        create and find their tables there (``search_path``). Much faster than a new database (about
        30 ms against 250 ms), so it is what each test gets."""
        with psycopg.connect(self.dsn(DATABASE), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url}?options=-csearch_path%3D{name}"

    def drop_schema(self, name: str) -> None:
        """Drop a schema made by :meth:`new_schema`, with its tables."""
        with psycopg.connect(self.dsn(DATABASE), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections still use it."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (a fast shutdown) and delete a data directory this module created."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # a fast shutdown: SIGTERM would wait for clients
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)


def start_postgres(folder: Path, *, max_connections: int = 200, timeout: float = 60) -> PostgresServer:
    """Start a fresh cluster listening on a free 127.0.0.1 port, with a ``trackerhub`` database.

    ``folder`` receives the server log (``postgres.log``). The data directory is ``folder/pgdata``,
    except under root, where it is a temporary directory owned by ``postgres`` (the server cannot
    reach into pytest's private temp folders); :meth:`PostgresServer.stop` deletes it.
    Raises :class:`PostgresUnavailable` when the binaries are missing or the server does not come up.
    """
    bin_dir = find_bin_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "postgres.log"
    as_user: dict[str, Any] = {}
    owned_dir: Path | None = None
    if os.geteuid() == 0:
        user = _ensure_system_user()
        owned_dir = Path(tempfile.mkdtemp(prefix="trackerhub-pg-"))
        os.chown(owned_dir, user.pw_uid, user.pw_gid)
        data_dir = owned_dir / "data"
        # Popen switches user itself (no runuser in between), so signals reach postgres directly
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": owned_dir}
    else:
        data_dir = folder / "pgdata"
    socket_dir = data_dir.parent  # short enough for the 107-byte socket path limit, and writable

    with log_path.open("ab") as log:
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            **as_user,
        )
        port = _free_port()
        process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data_dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(socket_dir),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                f"max_connections={max_connections}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            **as_user,
        )
    server = PostgresServer("127.0.0.1", port, data_dir, process, log_path, owned_dir)
    try:
        _wait_ready(server, timeout)
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    except BaseException:
        server.stop()
        raise
    return server


def _die_with_parent() -> None:
    """Linux: the server gets SIGQUIT (an immediate shutdown) when the test process dies, however it
    dies, so a killed run leaves no server behind. Runs in the child after it switched user."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)


def _ensure_system_user() -> pwd.struct_passwd:
    """The ``postgres`` user the Debian package creates; made here when the package did not."""
    try:
        return pwd.getpwnam(SUPERUSER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SUPERUSER],
            check=True,
        )
        return pwd.getpwnam(SUPERUSER)


def _wait_ready(server: PostgresServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise PostgresUnavailable(
                f"postgres exited with {server.process.returncode}; log: {server.log_path}\n"
                + server.log_path.read_text(errors="replace")[-2000:]
            )
        try:
            with psycopg.connect(server.dsn(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"postgres did not accept connections; log: {server.log_path}")
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
