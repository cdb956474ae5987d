"""Fault injection: rules that delay requests, fail them with a status, or replace the answer of a
request already served, so the tests and the fault suite can see what the hub does when a tracker is slow,
down, rate-limited or answers after doing the work.

Off unless the look-alike is started with it (``faults=True``, ``--faults``): a ``FaultBook`` that is not
enabled refuses new rules (``FaultsDisabled``) and costs a request nothing. A start-up ``latency_ms``
(``--latency-ms``) is a setting of the look-alike, not a rule, and applies either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from flask import Response, g, request


class FaultsDisabled(Exception):
    """A rule was asked of a look-alike started without fault injection."""


@dataclass
class FaultRule:
    """One injected fault; see ``FaultBook.add`` for the JSON it is made from."""

    id: int
    latency_ms: int = 0
    status: int | None = None
    retry_after: int | None = None
    remaining: int | None = None
    expires_at: float | None = None
    methods: frozenset[str] | None = None
    paths: tuple[str, ...] | None = None
    after_commit: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.paths is None or any(path.startswith(p) for p in self.paths)

    def alive(self, now: float) -> bool:
        expired = self.expires_at is not None and now >= self.expires_at
        return not expired and (self.remaining is None or self.remaining > 0)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "retry_after": self.retry_after,
            "remaining": self.remaining,
            "expires_in_s": None if self.expires_at is None else max(0.0, self.expires_at - time.monotonic()),
            "methods": sorted(self.methods) if self.methods is not None else None,
            "paths": list(self.paths) if self.paths is not None else None,
            "after_commit": self.after_commit,
            "hits": self.hits,
        }


FAULT_KEYS = frozenset(
    {"latency_ms", "status", "retry_after", "count", "duration_s", "methods", "paths", "after_commit"}
)

FaultAnswer = Callable[[int, FaultRule], Response]
"""How a stand-in answers an injected fault: ``answer(status, rule)``."""


def _spec_int(spec: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{key}' must be an integer from {low} to {high}")
    return value


def _spec_strings(spec: dict[str, Any], key: str) -> list[str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise ValueError(f"'{key}' must be a list of non-empty strings")
    return value


class FaultBook:
    """Fault rules shared by all request threads, and their effect on requests.

    ``name`` and ``log`` are the stand-in's (messages read ``sandbox <name>: ...``); ``answer`` renders
    an injected error in the tracker's shape; ``enabled`` allows rules at all; ``latency_ms`` delays
    every request that faults apply to.
    """

    def __init__(
        self,
        name: str,
        answer: FaultAnswer,
        *,
        log: logging.Logger,
        enabled: bool = False,
        latency_ms: int = 0,
    ) -> None:
        self.name = name
        self.answer = answer
        self.log = log
        self.enabled = enabled
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self.injected = 0

    def add(self, spec: Any) -> FaultRule:
        """Add a rule from ``{"latency_ms", "status", "retry_after", "count", "duration_s", "methods",
        "paths", "after_commit"}`` (all optional); raise ``ValueError`` for a bad spec.

        ``status`` answers that status to matching requests (the headers it carries, ``Retry-After``
        or a rate limit's, are the stand-in's ``answer``); ``latency_ms`` delays them; ``count`` limits
        the rule to that many matching requests, ``duration_s`` to that many seconds (neither: until
        cleared); ``methods`` and ``paths`` (prefixes) select requests; ``after_commit`` does the work
        first, then delays or fails the answer. Raise ``FaultsDisabled`` when fault injection is off.
        """
        if not self.enabled:
            raise FaultsDisabled(f"fault injection is off: start the sandbox {self.name} with --faults")
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(spec) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        duration = spec.get("duration_s")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
        ):
            raise ValueError("'duration_s' must be a positive number")
        if not isinstance(spec.get("after_commit", False), bool):
            raise ValueError("'after_commit' must be true or false")
        methods = _spec_strings(spec, "methods")
        paths = _spec_strings(spec, "paths")
        with self._lock:
            rule = FaultRule(
                id=self._next_id,
                latency_ms=_spec_int(spec, "latency_ms", 0, 600_000) or 0,
                status=_spec_int(spec, "status", 100, 599),
                retry_after=_spec_int(spec, "retry_after", 0, 86_400),
                remaining=_spec_int(spec, "count", 1, 10**9),
                expires_at=None if duration is None else time.monotonic() + float(duration),
                methods=frozenset(m.upper() for m in methods) if methods is not None else None,
                paths=tuple(paths) if paths is not None else None,
                after_commit=bool(spec.get("after_commit", False)),
            )
            self._next_id += 1
            self._rules.append(rule)
        self.log.info("sandbox %s: fault rule added %s", self.name, rule.describe())
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            self._prune()
            return list(self._rules)

    def claim(self, method: str, path: str, *, after_commit: bool) -> list[FaultRule]:
        """The live rules that apply to this request (each one uses up one of its ``count``)."""
        with self._lock:
            self._prune()
            claimed = []
            for rule in self._rules:
                if rule.after_commit == after_commit and rule.matches(method, path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    claimed.append(replace(rule))
            if any(r.status is not None for r in claimed):
                self.injected += 1
            return claimed

    def _prune(self) -> None:
        now = time.monotonic()
        self._rules = [r for r in self._rules if r.alive(now)]

    def respond(self, rules: list[FaultRule]) -> Response | None:
        """Sleep for the rules' latency; the injected error answer, if any rule has a status."""
        latency = sum(r.latency_ms for r in rules)
        if latency:
            time.sleep(latency / 1000)
        failing = next((r for r in rules if r.status is not None), None)
        if failing is None or failing.status is None:
            return None
        self.log.warning(
            "sandbox %s: injecting %s for %s %s", self.name, failing.status, request.method, request.path
        )
        return self.answer(failing.status, failing)

    def before_request(self) -> Response | None:
        """The base latency, then the rules that fail this request before it is served."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if not self.enabled:
            return None
        injected = self.respond(self.claim(request.method, request.path, after_commit=False))
        if injected is not None:
            g.sandbox_faulted = True
        return injected

    def after_request(self, response: Response) -> Response:
        """The rules that delay or replace the answer of a request already served."""
        if not self.enabled or g.get("sandbox_faulted"):
            return response
        rules = self.claim(request.method, request.path, after_commit=True)
        injected = self.respond(rules) if rules else None
        if injected is not None:
            self.log.warning(
                "sandbox %s: %s %s was done, its answer replaced", self.name, request.method, request.path
            )
            return injected
        return response
