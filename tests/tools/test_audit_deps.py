"""tools/audit_deps.py, run as `make lint` runs it, against a local OSV-compatible service.

The service answers OSV's ``POST /v1/query`` from tests/fixtures/osv (real advisories, see SOURCES.md),
so pip-audit runs for real: a known vulnerable pin fails the audit, clean pins pass, and an unreachable
service, or one that knows nothing (as a PyPI mirror without the JSON API), skips with one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, REPO_ROOT, free_port

ADVISORIES = {
    ("jinja2", "3.1.4"): "jinja2-GHSA-cpwx-vrp4-4pq7.json",
    ("jinja2", "3.1.5"): "jinja2-GHSA-cpwx-vrp4-4pq7.json",
    ("aiosmtpd", "1.4.5"): "aiosmtpd-GHSA-wgjv-9j3q-jhg8.json",
}


def osv_service(known: dict[tuple[str, str], str]) -> ThreadingHTTPServer:
    """An OSV look-alike on 127.0.0.1 that knows the advisories in ``known``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = (query["package"]["name"], query["version"])
            answer = {}
            if key in known:
                answer = {"vulns": [json.loads((FIXTURES / "osv" / known[key]).read_text())]}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def osv() -> Iterator[str]:
    server = osv_service(ADVISORIES)
    yield f"http://127.0.0.1:{server.server_port}/v1/query"
    server.shutdown()


def audit(requirements: Path, osv_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/audit_deps.py", "-r", str(requirements), "--osv-url", osv_url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def pins(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_known_vulnerable_pin_fails_the_audit(osv: str, tmp_path: Path) -> None:
    run = audit(pins(tmp_path, "aiosmtpd==1.4.5", "Jinja2==3.1.6"), osv)
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        "pip-audit: aiosmtpd 1.4.5: PYSEC-2026-1111, CVE-2024-34083, GHSA-wgjv-9j3q-jhg8 (fixed in 1.4.6)"
        in run.stdout.splitlines()
    )
    assert "jinja2" not in run.stdout.lower()


def test_the_projects_own_pins_are_read_and_pass_when_clean(osv: str) -> None:
    run = audit(REPO_ROOT / "constraints.txt", osv)
    assert run.returncode == 0, run.stdout + run.stderr
    count = sum(1 for line in (REPO_ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    assert (
        run.stdout.strip() == f"pip-audit: no known vulnerabilities in {count} pins of constraints.txt (osv)"
    )


def test_an_unreachable_service_skips_with_one_line(tmp_path: Path) -> None:
    run = audit(pins(tmp_path, "aiosmtpd==1.4.5"), f"http://127.0.0.1:{free_port()}/v1/query")
    assert run.returncode == 0
    [line] = run.stdout.strip().splitlines()
    assert line.startswith("pip-audit: skipped, no vulnerability data reachable (osv: ")
    assert line.endswith("nothing checked")


def test_a_service_without_data_is_a_skip_not_a_pass(tmp_path: Path) -> None:
    """A mirror that answers but knows no advisory must not make a vulnerable pin look clean."""
    empty = osv_service({})
    try:
        run = audit(pins(tmp_path, "aiosmtpd==1.4.5"), f"http://127.0.0.1:{empty.server_port}/v1/query")
    finally:
        empty.shutdown()
    assert run.returncode == 0
    assert run.stdout.strip() == (
        "pip-audit: skipped, no vulnerability data reachable (osv: no advisories for the canary); nothing checked"
    )
