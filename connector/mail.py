"""SMTP out and IMAP in.

``SMTP_URL``: ``smtps://…`` (TLS from the start, port 465) or ``smtp://[user:password@]host[:port]``
(port 25), which upgrades with STARTTLS whenever the server offers it. ``IMAP_URL``:
``imaps://user:password@host[:port]/MAILBOX`` (port 993) or ``imap://…`` (port 143, STARTTLS).

A password is never sent in clear: with credentials, ``smtp://`` and ``imap://`` require STARTTLS (and
a certificate valid for the host), and a server that does not offer it is refused before any login,
with an error that says so. ``smtp+insecure://`` and ``imap+insecure://`` are the explicit opt-out for
a relay on a trusted network: a plain connection, no STARTTLS, the login in clear. Without
credentials ``smtp://`` still sends in clear when STARTTLS is not offered, as MTAs do.

Every connection has a timeout; passwords never appear in errors or logs.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from connector.errors import ChannelRejected, ChannelUnavailable

TIMEOUT = 30.0


@dataclass(frozen=True)
class ServerURL:
    """A parsed SMTP or IMAP URL."""

    scheme: str
    host: str
    port: int | None
    user: str | None
    password: str | None
    path: str

    @classmethod
    def parse(cls, url: str) -> ServerURL:
        """Split a server URL; credentials are URL-decoded."""
        parts = urlsplit(url)
        return cls(
            scheme=parts.scheme.lower(),
            host=parts.hostname or "localhost",
            port=parts.port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            path=unquote(parts.path.lstrip("/")),
        )

    def redacted(self) -> str:
        """The URL without credentials, for logs."""
        return f"{self.scheme}://{self.host}:{self.port or ''}"

    @property
    def insecure(self) -> bool:
        """``smtp+insecure://``/``imap+insecure://``: plain, and a login may go out without TLS."""
        return self.scheme.endswith("+insecure")

    @property
    def has_login(self) -> bool:
        """Whether the URL carries a user and a password."""
        return bool(self.user and self.password)

    def no_starttls(self) -> str:
        """Why a login was refused: the server offered no STARTTLS."""
        plain = self.scheme.partition(":")[0]
        return (
            f"{self.redacted()} does not offer STARTTLS, so the hub will not send its password in clear; "
            f"use {plain}s:// (TLS from the start), a server with STARTTLS, or {plain}+insecure:// on a "
            "trusted network"
        )


def send_mail(smtp_url: str, message: EmailMessage) -> None:
    """Send one message; transient failures raise ChannelUnavailable, refusals ChannelRejected."""
    server = ServerURL.parse(smtp_url)
    try:
        with _smtp(server) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise ChannelRejected(f"recipient refused by {server.redacted()}: {list(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        error = f"SMTP {exc.smtp_code} from {server.redacted()}"
        if 400 <= exc.smtp_code < 500:
            raise ChannelUnavailable(error) from None
        raise ChannelRejected(error) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ChannelUnavailable(f"SMTP {server.redacted()} unreachable: {type(exc).__name__}") from None


@contextmanager
def _smtp(server: ServerURL) -> Iterator[smtplib.SMTP]:
    if server.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            server.host, server.port or 465, timeout=TIMEOUT, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(server.host, server.port or 25, timeout=TIMEOUT, local_hostname=socket.getfqdn())
    try:
        smtp.ehlo()
        if server.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        elif server.scheme == "smtp" and server.has_login:
            raise ChannelRejected(f"SMTP {server.no_starttls()}")
        if server.has_login:
            smtp.login(server.user or "", server.password or "")
        yield smtp
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


class _NoStartTLS(Exception):
    """An ``imap://`` server with a login to send offers no STARTTLS (the poll retries every minute)."""


@dataclass(frozen=True)
class FetchedMail:
    """One message read from the mailbox, not yet flagged."""

    uid: int
    raw: bytes


class Mailbox:
    """An IMAP mailbox read with ``BODY.PEEK[]`` (reading does not set \\Seen); the caller flags."""

    def __init__(self, imap_url: str, *, timeout: float = TIMEOUT) -> None:
        self.server = ServerURL.parse(imap_url)
        self.folder = self.server.path or "INBOX"
        self._timeout = timeout
        self._client: object | None = None

    def __enter__(self) -> Mailbox:
        from imapclient import IMAPClient

        server = self.server
        ssl_on = server.scheme == "imaps"
        port = server.port or (993 if ssl_on else 143)
        client = None
        try:
            client = IMAPClient(server.host, port=port, ssl=ssl_on, timeout=self._timeout)
            if server.scheme == "imap" and b"STARTTLS" in client.capabilities():
                client.starttls(ssl.create_default_context())
            elif server.scheme == "imap" and server.has_login:
                raise _NoStartTLS(server.no_starttls())
            if server.has_login:
                client.login(server.user, server.password)
            client.select_folder(self.folder)
        except Exception as exc:  # imapclient raises socket, ssl and IMAP errors alike
            if client is not None:
                with contextlib.suppress(Exception):
                    client.shutdown()
            why = str(exc) if isinstance(exc, _NoStartTLS) else f"unavailable: {type(exc).__name__}"
            raise ChannelUnavailable(f"IMAP {why}") from None
        self._client = client
        return self

    def __exit__(self, *exc: object) -> None:
        client = self._client
        self._client = None
        if client is not None:
            with contextlib.suppress(Exception):  # the session is over either way
                client.logout()  # type: ignore[attr-defined]

    def unseen(self, limit: int = 200) -> Iterator[FetchedMail]:
        """Unseen messages, oldest first, at most ``limit`` per poll."""
        client = self._client
        assert client is not None
        uids = sorted(client.search(["UNSEEN"]))[:limit]  # type: ignore[attr-defined]
        for start in range(0, len(uids), 20):
            batch = uids[start : start + 20]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])  # type: ignore[attr-defined]
            for uid in batch:
                data = fetched.get(uid) or {}
                raw = data.get(b"BODY[]")
                if raw is not None:
                    yield FetchedMail(uid=uid, raw=bytes(raw))

    def mark_seen(self, uid: int) -> None:
        """Flag a message \\Seen: called only once its journal row is committed."""
        client = self._client
        assert client is not None
        client.add_flags([uid], [b"\\Seen"])  # type: ignore[attr-defined]
