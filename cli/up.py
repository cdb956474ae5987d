"""``trackerhub up``: everything on one machine, supervised.

A managed redis-server when ``REDIS_URL`` is unset, the node (``trackerhub node``: the web server, the
delivery slots and the scheduler, forked from one process), and —
when no ``JIRA_URL`` is set — the built-in sandbox (a Jira look-alike, a Telegram Bot API stand-in and
an SMTP sink) so the whole flow works before a real tracker is connected.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import click

from cli.common import config_or_exit, log, main, migrate_or_exit, settings_or_exit, terminate_with_parent
from cli.waits import wait_for_http, wait_for_redis, wait_for_scheduler
from config.settings import VAR_DIR, get_settings

SANDBOX_TEAM_CHAT = "-1000000000001"  # the team's group on the Telegram stand-in (a supergroup's id)
SANDBOX_SUPERVISORS_CHAT = "-1000000000002"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--slots", default=4, show_default=True, type=click.IntRange(min=1), help="the node's delivery slots"
)
def up(host: str, port: int, slots: int) -> None:
    """Run Redis (if needed), the sandbox (if no tracker is set), and the node: the web server, ``slots``
    delivery slots and the scheduler (``node --slots N``: one process's worth of libraries for all of
    them, cli/node.py).

    They start in that order and stop in the reverse one, each waited for before the next is stopped,
    so nothing loses Redis or its tracker while it is still shutting down. Each child runs in its own
    process group: a Ctrl-C in the terminal reaches ``up`` alone, which then stops them in order.
    """
    env = dict(os.environ)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    var_dir = Path(env.get("HUB_VAR_DIR") or VAR_DIR)
    var_dir.mkdir(parents=True, exist_ok=True)
    env.setdefault("DATABASE_URL", f"sqlite:///{var_dir / 'trackerhub.sqlite3'}")
    env.setdefault("HUB_PUBLIC_URL", f"http://{host}:{port}")
    try:
        if not env.get("REDIS_URL"):
            redis_port = _free_port(6379)
            children.append(("redis", _start_redis(redis_port, var_dir, env)))
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        sandbox = not env.get("JIRA_URL") and not env.get("KAITEN_URL")
        if sandbox:
            trackers = settings_or_exit().HUB_SANDBOX  # a bad HUB_SANDBOX stops here, before anything starts
            env.setdefault("SANDBOX_CONTROL_TOKEN", secrets.token_urlsafe(24))  # its /_sandbox controls
            env.setdefault("JIRA_WEBHOOK_SECRET", secrets.token_urlsafe(24))
            env["SANDBOX_JIRA_WEBHOOK_URL"] = f"http://{host}:{port}/hooks/jira"
            env["SANDBOX_JIRA_WEBHOOK_SECRET"] = env["JIRA_WEBHOOK_SECRET"]
            env.setdefault("KAITEN_WEBHOOK_SECRET", secrets.token_urlsafe(24))
            kaiten_token = urllib.parse.quote(env["KAITEN_WEBHOOK_SECRET"], safe="")
            env["SANDBOX_KAITEN_WEBHOOK_URL"] = f"http://{host}:{port}/hooks/kaiten?token={kaiten_token}"
            env.setdefault("TELEGRAM_WEBHOOK_SECRET", secrets.token_urlsafe(24))
            env["SANDBOX_TELEGRAM_WEBHOOK_URL"] = f"http://{host}:{port}/hooks/telegram"
            env["SANDBOX_TELEGRAM_SECRET_TOKEN"] = env["TELEGRAM_WEBHOOK_SECRET"]
            children += _start_sandbox(env, var_dir, trackers)
        env.setdefault("HUB_INBOUND_TOKEN", secrets.token_urlsafe(24))
        env.setdefault("TELEGRAM_WEBHOOK_SECRET", secrets.token_urlsafe(24))
        env.setdefault("HUB_API_TOKEN", secrets.token_urlsafe(24))
        if not env.get("HUB_SECRET_KEY"):
            env["HUB_SECRET_KEY"] = _kept_secret_key(var_dir)
        os.environ.update(env)
        get_settings.cache_clear()
        config_or_exit(settings_or_exit())
        migrate_or_exit(env["DATABASE_URL"])  # the schema is at head before the children start
        wait_for_redis(env["REDIS_URL"])
        me = [sys.executable, "-m", "cli"]
        # one process tree (issue 18): the web server, the slots and the scheduler forked from `node`
        node = [*me, "node", "--host", host, "--port", str(port), "--slots", str(slots)]
        children.append(("node", _spawn(node, env)))
        wait_for_scheduler(env["REDIS_URL"])
        wait_for_http(f"http://{host}:{port}/healthz")
        _write_state(var_dir, env, host, port, sandbox)
        if sandbox:
            _write_cli_env(var_dir, env)
        _print_welcome(env, host, port, sandbox, var_dir)
        _supervise(children, env)
    finally:
        _stop(children)


def _start_redis(port: int, var_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise click.ClickException(
            "redis-server is not installed: run `apt-get install redis-server` (Debian/Ubuntu) "
            "or set REDIS_URL to a Redis you run"
        )
    data = var_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes"]
    return _spawn([*args, "--save", "", "--daemonize", "no", "--loglevel", "warning"], env)


def _start_sandbox(
    env: dict[str, str], var_dir: Path, trackers: tuple[str, ...]
) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """The look-alikes of ``HUB_SANDBOX`` (with both, Jira is the default tracker and Kaiten's board and
    column are set, so the shipped ``to-kaiten-queue`` route is offered), then Telegram's and SMTP's."""
    started = []
    if "jira" in trackers:
        started.append(_start_jira_sandbox(env, var_dir))
    if "kaiten" in trackers:
        started.append(_start_kaiten_sandbox(env, var_dir))
    started += _start_channel_sandboxes(env, var_dir)
    for name, _ in started:
        log.info("up.started process=%s", name)
    return started


def _start_kaiten_sandbox(env: dict[str, str], var_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """The Kaiten stand-in, with the seeded board 10 and its "To do" column 101 as the default target;
    its webhooks (comments, card moves) go to the hub with ``KAITEN_WEBHOOK_SECRET`` in the URL, as a
    real Kaiten space's would."""
    port = _free_port(8084)
    db = var_dir / "sandbox-kaiten.sqlite3"
    args = [sys.executable, "-m", "sandbox.kaiten", "--port", str(port), "--db", str(db)]
    process = _spawn(args, env)
    env["KAITEN_URL"] = f"http://127.0.0.1:{port}"
    env.setdefault("KAITEN_TOKEN", "sandbox")
    env.setdefault("KAITEN_BOARD_ID", "10")
    env.setdefault("KAITEN_COLUMN_ID", "101")
    wait_for_http(f"{env['KAITEN_URL']}/api/latest/users/current")
    return ("sandbox-kaiten", process)


def _start_jira_sandbox(env: dict[str, str], var_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """The Jira look-alike, with ``JIRA_PROJECT`` created if it is not one of its seeds; its webhooks
    (comments, transitions) go to the hub, signed with ``JIRA_WEBHOOK_SECRET``, as a real Jira's would."""
    port = _free_port(8081)
    db = var_dir / "sandbox-jira.sqlite3"
    project = env.get("JIRA_PROJECT", "SUP")
    args = [
        sys.executable,
        "-m",
        "sandbox.jira",
        "--port",
        str(port),
        "--db",
        str(db),
        "--projects",
        project,
    ]
    process = _spawn(args, env)
    env["JIRA_URL"] = f"http://127.0.0.1:{port}"
    env.setdefault("JIRA_TOKEN", "sandbox")
    wait_for_http(f"{env['JIRA_URL']}/rest/api/2/serverInfo")
    return ("sandbox-jira", process)


def _start_channel_sandboxes(env: dict[str, str], var_dir: Path) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """The Telegram Bot API stand-in and the SMTP sink, unless real ones are configured."""
    started = []
    if not env.get("TELEGRAM_BOT_TOKEN"):
        tg_port = _free_port(8082)
        started.append(
            (
                "sandbox-telegram",
                _spawn([sys.executable, "-m", "sandbox.telegram", "--port", str(tg_port)], env),
            )
        )
        env["TELEGRAM_API_URL"] = f"http://127.0.0.1:{tg_port}"
        env["TELEGRAM_BOT_TOKEN"] = "1000:sandbox"  # noqa: S105 - the stand-in takes any token
        # the team's side on the stand-in's chat page too: cards, Take, answers, CSAT and its alerts
        env.setdefault("TELEGRAM_TEAM_CHAT_ID", SANDBOX_TEAM_CHAT)
        env.setdefault("TELEGRAM_SUPERVISORS_CHAT_ID", SANDBOX_SUPERVISORS_CHAT)
        env.setdefault("HUB_CSAT_QUIET_MINUTES", "1")  # a first look should not wait the shipped hour
    if not env.get("SMTP_URL"):
        smtp_port = _free_port(8025)
        outbox = var_dir / "outbox"
        env["HUB_SANDBOX_OUTBOX"] = str(outbox)
        started.append(
            (
                "sandbox-smtp",
                _spawn(
                    [
                        sys.executable,
                        "-m",
                        "sandbox.smtp",
                        "--port",
                        str(smtp_port),
                        "--outbox",
                        str(outbox),
                    ],
                    env,
                ),
            )
        )
        env["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    return started


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child of ``up`` in a process group of its own (a terminal's Ctrl-C goes to ``up`` only, which
    stops the children in order), that gets SIGTERM should ``up`` die without stopping it."""
    return subprocess.Popen(
        args,
        env=env,
        cwd=str(Path(__file__).resolve().parent),
        process_group=0,
        preexec_fn=terminate_with_parent,  # unsafe with threads; `up` starts none
    )


RESTART_LIMIT = 5  # restarts of one process within RESTART_WINDOW seconds before `up` gives up
RESTART_WINDOW = 60.0


def _supervise(children: list[tuple[str, subprocess.Popen[bytes]]], env: dict[str, str]) -> None:
    """Keep every child running: one that exits is started again with the same command, as systemd's
    ``Restart=always`` would; a process that keeps dying (a crash loop) stops ``up``."""
    stopping = False
    restarts: dict[str, list[float]] = {}

    def _stop_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop_signal)
    signal.signal(signal.SIGINT, _stop_signal)
    while not stopping:
        for index, (name, child) in enumerate(children):
            if child.poll() is None or stopping:
                continue
            now = time.monotonic()
            recent = [t for t in restarts.get(name, []) if now - t < RESTART_WINDOW] + [now]
            restarts[name] = recent
            if len(recent) > RESTART_LIMIT:
                log.error("up.crash-loop process=%s code=%s restarts=%d", name, child.returncode, len(recent))
                raise SystemExit(1)
            log.error("up.process-exited process=%s code=%s restarting=yes", name, child.returncode)
            children[index] = (name, _spawn(list(child.args), env))  # type: ignore[arg-type]
        time.sleep(0.5)


STOP_TIMEOUT = 15.0  # seconds a child may take to stop (a slot finishing its job) before SIGKILL


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """Stop the children in the reverse order of their start, each before the next: the node (its web
    server, slots and scheduler) while Redis and the sandbox still answer it, Redis last."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for name, child in reversed(children):
        if child.poll() is None:
            log.info("up.stopping process=%s", name)
            child.terminate()
        try:
            child.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("up.killed process=%s after=%.0fs", name, STOP_TIMEOUT)
            child.kill()
            child.wait()
        log.info("up.stopped process=%s code=%s", name, child.returncode)


def _write_state(var_dir: Path, env: dict[str, str], host: str, port: int, sandbox: bool) -> None:
    """``var/up.json``: where everything listens, for scripts and the end-to-end test (no secrets). Written
    whole under another name and renamed, so a reader waiting for the file never reads it half-written."""
    state = {
        "pid": os.getpid(),
        "hub_url": f"http://{host}:{port}",
        "redis_url": env["REDIS_URL"],
        "jira_url": env.get("JIRA_URL"),
        "kaiten_url": env.get("KAITEN_URL"),
        "sandbox": sandbox,
        "telegram_api_url": env.get("TELEGRAM_API_URL") if sandbox else None,
        "outbox": env.get("HUB_SANDBOX_OUTBOX"),
    }
    written = var_dir / "up.json.tmp"
    written.write_text(json.dumps(state, indent=2))
    written.replace(var_dir / "up.json")


CLI_ENV = (  # what a one-shot command needs to reach the sandboxed hub's stores, tracker and bot
    "DATABASE_URL",
    "REDIS_URL",
    "HUB_VAR_DIR",
    "JIRA_URL",
    "JIRA_TOKEN",
    "KAITEN_URL",
    "KAITEN_TOKEN",
    "KAITEN_BOARD_ID",
    "KAITEN_COLUMN_ID",
    "TELEGRAM_API_URL",
    "TELEGRAM_BOT_TOKEN",
    "SMTP_URL",
)


def _with_cli_env(var_dir: Path) -> str:
    """The shell words that load ``var/cli.env`` before a command."""
    return f"set -a; . {shlex.quote(str(var_dir / 'cli.env'))}; set +a; "


def _write_cli_env(var_dir: Path, env: dict[str, str]) -> None:
    """``var/cli.env``: the sandbox run's settings for commands in another shell (``staff invite``,
    ``admin add-user``): ``set -a; . var/cli.env; set +a``. Sandbox values only, readable by the owner."""
    lines = [f"{name}={shlex.quote(env[name])}" for name in CLI_ENV if env.get(name)]
    if not env.get("HUB_VAR_DIR"):
        lines.append(f"HUB_VAR_DIR={shlex.quote(str(var_dir))}")
    written = var_dir / "cli.env.tmp"
    written.touch(mode=0o600)
    written.write_text("\n".join(lines) + "\n")
    written.replace(var_dir / "cli.env")


def _print_welcome(env: dict[str, str], host: str, port: int, sandbox: bool, var_dir: Path) -> None:
    base = f"http://{host}:{port}"
    lines = [
        "",
        "trackerhub is up.",
        f"  Web form:         {base}/forms/support",
        f"  Message status:   {base}/api/messages/<id>   (the id is in every 202 answer)",
        f"  Health, metrics:  {base}/healthz  {base}/metrics",
    ]
    if sandbox:
        control = env["SANDBOX_CONTROL_TOKEN"]
        lines += [
            f"  Sandbox tracker:  {env.get('JIRA_URL') or env.get('KAITEN_URL')}/   (issues appear here)",
            *(
                [f"  Sandbox Kaiten:   {env['KAITEN_URL']}/   (cards routed to Kaiten appear here)"]
                if env.get("JIRA_URL") and env.get("KAITEN_URL")
                else []
            ),
            f"  Sent mail:        {var_dir / 'outbox'}/   (autoreplies, as .eml files)",
        ]
        if env.get("TELEGRAM_API_URL"):
            lines += _telegram_lines(env, control, var_dir)
        lines.append(f"  Sandbox control token: {control}   (header X-Sandbox-Token on /_sandbox/... calls)")
    token = env["HUB_INBOUND_TOKEN"]
    secret = env["TELEGRAM_WEBHOOK_SECRET"]
    lines += [
        "",
        "Try it:",
        f"  curl -s {base}/hooks/telegram -H 'X-Telegram-Bot-Api-Secret-Token: {secret}' \\",
        "       -H 'Content-Type: application/json' \\",
        '       -d \'{"update_id": 1, "message": {"message_id": 1, "date": 1700000000, '
        '"chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": false, "first_name": "Ann"}, '
        '"text": "My printer is on fire."}}\'',
        "  printf 'From: Ann <ann@example.com>\\r\\nSubject: Invoice\\r\\n"
        "Message-ID: <1@example.com>\\r\\n\\r\\nHello' | \\",
        f"    curl -s {base}/hooks/email -H 'Authorization: Bearer {token}' --data-binary @-",
    ]
    if sandbox and env.get("JIRA_URL"):
        lines += [
            "  then answer as an engineer (the sandbox Jira sends its webhook to the hub):",
            f"  curl -s -u engineer:pw {env['JIRA_URL']}/rest/api/2/issue/SUP-1/comment \\",
            "       -H 'Content-Type: application/json' -d '{\"body\": \"/reply ::logs-request\"}'",
        ]
    elif sandbox and env.get("KAITEN_URL"):
        lines += [
            "  then answer as an engineer, user 2 (the sandbox Kaiten sends its webhook to the hub):",
            f"  curl -s {env['KAITEN_URL']}/api/latest/cards/1001/comments -H 'X-Sandbox-User: 2' \\",
            "       -H 'Authorization: Bearer sandbox' -H 'Content-Type: application/json' \\",
            '       -d \'{"text": "/reply ::logs-request"}\'',
        ]
    lines += _routing_lines(env, base)
    settings_first = _with_cli_env(var_dir) if sandbox else "with the same DATABASE_URL, "
    lines += [
        "",
        f"Admin console: {base}/admin/   (on once an account exists: in another shell,",
        f"  {settings_first}.venv/bin/trackerhub admin add-user NAME --role admin, and type the password)",
    ]
    lines.append("")
    click.echo("\n".join(lines))


def _telegram_lines(env: dict[str, str], control: str, var_dir: Path) -> list[str]:
    """The stand-in's chat page, and the team's and supervisors' chats on it when they are its own."""
    login = f"{env['TELEGRAM_API_URL']}/_sandbox/login?token={control}&next=/_sandbox/chats"
    lines = [f"  Telegram chats:   {login}   (write as a customer; see the bot's answers)"]
    team = env.get("TELEGRAM_TEAM_CHAT_ID")
    if team:
        account = "2" if env.get("KAITEN_URL") and not env.get("JIRA_URL") else "jsmith"
        lines += [
            f"  Team chat:        {login}/{team}   (new issues' cards: Take, Route →, reply to answer;",
            "                    link yourself first, in another shell:",
            f"                    {_with_cli_env(var_dir)}.venv/bin/trackerhub staff invite {account}",
            "                    then on the chat page open the link as a person)",
        ]
    supervisors = env.get("TELEGRAM_SUPERVISORS_CHAT_ID")
    if supervisors:
        lines.append(f"  Supervisors chat: {login}/{supervisors}   (a CSAT of 1 or 2 is told here)")
    return lines


def _routing_lines(env: dict[str, str], base: str) -> list[str]:
    """The first issue's routing link (the page to route it with one click) and the API call."""
    from mappers.route_links import route_link_url

    settings = get_settings()
    tracker, first = ("jira", f"{settings.JIRA_PROJECT}-1") if env.get("JIRA_URL") else ("kaiten", "1001")
    token = env["HUB_API_TOKEN"]
    return [
        "",
        f"Route the first issue ({first}) to another team, once it exists:",
        f"  page: {route_link_url(settings, tracker, first)}",
        f"  API:  curl -s {base}/api/routes/database/{first} -H 'Authorization: Bearer {token}' \\",
        "         -H 'Content-Type: application/json' -d '{\"fields\": {}}'",
        f"  CLI:  trackerhub route {first} hardware --set 'Spare parts=Fuser kit'",
    ]


def _kept_secret_key(var_dir: Path) -> str:
    """``HUB_SECRET_KEY`` for a local run: made once and kept in ``var/secret_key`` (owner-only), so the
    routing links ``up`` printed still open after a restart."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise click.ClickException("no free port")
