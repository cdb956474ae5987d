"""The rule file's ``automations:`` as the engine runs them (jobs/automations/model.py).

Compiled once per version of the rule file (``ctx.config`` is the version in force, so an edit reaches
the next scan without a restart).
"""

from __future__ import annotations

from jobs.automations.model import AutomationRule
from jobs.context import Context


def rules_of(ctx: Context) -> dict[str, AutomationRule]:
    """The rules in force, by name."""
    compiled = compile_rules(ctx)
    return {rule.name: rule for rule in compiled}


def compile_rules(ctx: Context) -> tuple[AutomationRule, ...]:
    """The engine's rules from the rule file's ``automations:`` (none until config/automations.py)."""
    return ()
