"""SMTP out and IMAP in.

``SMTP_URL``: ``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it),
``smtps://…`` (TLS from the start, port 465). ``IMAP_URL``: ``imaps://user:password@host[:port]/MAILBOX``
or ``imap://…``. Every connection has a timeout; passwords never appear in errors or logs.
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
        if server.user and server.password:
            smtp.login(server.user, server.password)
        yield smtp
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


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

        ssl_on = self.server.scheme == "imaps"
        port = self.server.port or (993 if ssl_on else 143)
        client = None
        try:
            client = IMAPClient(self.server.host, port=port, ssl=ssl_on, timeout=self._timeout)
            if self.server.user and self.server.password:
                client.login(self.server.user, self.server.password)
            client.select_folder(self.folder)
        except Exception as exc:  # imapclient raises socket, ssl and IMAP errors alike
            if client is not None:
                with contextlib.suppress(Exception):
                    client.shutdown()
            raise ChannelUnavailable(
                f"IMAP {self.server.redacted()} unavailable: {type(exc).__name__}"
            ) from None
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
