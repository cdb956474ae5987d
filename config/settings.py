"""The hub's settings: read from the environment once, typed, with secrets kept out of ``repr``.

Every environment variable the hub understands is a field here; its name is the variable's name
(DESIGN.md, "Contract with the outside"). Nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

import functools
import os
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# ``+insecure`` lets a login go out without TLS (connector/mail.py); the other schemes never send a
# password in clear.
SMTP_SCHEMES = ("smtp", "smtps", "smtp+insecure")
IMAP_SCHEMES = ("imap", "imaps", "imap+insecure")
DEFAULT_CONFIG = Path(__file__).resolve().parent / "hub.yaml"
VAR_DIR = PROJECT_ROOT / "var"
NODE_IDLE_MIN = 10  # seconds: cli/slots.py's QUICK_EXIT, what a child must have run not to be failing


class Settings(BaseSettings):
    """All configuration the hub takes from its environment."""

    # hide_input_in_errors: a bad SMTP_URL must not print its password in the start-up error
    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # stores
    REDIS_URL: str | None = None
    DATABASE_URL: str = f"sqlite:///{VAR_DIR / 'trackerhub.sqlite3'}"

    # Jira
    JIRA_URL: str | None = None
    JIRA_TOKEN: SecretStr | None = None
    JIRA_USER: str | None = None
    JIRA_PASSWORD: SecretStr | None = None
    JIRA_PROJECT: str = "SUP"
    JIRA_ISSUE_TYPE: str = "Task"
    JIRA_TIMEOUT: float = 30.0

    # tracker webhooks: Jira's HMAC secret (X-Hub-Signature); the same secret as ``?token=`` only when
    # JIRA_WEBHOOK_URL_TOKEN opts in (Jira versions that cannot sign). Kaiten cannot sign: URL token.
    JIRA_WEBHOOK_SECRET: SecretStr | None = None
    JIRA_WEBHOOK_URL_TOKEN: bool = False
    # a Jira webhook whose ``timestamp`` is further than this from now is refused (a replay, or lost);
    # Jira Cloud may deliver up to 30 minutes late (research/jira.md §3.3)
    JIRA_WEBHOOK_MAX_AGE_MINUTES: int = Field(default=60, ge=1)
    KAITEN_WEBHOOK_SECRET: SecretStr | None = None

    # Kaiten
    KAITEN_URL: str | None = None
    KAITEN_TOKEN: SecretStr | None = None
    KAITEN_BOARD_ID: int | None = None
    KAITEN_COLUMN_ID: int | None = None

    # Telegram
    TELEGRAM_BOT_TOKEN: SecretStr | None = None
    TELEGRAM_WEBHOOK_SECRET: SecretStr | None = None
    TELEGRAM_TIMEOUT: float = Field(default=15.0, gt=0)  # seconds per Bot API call (downloads have their own)
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    # the bot's @username for `staff invite` links (unset: asked of the Bot API's getMe)
    TELEGRAM_BOT_USERNAME: str | None = Field(default=None, pattern=r"^@?[A-Za-z0-9_]{5,32}$")
    # routing: where the shipped routes tell the receiving team (a chat id, an address; unset: nobody)
    TELEGRAM_TEAM_CHAT_ID: str | None = None
    # CSAT (config/hub.yaml `csat:`): where a negative rating alerts the supervisors and where positive
    # ones go (unset: nobody)
    TELEGRAM_SUPERVISORS_CHAT_ID: str | None = None
    TELEGRAM_KUDOS_CHAT_ID: str | None = None
    HUB_CSAT_QUIET_MINUTES: int | None = Field(default=None, ge=0)  # the shipped csat's quiet_minutes (60)
    HUB_TEAM_EMAIL: str | None = None

    # mail
    SMTP_URL: SecretStr | None = None  # may hold the mail account's password: kept out of logs and reprs
    IMAP_URL: SecretStr | None = None
    HUB_EMAIL_FROM: str = "support@trackerhub.localhost"

    # the hub itself
    HUB_INBOUND_TOKEN: SecretStr | None = None
    HUB_SECRET_KEY: SecretStr | None = None
    HUB_PUBLIC_URL: str = "http://127.0.0.1:8080"
    HUB_CONFIG: Path = DEFAULT_CONFIG
    # the tracker look-alikes `up` starts when no tracker is set: jira, kaiten, both (comma-separated),
    # or `both`; with both, Jira is the default tracker and Kaiten a route's target
    HUB_SANDBOX: Annotated[tuple[str, ...], NoDecode] = ("jira",)
    HUB_VAR_DIR: Path = VAR_DIR  # where `up` keeps the managed Redis, the sandbox data and the outbox
    # how many hub nodes share this database and Redis (README "Running several nodes"); above 1,
    # `trackerhub check` refuses SQLite, a file on one machine
    HUB_NODES: int = Field(default=1, ge=1)
    # `trackerhub node` marks its memory for the kernel's same-page merging (KSM), where the host runs
    # ksmd (README "Memory of a node"); off by default: KSM lets a process on the host time whether a page
    # like its own exists, so it belongs on a host whose processes are all trusted
    HUB_NODE_KSM: bool = False
    # seconds a web worker of `trackerhub node` that has answered requests stays idle before it exits and
    # is forked afresh, giving back the pages of the parent it copied (cli/node.py); 0 keeps them; below
    # NODE_IDLE_MIN it would look to the supervisor as a child failing at its start (cli/slots.py)
    HUB_NODE_IDLE_SECONDS: int = Field(default=60, ge=0)
    # seconds between passes of the polling reconciliation (jobs/reconcile.py); 0 turns it off
    HUB_RECONCILE_SECONDS: int = Field(default=120, ge=0)
    # addresses/networks of reverse proxies whose X-Forwarded-For is believed (comma-separated); none by
    # default, so the peer's own address is the client's
    HUB_TRUSTED_PROXIES: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    HUB_METRICS_TOKEN: SecretStr | None = None  # when set, GET /metrics needs it as a Bearer token
    HUB_API_TOKEN: SecretStr | None = None  # Bearer token of the routing API (unset: the API is closed)

    # the admin console (/admin/): hours a login lasts; failed logins per user name (four times as many
    # per client address) before further logins are refused for the lockout's minutes
    HUB_ADMIN_SESSION_HOURS: int = Field(default=12, ge=1)
    HUB_ADMIN_LOGIN_FAILURES: int = Field(default=5, ge=1)
    HUB_ADMIN_LOCKOUT_MINUTES: int = Field(default=15, ge=1)

    # limits (bytes unless named otherwise)
    HUB_MAX_EMAIL_BYTES: int = Field(default=25 * 1024 * 1024, ge=1024)
    HUB_MAX_FORM_BYTES: int = Field(default=20 * 1024 * 1024, ge=1024)
    HUB_MAX_TELEGRAM_BYTES: int = Field(default=1024 * 1024, ge=1024)
    HUB_FORM_RATE_PER_MINUTE: int = Field(default=10, ge=1)
    HUB_AUTOREPLY_PER_HOUR: int = Field(default=5, ge=0)
    # autoreplies to web-form senders per hour, all recipients and workers together (0: none)
    HUB_FORM_AUTOREPLY_PER_HOUR: int = Field(default=100, ge=0)
    # status notifications: one per issue and status within this many minutes (0: no such limit), and
    # at most this many per customer per hour, whatever the issue
    HUB_STATUS_NOTIFY_REPEAT_MINUTES: int = Field(default=60, ge=0)
    HUB_STATUS_NOTIFY_PER_HOUR: int = Field(default=6, ge=1)
    HUB_MAX_ATTEMPTS: int = Field(default=8, ge=1)
    # new issues one tracker call may open when a backlog waits (Jira's bulk create takes 50); 1: one each
    HUB_BULK_CREATE_MAX: int = Field(default=50, ge=1)
    HUB_LOG_LEVEL: str = "INFO"
    # the fault suite only: a worker stops at a named point when a test arms that trap (jobs/worker.py)
    HUB_TEST_TRAPS: bool = False
    # the fault suite only: seconds added to the automations' clock (jobs/clock.py), so a test can have
    # hours pass between a scheduler's stop and its restart without waiting for them
    HUB_TEST_CLOCK_OFFSET: float = 0.0

    @field_validator("HUB_PUBLIC_URL", "TELEGRAM_API_URL", "JIRA_URL", "KAITEN_URL")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("HUB_TRUSTED_PROXIES", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())
        return value

    @field_validator("HUB_SANDBOX", mode="before")
    @classmethod
    def _sandbox_trackers(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        names = [part.strip().lower() for part in value.split(",") if part.strip()]
        names = [name for part in names for name in (SANDBOX_TRACKERS if part == "both" else (part,))]
        unknown = sorted(set(names) - set(SANDBOX_TRACKERS))
        if unknown:
            raise ValueError(
                f"unknown look-alike(s) {unknown}: HUB_SANDBOX is jira, kaiten, jira,kaiten or both"
            )
        return tuple(name for name in SANDBOX_TRACKERS if name in names) or ("jira",)

    @field_validator("HUB_NODE_IDLE_SECONDS")
    @classmethod
    def _idle_off_or_long(cls, value: int) -> int:
        if 0 < value < NODE_IDLE_MIN:
            raise ValueError(f"0 (off) or at least {NODE_IDLE_MIN} seconds")
        return value

    @field_validator("SMTP_URL", "IMAP_URL")
    @classmethod
    def _known_mail_scheme(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        schemes = SMTP_SCHEMES if info.field_name == "SMTP_URL" else IMAP_SCHEMES
        if value and urlsplit(value.get_secret_value()).scheme.lower() not in schemes:
            raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in schemes)}")
        return value

    @property
    def jira_configured(self) -> bool:
        """Whether a real Jira is configured (otherwise ``up`` starts the sandbox)."""
        return bool(self.JIRA_URL)

    @property
    def email_domain(self) -> str:
        """The domain the hub's own Message-IDs use, taken from ``HUB_EMAIL_FROM``."""
        return self.HUB_EMAIL_FROM.rpartition("@")[2] or "trackerhub.localhost"

    def secret(self, name: str) -> str | None:
        """Return a secret's plain value, or None when it is unset."""
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value) if value is not None else None  # set with model_copy, unvalidated

    def environment_secret(self, name: str) -> str | None:
        """The secret in the environment variable ``name`` that the rule file names (``token_env:``),
        or None when it is unset or empty.

        A tracker instance of the rule file keeps its credentials in variables the file names, not
        in fields of their own; a name that is a setting (``JIRA_TOKEN``) gives that setting's value.
        """
        if name in type(self).model_fields:
            return self.secret(name) or None
        return os.environ.get(name) or None

    @property
    def telegram_bot_id(self) -> int | None:
        """The bot's id: the number before the colon in ``TELEGRAM_BOT_TOKEN`` (the Bot API's token
        format; ``getMe`` answers the same id)."""
        prefix = (self.secret("TELEGRAM_BOT_TOKEN") or "").partition(":")[0]
        return int(prefix) if prefix.isdigit() else None


SANDBOX_TRACKERS = ("jira", "kaiten")  # the look-alikes `up` can start, Jira (the default tracker) first


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
