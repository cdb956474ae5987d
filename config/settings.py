"""The hub's settings: read from the environment once, typed, with secrets kept out of ``repr``.

Every environment variable the hub understands is a field here; its name is the variable's name
(DESIGN.md, "Contract with the outside"). Nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = Path(__file__).resolve().parent / "hub.yaml"
VAR_DIR = PROJECT_ROOT / "var"


class Settings(BaseSettings):
    """All configuration the hub takes from its environment."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

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

    # tracker webhooks: Jira's HMAC secret (X-Hub-Signature), or a token in the URL where Jira cannot sign
    JIRA_WEBHOOK_SECRET: SecretStr | None = None
    KAITEN_WEBHOOK_SECRET: SecretStr | None = None

    # Kaiten
    KAITEN_URL: str | None = None
    KAITEN_TOKEN: SecretStr | None = None
    KAITEN_BOARD_ID: int | None = None
    KAITEN_COLUMN_ID: int | None = None

    # Telegram
    TELEGRAM_BOT_TOKEN: SecretStr | None = None
    TELEGRAM_WEBHOOK_SECRET: SecretStr | None = None
    TELEGRAM_API_URL: str = "https://api.telegram.org"

    # mail
    SMTP_URL: str | None = None
    IMAP_URL: str | None = None
    HUB_EMAIL_FROM: str = "support@trackerhub.localhost"

    # the hub itself
    HUB_INBOUND_TOKEN: SecretStr | None = None
    HUB_SECRET_KEY: SecretStr | None = None
    HUB_PUBLIC_URL: str = "http://127.0.0.1:8080"
    HUB_CONFIG: Path = DEFAULT_CONFIG
    HUB_SANDBOX: str = "jira"
    HUB_VAR_DIR: Path = VAR_DIR  # where `up` keeps the managed Redis, the sandbox data and the outbox

    # limits (bytes unless named otherwise)
    HUB_MAX_EMAIL_BYTES: int = Field(default=25 * 1024 * 1024, ge=1024)
    HUB_MAX_FORM_BYTES: int = Field(default=20 * 1024 * 1024, ge=1024)
    HUB_MAX_TELEGRAM_BYTES: int = Field(default=1024 * 1024, ge=1024)
    HUB_FORM_RATE_PER_MINUTE: int = Field(default=10, ge=1)
    HUB_AUTOREPLY_PER_HOUR: int = Field(default=5, ge=0)
    HUB_MAX_ATTEMPTS: int = Field(default=8, ge=1)
    # new issues one tracker call may open when a backlog waits (Jira's bulk create takes 50); 1: one each
    HUB_BULK_CREATE_MAX: int = Field(default=50, ge=1)
    HUB_LOG_LEVEL: str = "INFO"
    # the fault suite only: a worker stops at a named point when a test arms that trap (jobs/worker.py)
    HUB_TEST_TRAPS: bool = False

    @field_validator("HUB_PUBLIC_URL", "TELEGRAM_API_URL", "JIRA_URL", "KAITEN_URL")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

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


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
