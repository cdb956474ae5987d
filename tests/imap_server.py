"""A real Dovecot IMAP server for tests, from the Debian package (``make test`` installs it).

:func:`dovecot_server` writes a minimal configuration into a fresh temporary directory: one user in a
passwd-file, maildir storage inside that directory, plain IMAP (no SSL) on a free 127.0.0.1 port, or
with ``tls=`` a certificate and key, IMAP that offers STARTTLS. A plain server's URL is
``imap+insecure://`` (the hub sends no password in clear otherwise). It runs
``dovecot -F -c <conf>`` as root in the foreground and yields an :class:`ImapServer`;
:func:`append_raw` puts raw messages into the mailbox over IMAP with imapclient, as an MTA's delivery
would leave them (unseen).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.conftest import free_port

USER = "hub"
PASSWORD = "imap-secret"
FOLDER = "INBOX"
MAIL_USER = "dovecot"  # the package's system user; mail processes may not run as root
NOT_INSTALLED = "dovecot is not installed; `make test` installs it"

_CONFIG = """\
# Written by tests/imap_server.py: a throwaway single-user IMAP server.
base_dir = {root}/run
state_dir = {root}/state
instance_name = trackerhub-test-{port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = root
default_internal_group = root
default_login_user = dovenull
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# No anvil auth penalty: the wrong-password test must not slow every later login from 127.0.0.1.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""


@dataclass(frozen=True)
class ImapServer:
    """A running Dovecot: where it listens and who may log in."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    tls: bool = False

    def url(self, *, password: str | None = None, folder: str = FOLDER, scheme: str | None = None) -> str:
        """The ``IMAP_URL`` of the user's folder (optionally with another password or scheme)."""
        secret = self.password if password is None else password
        scheme = scheme or ("imap" if self.tls else "imap+insecure")
        return f"{scheme}://{self.user}:{secret}@{self.host}:{self.port}/{folder}"

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in imapclient session on the user's INBOX."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            client.login(self.user, self.password)
            client.select_folder(FOLDER)
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    def log(self) -> str:
        """Dovecot's own log, for failure messages."""
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def dovecot_server(tls: tuple[Path, Path] | None = None) -> Iterator[ImapServer]:
    """Start a throwaway Dovecot (offering STARTTLS with ``tls``: certificate and key files);
    ``pytest.fail`` (never skip) when it is not installed."""
    binary = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        pytest.fail(NOT_INSTALLED)
    if os.geteuid() != 0:
        pytest.fail("the Dovecot test server runs as root (it hands its mail directories to dovecot)")
    # Short and outside pytest's tmp tree: Dovecot's UNIX sockets live under base_dir (108-byte limit).
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)  # the login processes run as the unprivileged login user
    port = free_port()
    try:
        for sub in ("run", "state", "mail", "home"):
            (root / sub).mkdir()
        for sub in ("mail", "home"):  # Dovecot never accesses mail as root
            shutil.chown(root / sub, MAIL_USER, MAIL_USER)
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        config = root / "dovecot.conf"
        ssl = f"ssl = yes\nssl_cert = <{tls[0]}\nssl_key = <{tls[1]}" if tls else "ssl = no"
        config.write_text(_CONFIG.format(root=root, port=port, mail_user=MAIL_USER, ssl=ssl))
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        server = ImapServer("127.0.0.1", port, USER, PASSWORD, root, tls=tls is not None)
        try:
            _wait_for_greeting(server, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_greeting(server: ImapServer, process: subprocess.Popen[bytes]) -> None:
    """Block until Dovecot says ``* OK``; fail with its output when it dies or never answers."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"dovecot exited with {process.returncode}:\n{output}\n{server.log()}")
        try:
            with socket.create_connection((server.host, server.port), timeout=1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if "Fatal:" in server.log():
            break
        time.sleep(0.05)
    pytest.fail(f"dovecot did not greet on {server.host}:{server.port}:\n{server.log()}")


def append_raw(server: ImapServer, messages: Iterable[bytes], *, seen: bool = False) -> list[int]:
    """APPEND raw messages to the INBOX (unseen unless ``seen``); return their UIDs, in order."""
    uids: list[int] = []
    flags = [b"\\Seen"] if seen else []
    with server.client() as client:
        for raw in messages:
            response = client.append(FOLDER, raw, flags=flags)
            uids.append(_appended_uid(response))
    return uids


def _appended_uid(response: bytes) -> int:
    """The UID from Dovecot's ``[APPENDUID <validity> <uid>]`` answer."""
    text = response.decode(errors="replace")
    marker = "APPENDUID "
    if marker not in text:
        raise AssertionError(f"no APPENDUID in {text!r}")
    return int(text.split(marker, 1)[1].split()[1].rstrip("]"))


def flags_by_uid(server: ImapServer) -> dict[int, set[bytes]]:
    """Every message's flags, by UID."""
    with server.client() as client:
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: set(data[b"FLAGS"]) for uid, data in fetched.items()}


def unseen_uids(server: ImapServer) -> list[int]:
    """The UIDs the server reports UNSEEN, sorted."""
    with server.client() as client:
        return sorted(client.search(["UNSEEN"]))
