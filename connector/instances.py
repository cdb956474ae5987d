"""The tracker instances of a deployment: the environment's ``jira`` and ``kaiten``, and the rule file's.

An instance of the rule file keeps its secrets in environment variables it names; they are read here,
when its connector is built, through the settings (never kept in the configuration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.rules import HubConfig
from config.settings import Settings
from connector.errors import TrackerRejected
from connector.jira import JiraTracker
from connector.kaiten import KaitenTracker
from connector.kaiten.client import token_limiter

if TYPE_CHECKING:
    from redis import Redis


class UnknownTracker(LookupError):
    """No tracker instance has that name."""


def connect(
    settings: Settings, config: HubConfig, name: str, redis: Redis | None = None
) -> JiraTracker | KaitenTracker:
    """The connector of the tracker instance ``name`` (not guarded by a circuit breaker).

    With ``redis``, a Kaiten instance takes its turns from the limiter its token shares with every
    process, and a Jira Cloud instance its bulk-move slots from the site's shared ledger; without, from
    this process's own.
    """
    spec = config.trackers.get(name)
    if spec is None:
        if name == "jira":
            return JiraTracker.from_settings(settings, redis=redis)
        if name == "kaiten":
            return KaitenTracker.from_settings(settings, redis=redis)
        raise UnknownTracker(f"tracker {name!r} is not configured; there are {config.tracker_names()}")
    token = settings.environment_secret(spec.token_env) if spec.token_env else None
    if spec.kind == "jira":
        password = settings.environment_secret(spec.password_env) if spec.password_env else None
        return JiraTracker(
            spec.url,
            name=name,
            token=token,
            user=spec.user,
            password=password,
            timeout=spec.timeout,
            redis=redis,
        )
    if not token:  # validated at load; the variable cannot vanish from a running process
        raise TrackerRejected(f"{spec.token_env} is not set (tracker {name!r})", None)
    return KaitenTracker(
        spec.url, token, name=name, limiter=token_limiter(token, redis), timeout=spec.timeout
    )
