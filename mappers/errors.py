"""The mapper layer's exceptions; ``routes/errors.py`` turns each into one HTTP answer."""

from __future__ import annotations


class MapperError(Exception):
    """Base of every error raised while parsing or mapping input."""


class AnomalousPayload(MapperError):
    """The input is not what the named source sends (bad JSON, wrong shape): answered 400."""

    def __init__(self, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class UnsupportedEvent(MapperError):
    """A real event of a kind the hub does not use: answered 200 and ignored."""


class InvalidFields(MapperError):
    """A form submission failed validation: answered 422 with one message per field."""

    def __init__(self, details: dict[str, str]) -> None:
        super().__init__("invalid fields: " + ", ".join(sorted(details)))
        self.details = details


class PayloadTooLarge(MapperError):
    """The input is over a configured size or structure limit: answered 413."""
