"""``make lint``'s dependency audit: pip-audit over the pins in constraints.txt, when it can see its data.

pip-audit asks a vulnerability service about each pinned version: PyPI's JSON API
(``/pypi/<name>/<version>/json``, its default) or OSV (``api.osv.dev``). Either can be out of reach
(no network, or a PyPI mirror that serves packages but not that API, which pip-audit reports as
"not found on PyPI" and then calls a pass). So each service is first asked about a canary, a version
with published advisories (Jinja2 3.1.4: GHSA-q2x7-8rv6-6q7h, GHSA-cpwx-vrp4-4pq7).
The first service that names the canary's advisories audits the pins; a known vulnerability fails the
run. When none does, one line says the audit was skipped, and the run passes: a missing network must
not fail CI, and a skipped audit must not look like a clean one.

    python tools/audit_deps.py [-r constraints.txt] [--osv-url URL]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CANARY = "jinja2==3.1.4"
SERVICES = ("pypi", "osv")


@dataclass(frozen=True)
class Finding:
    """One known vulnerability of one pin."""

    name: str
    version: str
    ids: tuple[str, ...]
    fixed_in: tuple[str, ...]

    def line(self) -> str:
        fix = f"fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "no fixed version yet"
        return f"pip-audit: {self.name} {self.version}: {', '.join(self.ids)} ({fix})"


def run_pip_audit(requirements: Path, service: str, osv_url: str | None) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report for pinned ``requirements`` (no resolution), or None and why not."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        "10",
        "--vulnerability-service",
        service,
    ]
    if service == "osv" and osv_url:
        command += ["--osv-url", osv_url]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    try:
        report = json.loads(run.stdout)
    except ValueError:
        last = (run.stderr.strip().splitlines() or ["no answer"])[-1]
        return None, last.split(":", 1)[0][:80]  # the exception's name: pip-audit's lines are long
    return (report, "") if isinstance(report, dict) else (None, "unexpected report")


def findings(report: dict[str, Any]) -> list[Finding]:
    """Every known vulnerability in a pip-audit JSON report."""
    found = []
    for dependency in report.get("dependencies", []):
        for vuln in dependency.get("vulns") or []:
            found.append(
                Finding(
                    name=str(dependency.get("name")),
                    version=str(dependency.get("version")),
                    ids=(str(vuln.get("id")), *sorted(str(a) for a in vuln.get("aliases") or [])),
                    fixed_in=tuple(str(v) for v in vuln.get("fix_versions") or []),
                )
            )
    return found


def skipped(report: dict[str, Any]) -> list[str]:
    """Dependencies the service could not answer for, with its reason."""
    return [
        f"{d.get('name')}: {str(d.get('skip_reason')).split(' and could not', 1)[0].lower()}"
        for d in report.get("dependencies", [])
        if d.get("skip_reason")
    ]


def reachable_service(osv_url: str | None, folder: Path) -> tuple[str | None, list[str]]:
    """The first service whose answer for the canary names its advisories, and why the others failed."""
    canary = folder / "canary.txt"
    canary.write_text(CANARY + "\n")
    reasons: list[str] = []
    for service in ("osv",) if osv_url else SERVICES:
        report, why = run_pip_audit(canary, service, osv_url)
        if report is not None and findings(report):
            return service, reasons
        reasons.append(
            f"{service}: {why or '; '.join(skipped(report or {})) or 'no advisories for the canary'}"
        )
    return None, reasons


def audit(requirements: Path, osv_url: str | None = None) -> tuple[int, list[str]]:
    """Exit status and report lines: 1 when a pin has a known vulnerability, else 0."""
    with tempfile.TemporaryDirectory(prefix="audit-") as temp:
        service, reasons = reachable_service(osv_url, Path(temp))
    if service is None:
        why = "; ".join(reasons)
        return 0, [f"pip-audit: skipped, no vulnerability data reachable ({why}); nothing checked"]
    report, why = run_pip_audit(requirements, service, osv_url)
    if report is None:
        return 0, [f"pip-audit: skipped, {service} stopped answering ({why}); nothing checked"]
    lines = [f"pip-audit: not audited: {entry}" for entry in skipped(report)]
    found = findings(report)
    if found:
        return 1, [*lines, *(f.line() for f in found)]
    audited = len(report.get("dependencies", [])) - len(skipped(report))
    clean = f"pip-audit: no known vulnerabilities in {audited} pins of {requirements.name} ({service})"
    return 0, [*lines, clean]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-r", "--requirements", type=Path, default=ROOT / "constraints.txt")
    parser.add_argument("--osv-url", help="an OSV-compatible query endpoint (then only OSV is asked)")
    args = parser.parse_args(argv)
    status, lines = audit(args.requirements, args.osv_url)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
