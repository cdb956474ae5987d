"""Helpers every benchmark in ``bench/`` shares: processes it starts, what it reads from /proc, the report.

- processes: a private ``redis-server``, gunicorn serving an app, the sandbox Jira in its own process,
  all started in their own session and stopped on the way out (``stop_process``);
- /proc: CPU seconds of a process (``cpu_seconds``), its memory (``memory_kb``: VmRSS, VmHWM), its
  children, and ``OtherLoad``: how much of the machine processes other than the benchmark's used while
  it measured (the machine is shared, so every measurement records it);
- the report: ``machine()`` (what the numbers were measured on), ``write_section`` (rewrite one
  benchmark's section of BENCHMARKS.md between its ``<!-- name:begin -->``/``<!-- name:end -->``
  markers), small number formatters.

Functions are only added here, never changed in meaning: several scripts import them.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from cli.processes import WEB_ALLOCATOR_ENV
from sandbox.server import TOKEN_ENV, TOKEN_HEADER

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
BENCHMARKS_MD = PROJECT_ROOT / "BENCHMARKS.md"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Settings the hub reads from the environment: dropped from the children's environment so a developer's
# shell cannot change what is measured (config/settings.py lists them all).
HUB_ENV_PREFIXES = ("HUB_", "JIRA_", "KAITEN_", "TELEGRAM_", "SMTP_", "IMAP_")
HUB_ENV_NAMES = ("REDIS_URL", "DATABASE_URL")
SANDBOX_TOKEN = secrets.token_urlsafe(16)  # the control token of the look-alikes a bench starts
SANDBOX_CONTROL = {TOKEN_HEADER: SANDBOX_TOKEN}

HEADER = """# Benchmarks

Numbers measured by the scripts in `bench/`, each on one machine in one run. Every benchmark compares
the hub against a baseline measured in the same run on the same machine (DESIGN.md, "Tests and
measurements"), because absolute numbers say more about the machine than about the code: read the
ratios first. Each script rewrites only its own section, between its `<!-- name:begin -->` and
`<!-- name:end -->` markers; re-run a script to refresh its section. These are measurements, not
tests: nothing fails when a number is worse.

"""


def report(line: str = "") -> None:
    """A script's progress and results, on stdout."""
    print(line, flush=True)


def utc_now_text() -> str:
    """The date line of a report."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- processes -------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without the hub's settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(HUB_ENV_PREFIXES) and key not in HUB_ENV_NAMES
    }
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM a child we started (gunicorn stops its workers gracefully); SIGKILL its group if stuck."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    # The child leads its own process group (start_new_session), so this reaches its workers too.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    """The end of a log file."""
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A private redis-server without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    data = workdir / "redis"
    data.mkdir()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""]
    args += ["--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
    log = (workdir / "redis.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = Redis.from_url(url, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except RedisError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start, see {workdir / 'redis.log'}") from None
                time.sleep(0.1)
        client.close()
        yield url
    finally:
        stop_process(proc)
        log.close()


def redis_pid(url: str) -> int:
    """The pid of the redis-server at ``url`` (from INFO)."""
    with Redis.from_url(url) as client:
        return int(client.info("server")["process_id"])


@dataclass(frozen=True)
class ServerSettings:
    """The gunicorn settings an app runs with (the same for an endpoint and its baseline)."""

    workers: int
    threads: int
    worker_connections: int | None = None
    timeout: int = 60
    preload: bool = False  # load the app in the master before forking, as ``trackerhub web`` does

    def args(self) -> list[str]:
        # No --access-logfile: gunicorn's default is no access log, for both endpoints alike.
        args = ["--workers", str(self.workers), "--threads", str(self.threads)]
        if self.worker_connections is not None:
            args += ["--worker-connections", str(self.worker_connections)]
        if self.preload:
            args.append("--preload")
        return [*args, "--timeout", str(self.timeout), "--log-level", "warning"]


@dataclass(frozen=True)
class Server:
    """A running gunicorn: where it listens and its master's pid."""

    port: int
    pid: int

    def worker_pids(self) -> list[int]:
        """The master's children (its workers), from /proc."""
        return children(self.pid)


@contextmanager
def gunicorn(
    app: str,
    chdir: Path,
    env: dict[str, str],
    settings: ServerSettings,
    workdir: Path,
    name: str,
    probe_path: str = "/",
) -> Iterator[Server]:
    """Serve ``app`` with gunicorn on a free port until the block ends, with the allocator settings
    ``trackerhub web`` gives its workers (for the baseline app too: the same server settings)."""
    env = {**WEB_ALLOCATOR_ENV, **env}
    port = free_port()
    log_path = workdir / f"gunicorn-{name}.log"
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *settings.args()]
    args += ["--chdir", str(chdir), "--error-logfile", str(log_path), app]
    proc = subprocess.Popen(args, env=env, cwd=chdir, start_new_session=True)
    try:
        wait_for_http(port, proc, log_path, probe_path)
        time.sleep(1)  # a worker that fails to boot takes the arbiter down shortly after the first answers
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{tail(log_path)}")
        yield Server(port=port, pid=proc.pid)
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited during the benchmark:\n{tail(log_path)}")
    finally:
        stop_process(proc)


def allocator_env() -> str:
    """The glibc settings ``trackerhub web`` (and so every gunicorn here) runs with, for the reports."""
    return ", ".join(f"`{name}={value}`" for name, value in WEB_ALLOCATOR_ENV.items())


def wait_for_http(
    port: int, proc: subprocess.Popen[bytes], log_path: Path, path: str = "/", timeout: float = 30.0
) -> None:
    """Wait until the server answers anything on ``path`` (a 404 or a 405 is fine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{tail(log_path)}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
        finally:
            conn.close()
    raise RuntimeError(f"the server on port {port} did not answer within {timeout:.0f} s:\n{tail(log_path)}")


@dataclass(frozen=True)
class Sandbox:
    """The sandbox Jira running in its own process."""

    url: str
    pid: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def check_alive(self) -> None:
        """Raise, with the end of its log, if the sandbox process has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            where = tail(self.log) if self.log is not None else "(no log)"
            raise RuntimeError(f"the sandbox Jira exited with {self.proc.returncode}:\n{where}")

    def stats(self) -> dict[str, int]:
        """Requests served so far, per ``METHOD rule`` (``GET /_sandbox/stats``)."""
        return dict(http_json(f"{self.url}/_sandbox/stats", headers=SANDBOX_CONTROL)["requests"])

    def add_fault(self, **spec: Any) -> None:
        """``POST /_sandbox/faults`` (e.g. ``latency_ms=50`` delays every request)."""
        http_json(f"{self.url}/_sandbox/faults", spec, headers=SANDBOX_CONTROL)

    def clear_faults(self) -> None:
        """``DELETE /_sandbox/faults``."""
        request = urllib.request.Request(
            f"{self.url}/_sandbox/faults", method="DELETE", headers=SANDBOX_CONTROL
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def http_json(url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """GET ``url`` (or POST ``body`` as JSON) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=sent)
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
    return json.loads(text) if text else None


def stats_delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Requests per ``METHOD rule`` between two ``Sandbox.stats()`` snapshots (control routes left out)."""
    return {
        key: count - before.get(key, 0)
        for key, count in after.items()
        if count != before.get(key, 0) and "/_sandbox" not in key
    }


@contextmanager
def jira_sandbox(workdir: Path, *, latency_ms: int = 0, projects: str = "SUP") -> Iterator[Sandbox]:
    """The sandbox Jira (``python -m sandbox.jira``) on a free port, its data in ``workdir``."""
    port = free_port()
    log_path = workdir / "sandbox-jira.log"
    args = [sys.executable, "-m", "sandbox.jira", "--port", str(port)]
    args += ["--db", str(workdir / "sandbox-jira.sqlite3"), "--projects", projects]
    args += ["--latency-ms", str(latency_ms), "--faults"]  # the pipeline bench adds latency as a fault rule
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=child_env({TOKEN_ENV: SANDBOX_TOKEN}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_http(port, proc, log_path, "/rest/api/2/serverInfo")
            yield Sandbox(url=f"http://127.0.0.1:{port}", pid=proc.pid, proc=proc, log=log_path)
        finally:
            stop_process(proc)


# -- /proc -----------------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3 onwards), or None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (0 once it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_seconds_of(pids: list[int]) -> dict[int, float]:
    """``cpu_seconds`` of each pid."""
    return {pid: cpu_seconds(pid) for pid in pids}


def children(pid: int) -> list[int]:
    """The direct children of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def memory_kb(pid: int, field: str = "VmHWM") -> int | None:
    """A memory figure of /proc/<pid>/status in KiB: ``VmHWM`` (peak RSS), ``VmRSS``; None if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def mib(kib: int | None) -> str:
    """KiB as a MiB figure for a table."""
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


class OtherLoad:
    """How much of the machine processes other than this benchmark's used while it measured.

    The machine's busy CPU time (/proc/stat) minus the time of this process, its reaped children and the
    processes in ``pids`` (a list or a callable returning one, for processes that come and go), as a
    share of all CPUs over the wall time. On a shared machine (other test suites, a VM's neighbours show
    up as steal) this says whether a number can be trusted.
    """

    def __init__(self, pids: list[int]) -> None:
        self.pids = list(pids)
        self.start = self._sample()

    def share(self) -> float:
        """The other processes' share of the machine since this object was made (0..1)."""
        machine, ours, wall = (end - start for end, start in zip(self._sample(), self.start, strict=True))
        capacity = wall * len(os.sched_getaffinity(0))
        return max(machine - ours, 0.0) / capacity if capacity > 0 else float("nan")

    def _sample(self) -> tuple[float, float, float]:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        # irq and softirq time is left out: loopback TCP between the benchmark's processes is mostly
        # softirq, and it belongs to no process, so it would count as "other"
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(f) for f in fields[:8])
        machine = (user + nice + system + steal) / CLK_TCK
        mine = os.times()
        ours = mine.user + mine.system + mine.children_user + mine.children_system
        ours += sum(cpu_seconds(pid) for pid in self.pids)
        return machine, ours, time.monotonic()


# -- the report ------------------------------------------------------------------------------------------


def _version(args: list[str], pattern: str = r"\d+(?:\.\d+)+") -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return "unknown"
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found and found.groups() else (found.group(0) if found else "unknown")


def machine() -> dict[str, str]:
    """What the numbers were measured on: CPUs, RAM, kernel, Python, gunicorn, redis-server."""
    cpu = "unknown"
    ram = "unknown"
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        found = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
        mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(encoding="utf-8"), re.M)
        ram = f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else ram
    except OSError:
        pass
    return {
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "ram": ram,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "gunicorn": _version([sys.executable, "-m", "gunicorn", "--version"]),
        "redis": _version(["redis-server", "--version"], r"v=(\S+)"),
    }


def machine_line(info: dict[str, str]) -> str:
    """``machine()`` as the report's "Machine" line."""
    return f"{info['cpus']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux {info['kernel']}"


def wrk_version() -> str:
    """The installed wrk's version."""
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    return out.split()[1] if len(out.split()) > 1 else "unknown"


def package_version(name: str) -> str:
    """An installed Python distribution's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def describe_db(url: str) -> str:
    """A journal URL without a password, for a report."""
    if url.startswith("sqlite"):
        return "SQLite (fresh file in a temp dir; WAL, synchronous=NORMAL as `store/db.py` sets)"
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def markers(name: str) -> tuple[str, str]:
    """A benchmark's section markers in BENCHMARKS.md."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, section: str, name: str) -> None:
    """Replace the section ``name`` of ``path`` (or append it); create the file with a header.

    ``section`` must start with ``<!-- name:begin -->`` and end with ``<!-- name:end -->``.
    """
    begin, end = markers(name)
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)  # what follows stays
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that reproduces this run, as BENCHMARKS.md shows it."""
    return shlex.join([".venv/bin/python", f"bench/{script}", *(argv if argv is not None else sys.argv[1:])])


def publish(section: str, output: Path, name: str, *, write: bool) -> None:
    """Print the section, and unless ``write`` is off replace it in ``output``."""
    report()
    if write:
        write_section(output, section, name)
    report(section)
    if write:
        report(f"written to {output}")


def run_main(main: Callable[[], None]) -> None:
    """Run a benchmark's ``main``; Ctrl-C ends it with 130 once everything it started has stopped."""
    try:
        main()
    except KeyboardInterrupt:
        report("interrupted; everything started was stopped")
        sys.exit(130)


def ms(value: float) -> str:
    """Milliseconds with sensible precision."""
    if value != value:  # NaN
        return "n/a"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def pct(value: float) -> str:
    """A share as a percentage."""
    return "n/a" if value != value else f"{value:.0%}"
