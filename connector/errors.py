"""The connector layer's exceptions: what a tracker or a channel said, in the hub's terms."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error a connector raises."""


class TrackerError(ConnectorError):
    """A tracker call did not do what was asked."""


class TrackerUnavailable(TrackerError):
    """Transient: timeout, connection error, 5xx or 429. Try again later.

    ``retry_after`` is the delay in seconds the tracker asked for, when it asked; ``status`` the HTTP
    status when it answered at all (None: a timeout or a connection error); ``tracker`` names the
    tracker, once the circuit breaker that saw the failure has tagged it.
    """

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.tracker: str | None = None


class CircuitOpen(TrackerUnavailable):
    """The call was not sent: the tracker failed moments ago and calls are paused (``connector.breaker``).

    Not a failure of the message being delivered, so it does not count as one of its attempts.
    """


class TrackerRejected(TrackerError):
    """Permanent: the tracker refused the request (4xx). Retrying the same request will not help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UnknownTarget(TrackerRejected):
    """A target names what the tracker does not have: ``part`` says what ("project", "issue type",
    "card type", ...), ``available`` what exists instead (for the error an admin reads)."""

    def __init__(self, message: str, part: str, available: tuple[str, ...] = ()) -> None:
        super().__init__(message, 404)
        self.part = part
        self.available = available


class Unsupported(TrackerError):
    """The tracker cannot do this at all (Jira has no checklists); the caller takes another way."""


class MoveUnsupported(Unsupported):
    """The tracker cannot move an issue to another container (Jira Data Center: no REST endpoint,
    JRASERVER-71343); the caller clones it instead."""


class ChannelError(ConnectorError):
    """Sending to or fetching from a customer channel (Telegram, SMTP, IMAP) failed."""


class ChannelUnavailable(ChannelError):
    """Transient channel failure; ``retry_after`` in seconds when the channel asked for one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryUncertain(ChannelUnavailable):
    """The request went out and its answer never came (a read timeout): the channel may have delivered it.

    A caller that must not send twice (a survey) takes it as sent; one that must not lose a message (a
    person's reply) sends again, as for any ChannelUnavailable."""


class ChannelRejected(ChannelError):
    """The channel refused permanently (blocked bot, unknown chat, bad address)."""
