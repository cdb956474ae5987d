"""The base of every section of the rule file: unknown keys are errors, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A rule-file section: a typo in a key is reported, and a loaded config cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Localized = str | dict[str, str]
"""A text in one language, or by language code (``{en: ..., ru: ...}``)."""
