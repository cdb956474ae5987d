"""``make fuzz``: run both fuzz targets for a bounded time and say what they found.

Each target (``fuzz/email_parser.py``, ``fuzz/telegram_parser.py``) gets half of ``--seconds``. Seeds are
read at run time from ``tests/fixtures/`` and, when present, ``../shared/fixtures/`` (the Zammad mail
corpus and the Russian and Telegram samples): they are copied into ``var/fuzz/<target>/seeds`` for the
run and never into the repository. The corpus libFuzzer grows is kept in ``var/fuzz/<target>/corpus``, so
coverage accumulates from run to run; findings go to ``var/fuzz/<target>/artifacts/``:

- ``crash-*``: an exception other than the parser's ``MapperError``s, or a parsed message that cannot be
  journaled, read back, or filed (``fuzz/common.py``);
- ``timeout-*``: one input ran longer than ``--timeout`` seconds (a hang);
- ``oom-*``: the process passed ``--rss-limit-mb``;
- ``slow-unit-*``: not a finding, the slowest input over ``--slow`` seconds, kept for the record.

Exits 1 when a target found something. A finding is reproduced with
``.venv/bin/python fuzz/<target>_parser.py var/fuzz/<target>/artifacts/<file>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = FUZZ_DIR.parent
SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
MAX_SEED_BYTES = 256 * 1024


@dataclass(frozen=True)
class Target:
    name: str
    script: Path
    dictionary: Path
    max_len: int
    seeds: list[tuple[Path, str]]  # (folder, glob)


TARGETS = {
    "email": Target(
        "email",
        FUZZ_DIR / "email_parser.py",
        FUZZ_DIR / "email.dict",
        64 * 1024,
        [
            (FIXTURES / "email", "*.eml"),
            (SHARED_FIXTURES / "mail-zammad", "*.box"),
            (SHARED_FIXTURES / "mail-synthetic-ru", "*.eml"),
        ],
    ),
    "telegram": Target(
        "telegram",
        FUZZ_DIR / "telegram_parser.py",
        FUZZ_DIR / "telegram.dict",
        16 * 1024,
        [(FIXTURES / "telegram", "*.json"), (SHARED_FIXTURES / "telegram", "*.json")],
    ),
}


@dataclass
class Outcome:
    target: str
    seconds: float = 0.0
    seeds: int = 0
    executions: int = 0
    exec_per_s: int = 0
    coverage: str = "?"
    features: str = "?"
    corpus: str = "?"
    peak_rss_mb: int = 0
    findings: list[Path] = field(default_factory=list)
    slow_units: list[Path] = field(default_factory=list)
    exit_code: int = 0


def prepare_seeds(target: Target, folder: Path) -> int:
    """Copy the target's seed files into ``folder`` (emptied first); return how many."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0
    for source, pattern in target.seeds:
        if not source.is_dir():
            continue
        for path in sorted(source.glob(pattern)):
            if path.is_file() and path.stat().st_size <= MAX_SEED_BYTES:
                shutil.copyfile(path, folder / f"{source.name}--{path.name}")
                count += 1
    return count


def run_target(target: Target, seconds: int, workdir: Path, args: argparse.Namespace) -> Outcome:
    home = workdir / target.name
    corpus, seeds, artifacts = home / "corpus", home / "seeds", home / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    outcome = Outcome(target.name, seeds=prepare_seeds(target, seeds))
    before = {path.name for path in artifacts.iterdir()}
    command = [
        sys.executable,
        str(target.script),
        str(corpus),  # the first folder is where libFuzzer writes what it finds: never a fixture folder
        str(seeds),
        f"-max_total_time={seconds}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-max_len={target.max_len}",
        f"-dict={target.dictionary}",
        f"-artifact_prefix={artifacts}/",
        f"-report_slow_units={args.slow}",
        "-print_final_stats=1",
    ]
    log_path = home / "log.txt"
    print(f"fuzz {target.name}: {seconds} s, {outcome.seeds} seeds, log {log_path}", flush=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=seconds * 3 + 120,
        )
    outcome.seconds = time.monotonic() - started
    outcome.exit_code = proc.returncode
    text = log_path.read_text(encoding="utf-8", errors="replace")
    stats = dict(re.findall(r"^stat::(\w+):\s*(\d+)", text, re.MULTILINE))
    outcome.executions = int(stats.get("number_of_executed_units", 0))
    outcome.exec_per_s = int(stats.get("average_exec_per_sec", 0))
    outcome.peak_rss_mb = int(stats.get("peak_rss_mb", 0))
    progress = re.findall(r"cov: (\d+) ft: (\d+) corp: (\S+)", text)
    if progress:
        outcome.coverage, outcome.features, outcome.corpus = progress[-1]
    for path in sorted(artifacts.iterdir()):
        if path.name in before:
            continue
        (outcome.slow_units if path.name.startswith("slow-unit-") else outcome.findings).append(path)
    return outcome


def summary(outcomes: list[Outcome], seconds: int) -> str:
    cpus = len(os.sched_getaffinity(0))
    lines = [
        f"Fuzzing run, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, {seconds} s in all, "
        f"{cpus} CPUs, Python {platform.python_version()}, atheris {_atheris_version()}",
        "",
        "| target | time | seeds | executions | exec/s | coverage (cov / ft) | corpus | peak RSS "
        "| findings |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for o in outcomes:
        found = ", ".join(p.name for p in o.findings) or "none"
        lines.append(
            f"| {o.target} | {o.seconds:.0f} s | {o.seeds} | {o.executions:,} | {o.exec_per_s:,} | "
            f"{o.coverage} / {o.features} | {o.corpus} | {o.peak_rss_mb} MB | {found} |"
        )
    slow = [p for o in outcomes for p in o.slow_units]
    if slow:
        lines += ["", "Slow units kept (not findings): " + ", ".join(str(p) for p in slow)]
    return "\n".join(lines)


def _atheris_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("atheris")
    except PackageNotFoundError:
        return "not installed"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=300, help="total time, split between the targets")
    parser.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=sorted(TARGETS))
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "var" / "fuzz")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (a hang)")
    parser.add_argument("--slow", type=int, default=2, help="keep inputs slower than this, as slow units")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if _atheris_version() == "not installed":
        print("atheris is not installed: `make fuzz` installs the project's `fuzz` extra", file=sys.stderr)
        return 2
    share = max(args.seconds // len(args.targets), 1)
    outcomes = [run_target(TARGETS[name], share, args.workdir, args) for name in args.targets]
    print()
    print(summary(outcomes, args.seconds))
    findings = [p for o in outcomes for p in o.findings]
    for path in findings:
        print(
            f"finding: {path} (reproduce: .venv/bin/python fuzz/{path.parent.parent.name}_parser.py {path})"
        )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
