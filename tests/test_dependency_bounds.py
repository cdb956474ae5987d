"""pyproject.toml's lower bounds leave out the releases with published advisories the hub is exposed to.

constraints.txt pins what `make setup` installs (and `make lint` audits it); these bounds are what an
installation without the constraints may pick, so they must exclude each vulnerable release.
"""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT

# (package, the last release with the advisory, the advisory)
VULNERABLE = [
    ("Jinja2", "3.1.5", "GHSA-cpwx-vrp4-4pq7 / CVE-2025-27516: sandbox escape through |attr"),
    ("Jinja2", "3.1.4", "GHSA-q2x7-8rv6-6q7h / CVE-2024-56326: sandbox escape through str.format"),
    ("gunicorn", "21.2.0", "GHSA-w3h3-4rj7-4ph4 / CVE-2024-1135: request smuggling"),
    (
        "gunicorn",
        "22.0.0",
        "GHSA-hc5x-x2vx-497g / CVE-2024-6827: request smuggling (advisory: fixed in 23.0.0)",
    ),
    ("requests", "2.32.3", "CVE-2024-47081: .netrc credentials sent for a wrong host"),
    ("Werkzeug", "3.0.5", "CVE-2024-49767: multipart form memory exhaustion"),
    ("Flask", "3.1.0", "GHSA-4grg-w6v8-c28g / CVE-2025-47278: fallback signing key order"),
    ("aiosmtpd", "1.4.5", "GHSA-wgjv-9j3q-jhg8 / CVE-2024-34083: STARTTLS command injection"),
    ("urllib3", "2.6.2", "CVE-2026-21441: decompression bomb through redirects"),
]


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {r.name.lower(): r for r in requirements}


@pytest.mark.parametrize(("package", "version", "advisory"), VULNERABLE)
def test_lower_bound_excludes_a_vulnerable_release(package: str, version: str, advisory: str) -> None:
    requirement = declared().get(package.lower())
    assert requirement is not None, f"{package} is not declared in pyproject.toml"
    assert not requirement.specifier.contains(version), f"{requirement} allows {version} ({advisory})"
