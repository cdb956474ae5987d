"""Errors in Jira's shape: ``{"errorMessages": [...], "errors": {field: message}}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.app import SandboxError


class JiraError(SandboxError):
    """An answer in Jira's error shape: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str] = (),
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, list(messages), errors, headers=headers)
        self.messages = list(messages)
        self.errors = dict(errors or {})

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def issue_not_found() -> JiraError:
    return JiraError(404, ["Issue Does Not Exist"])


def field_errors(errors: dict[str, str]) -> JiraError:
    return JiraError(400, [], errors)


class FieldInvalid(Exception):
    """One field's value is not acceptable; the message is Jira's text for it."""
