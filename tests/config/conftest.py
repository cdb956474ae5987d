"""Fixtures for tests of one section of the rule file: a body checked with a minimal ``rules:`` list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config.loading import ConfigError, parse_config
from config.rules import HubConfig
from config.settings import Settings

RULES = "rules: [{name: r, target: {tracker: jira, project: X}}]\n"


@pytest.fixture
def parse_section() -> Callable[[str], HubConfig]:
    """``body`` (sections of a rule file) validated as ``hub.yaml``, with one rule added."""
    return lambda body: parse_config(body + RULES, Path("hub.yaml"), Settings())


@pytest.fixture
def section_error(parse_section: Callable[[str], HubConfig]) -> Callable[[str], str]:
    """The validation report for ``body``; the test fails if it validates."""

    def error_of(body: str) -> str:
        with pytest.raises(ConfigError) as caught:
            parse_section(body)
        return str(caught.value)

    return error_of
