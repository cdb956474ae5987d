"""A self-signed certificate for 127.0.0.1, made with the openssl command, for TLS test servers.

A client trusts it when ``SSL_CERT_FILE`` names the certificate: ``ssl.create_default_context()``
loads OpenSSL's default verify paths, which that variable overrides.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """``(certificate, key)`` files valid for 127.0.0.1 and localhost, written into ``folder``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is not installed (Debian package openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key.chmod(0o644)  # Dovecot's config reader runs as root, aiosmtpd as us: either can read it
    return cert, key
