"""The ``csat:`` section of the rule file: asking the customer of a resolved issue how it went.

```yaml
csat:
  enabled: true
  quiet_minutes: 60              # asked this long after the resolution (a reopen cancels, a resolve restarts)
  ask_again_after_days: 30       # a reopened issue resolved again is asked again after this
  scale: stars                   # stars: 1–5; faces: 😞 😐 🙂 (recorded as 1, 3, 5)
  negative_at_most: 2            # a rating this low alerts the supervisors at once
  positive_at_least: 4           # a rating this high goes to the kudos chat, when there is one
  comment_window_minutes: 1440   # a comment is taken this long after the rating
  skip_labels: [spam]            # issues carrying one of these are never surveyed
  skip_hub_resolved: true        # nor issues the hub itself resolved (an automation's auto-close)
  label: "csat-{score}"          # added to the issue ("" for none)
  field: null                    # a field id (customfield_N, id_N) that gets the score, when mapped
  supervisors_chat: "${TELEGRAM_SUPERVISORS_CHAT_ID:-}"
  kudos_chat: "${TELEGRAM_KUDOS_CHAT_ID:-}"
```
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from config.base import Strict
from config.routes import read_chat

FACES = {1: "😞", 3: "😐", 5: "🙂"}


class Csat(Strict):
    """When and how the customer is asked, and who hears about the answer."""

    enabled: bool = False  # the shipped hub.yaml turns it on; an older rule file asks nobody
    quiet_minutes: int = Field(default=60, ge=0)
    ask_again_after_days: int = Field(default=30, ge=0)
    scale: Literal["stars", "faces"] = "stars"
    negative_at_most: int = Field(default=2, ge=0, le=5)
    positive_at_least: int = Field(default=4, ge=1, le=6)
    comment_window_minutes: int = Field(default=1440, ge=1)
    skip_labels: tuple[str, ...] = ("spam",)
    skip_hub_resolved: bool = True
    label: str = Field(default="csat-{score}", pattern=r"^[^\s]*$")
    field: str | None = None
    supervisors_chat: int | str | None = None
    kudos_chat: int | str | None = None

    @field_validator("supervisors_chat", "kudos_chat", mode="before")
    @classmethod
    def _chat(cls, value: Any) -> Any:
        return read_chat(value)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if value and "{score}" not in value:
            raise ValueError("a CSAT label names the score: write {score} in it (csat-{score})")
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> Csat:
        if self.negative_at_most >= self.positive_at_least:
            raise ValueError("negative_at_most must be below positive_at_least")
        return self

    @property
    def quiet(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.quiet_minutes)

    @property
    def again_after(self) -> dt.timedelta:
        return dt.timedelta(days=self.ask_again_after_days)

    @property
    def comment_window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.comment_window_minutes)

    def scores(self) -> dict[int, str]:
        """The buttons (or links): score → what the customer sees."""
        if self.scale == "faces":
            return dict(FACES)
        return {score: str(score) for score in range(1, 6)}
