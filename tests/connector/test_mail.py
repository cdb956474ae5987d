"""connector.mail: a login goes out only over TLS unless the URL says ``+insecure``.

Real servers: aiosmtpd (with and without STARTTLS, with AUTH) and the test Dovecot (tests/imap_server.py,
plain or offering STARTTLS). The certificates are self-signed for 127.0.0.1 and trusted through
``SSL_CERT_FILE``, as an operator with a private CA would do.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from connector.errors import ChannelRejected, ChannelUnavailable
from connector.mail import Mailbox, send_mail
from tests.conftest import wait_for
from tests.imap_server import ImapServer, append_raw, dovecot_server, unseen_uids
from tests.tls import self_signed_certificate

USER, PASSWORD = "hub", "smtp-secret"
# the servers accept AUTH in clear on purpose, so that only the client can be the one refusing
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@dataclass
class Recorder:
    """An SMTP server's handler and authenticator: the AUTH attempts it saw and the mail it took."""

    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, over TLS)
    received: list[bytes] = field(default_factory=list)

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), session.ssl is not None))
        ok = (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope.original_content or b"")
        return "250 OK"


def smtp_server(recorder: Recorder, tls: tuple[Path, Path] | None = None) -> Controller:
    """aiosmtpd demanding AUTH and, so that only the client can refuse, accepting it without TLS."""
    import ssl

    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        authenticator=recorder,
        auth_required=True,
        auth_require_tls=False,
        tls_context=context,
    )
    controller.start()
    return controller


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "support@hub.example.com", "ann@example.com", "[SUP-1] Re: Hi"
    mail.set_content("Hello")
    return mail


def test_smtp_without_starttls_refuses_to_log_in_in_clear() -> None:
    recorder = Recorder()
    server = smtp_server(recorder)
    try:
        with pytest.raises(ChannelRejected) as refused:
            send_mail(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{server.port}", message())
    finally:
        server.stop()
    assert "does not offer STARTTLS" in str(refused.value) and "smtp+insecure://" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    assert recorder.logins == [] and recorder.received == []  # no AUTH was ever sent


def test_smtp_insecure_scheme_logs_in_without_tls() -> None:
    recorder = Recorder()
    server = smtp_server(recorder)
    try:
        send_mail(f"smtp+insecure://{USER}:{PASSWORD}@127.0.0.1:{server.port}", message())
    finally:
        server.stop()
    assert recorder.logins == [(USER, False)] and len(recorder.received) == 1


def test_smtp_logs_in_after_starttls(certificate: tuple[Path, Path]) -> None:
    recorder = Recorder()
    server = smtp_server(recorder, tls=certificate)
    try:
        send_mail(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{server.port}", message())
    finally:
        server.stop()
    assert recorder.logins == [(USER, True)] and len(recorder.received) == 1


def test_smtp_without_credentials_still_sends_to_a_plain_relay(tmp_path: Path) -> None:
    from sandbox.smtp import start_sink

    sink = start_sink(tmp_path / "outbox")  # what `trackerhub up` and the tests use
    try:
        send_mail(f"smtp://127.0.0.1:{sink.port}", message())
    finally:
        sink.stop()
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


@pytest.fixture
def plain_imap() -> Iterator[ImapServer]:
    with dovecot_server() as server:
        yield server


def test_imap_without_starttls_refuses_to_log_in_in_clear(plain_imap: ImapServer) -> None:
    (uid,) = append_raw(plain_imap, [b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"])
    before = plain_imap.log()
    with pytest.raises(ChannelUnavailable) as refused, Mailbox(plain_imap.url(scheme="imap")):
        pass
    assert "does not offer STARTTLS" in str(refused.value) and "imap+insecure://" in str(refused.value)
    assert plain_imap.password not in str(refused.value)
    # Dovecot logs how each login connection ended: this one before any authentication
    ours = wait_for(
        lambda: "no auth attempts" in plain_imap.log()[len(before) :] and plain_imap.log()[len(before) :]
    )
    assert "no auth attempts" in ours and "Login:" not in ours and "auth failed" not in ours
    with Mailbox(plain_imap.url(scheme="imap+insecure")) as mailbox:
        assert [m.uid for m in mailbox.unseen()] == [uid]


def test_imap_logs_in_after_starttls(certificate: tuple[Path, Path]) -> None:
    with dovecot_server(tls=certificate) as server:
        (uid,) = append_raw(server, [b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"])
        with Mailbox(server.url(scheme="imap")) as mailbox:
            assert [m.uid for m in mailbox.unseen()] == [uid]
        assert unseen_uids(server) == [uid]  # BODY.PEEK: still unseen
        assert "TLS" in server.log()
