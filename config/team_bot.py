"""The ``team_bot:`` section of the rule file: the team's Telegram chats, where each new issue is posted
as a card with Take / Route → / Open buttons.

```yaml
team_bot:
  chats:
    - "${TELEGRAM_TEAM_CHAT_ID:-}"        # a chat id (-100…) or @channel: every issue's card; empty: none
    - {chat: "-100200300", serves: [DB]}  # only the cards of these Jira projects / Kaiten boards
```
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from config.base import Strict
from config.routes import read_chat


class TeamBot(Strict):
    """Where new-issue cards go; no chats, no cards. ``serves`` names, for a chat that serves some teams
    only, the Jira projects or Kaiten boards whose cards it gets; a chat not in it gets every card."""

    chats: tuple[int | str, ...] = ()
    serves: dict[int | str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _chats(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "serves" in data:
            return data
        value = data.get("chats")
        if value is None:
            return {**data, "chats": ()}
        if not isinstance(value, list | tuple):
            value = [value]
        chats: list[int | str] = []
        serves: dict[int | str, tuple[str, ...]] = {}
        for item in value:
            spec = item if isinstance(item, dict) else {"chat": item}
            unknown = set(spec) - {"chat", "serves"}
            if unknown:
                raise ValueError(f"a team chat has chat and serves, not {', '.join(sorted(unknown))}")
            chat = read_chat(spec.get("chat"))
            if chat is None:
                continue
            chats.append(chat)
            if spec.get("serves") is not None:
                serves[chat] = _containers(spec["serves"])
        return {**data, "chats": tuple(chats), "serves": serves}

    def serves_issue(self, chat: int | str, container: str | None) -> bool:
        """Whether ``chat`` gets the card of an issue in ``container`` (unknown: every chat does)."""
        served = self.serves.get(chat)
        return served is None or container is None or container in served


def _containers(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    names = tuple(str(item).strip() for item in items if str(item).strip())
    if not names:
        raise ValueError("serves names at least one Jira project or Kaiten board")
    return names
