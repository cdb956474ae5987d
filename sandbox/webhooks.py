"""Outbound webhooks, as the trackers send them: one daemon thread per look-alike posts each delivery
after the change that caused it is committed, and retries the ones that fail.

What a webhook carries is the tracker's business (``jira/webhooks.py``: Data Center's registered
webhooks, signed; ``kaiten/webhooks.py``: Kaiten's space webhook, its secret in the URL); this module
only delivers bytes to a URL and keeps a record of each delivery for ``/_sandbox/webhook-deliveries``.
Its log lines name a URL without its query string, where a receiver's secret may be.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests


def hub_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``: the ``X-Hub-Signature`` of a webhook with a secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookDelivery:
    """One webhook to deliver: the same ``body`` and ``headers`` (so the same identifier) on every try."""

    event: str
    url: str
    identifier: str
    body: bytes
    headers: dict[str, str]
    state: str = "pending"  # pending | delivered | failed
    status: int | None = None  # the receiver's last HTTP status; None when it never answered
    attempts: int = 0
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "identifier": self.identifier,
            "state": self.state,
            "error": self.error,
        }


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class WebhookSender:
    """Delivers webhooks from one daemon thread, in the order they were queued, so the request that
    caused one never waits for it.

    A try that fails with a connection error, a timeout, a 5xx or a 429 is repeated after each pause of
    ``backoff`` (same body, same headers); any other answer ends the delivery. ``deliveries()`` keeps
    the last ``history`` deliveries for tests; ``flush()`` waits until nothing is queued or in flight.
    Proxy settings from the environment are ignored: the receivers are local.
    """

    def __init__(
        self,
        name: str,
        *,
        log: logging.Logger,
        timeout: float = 5.0,
        backoff: Sequence[float] = (0.5, 1.0),
        history: int = 1000,
    ) -> None:
        self.name = name
        self.log = log
        self.timeout = timeout
        self.backoff = tuple(backoff)
        self._queue: queue.SimpleQueue[WebhookDelivery] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0
        self._records: deque[WebhookDelivery] = deque(maxlen=history)
        self._thread: threading.Thread | None = None

    def send(self, event: str, url: str, body: bytes, headers: Mapping[str, str], identifier: str) -> None:
        """Queue one delivery (starts the delivery thread on first use)."""
        delivery = WebhookDelivery(event, url, identifier, body, dict(headers))
        with self._cond:
            self._pending += 1
            self._records.append(delivery)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"sandbox-{self.name}-webhooks", daemon=True
                )
                self._thread.start()
        self._queue.put(delivery)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued delivery to finish; False if some did not."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return self._pending

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.describe() for d in self._records]

    def forget(self) -> None:
        """Drop the delivery records (deliveries still queued go out all the same)."""
        with self._cond:
            self._records.clear()

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        while True:
            delivery = self._queue.get()
            try:
                self._deliver(session, delivery)
            except Exception as exc:  # never let one delivery stop the thread
                self.log.exception("sandbox %s: webhook delivery crashed", self.name)
                with self._cond:
                    delivery.state, delivery.error = "failed", repr(exc)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _deliver(self, session: requests.Session, delivery: WebhookDelivery) -> None:
        pauses = (*self.backoff, None)
        for pause in pauses:
            status: int | None = None
            error: str | None = None
            try:
                resp = session.post(
                    delivery.url, data=delivery.body, headers=delivery.headers, timeout=self.timeout
                )
                resp.close()
                status = resp.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._cond:
                delivery.attempts += 1
                delivery.status, delivery.error = status, error
                if status is not None and not _retryable(status):
                    delivery.state = "delivered" if status < 400 else "failed"
                    break
                if pause is None:
                    delivery.state = "failed"
                    break
            self.log.warning(
                "sandbox %s: webhook %s to %s failed (%s), retrying in %ss",
                self.name,
                delivery.event,
                without_query(delivery.url),
                status or error,
                pause,
            )
            time.sleep(pause)
        level = logging.INFO if delivery.state == "delivered" else logging.WARNING
        self.log.log(
            level,
            "sandbox %s: webhook %s to %s %s (%s, %d attempt(s))",
            self.name,
            delivery.event,
            without_query(delivery.url),
            delivery.state,
            delivery.status or delivery.error,
            delivery.attempts,
        )


FLUSH_TIMEOUT_S = 10.0
FLUSH_TIMEOUT_MAX_S = 60.0


def flush_within(sender: WebhookSender, timeout: float | None) -> tuple[dict[str, Any], int]:
    """``POST /_sandbox/webhooks/flush``'s answer: wait up to ``timeout`` seconds (default 10, at most
    60) until nothing is queued or in flight; 200 when so, 504 when some delivery still is."""
    wanted = FLUSH_TIMEOUT_S if timeout is None else timeout
    flushed = sender.flush(max(0.0, min(FLUSH_TIMEOUT_MAX_S, wanted)))
    return {"flushed": flushed, "pending": sender.pending}, (200 if flushed else 504)


def http_url(value: Any) -> bool:
    """Whether ``value`` is an absolute http(s) URL, the only kind a webhook is sent to."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def checked_url(url: str | None) -> str | None:
    """A look-alike's start-up webhook URL: None, or an http(s) URL (else a ``ValueError``)."""
    if url is not None and not http_url(url):
        raise ValueError(f"webhook_url must be an http or https URL, not {without_query(url)!r}")
    return url


def add_url_option(parser: argparse.ArgumentParser, env: str, what: str, example: str) -> None:
    """``--webhook-url`` (default: the environment variable ``env``, which keeps a token out of ps)."""

    def url(value: str) -> str:
        if not http_url(value):
            raise argparse.ArgumentTypeError("--webhook-url must be an http or https URL")
        return value

    parser.add_argument(
        "--webhook-url",
        type=url,
        default=os.environ.get(env) or None,
        help=f"send {what} here, e.g. {example} (env {env})",
    )


def without_query(url: str) -> str:
    """``url`` for a log line: a webhook URL may carry its receiver's secret as ``?token=``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
