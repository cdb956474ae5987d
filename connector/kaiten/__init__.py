"""Kaiten: ``client`` (REST verbs, transport, rate limit, errors), ``cards`` (card ↔ hub mapping),
``tracker`` (the ``Tracker`` protocol)."""

from connector.kaiten.tracker import KaitenTracker

__all__ = ["KaitenTracker"]
