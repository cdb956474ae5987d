"""The ``team_bot:`` section of the rule file: the team's Telegram chats, where each new issue is posted
as a card with Take / Route → / Open buttons.

```yaml
team_bot:
  chats: ["${TELEGRAM_TEAM_CHAT_ID:-}"]   # chat ids (-100…) or @channels; empty values: none
```
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from config.base import Strict
from config.routes import read_chat


class TeamBot(Strict):
    """Where new-issue cards go; no chats, no cards."""

    chats: tuple[int | str, ...] = ()

    @field_validator("chats", mode="before")
    @classmethod
    def _chats(cls, value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            value = [value]
        read = [read_chat(chat) for chat in value]
        return tuple(chat for chat in read if chat is not None)
