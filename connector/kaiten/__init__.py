"""Kaiten: ``client`` (REST verbs, transport, rate limit, errors), ``cards`` (card ↔ hub mapping),
``fields`` (field schema and field values), ``boards`` (a board's columns and lanes), ``filters`` (a
search as card-list requests), ``cached`` (what is reused for a while), ``comments``, ``edits``
(fields, tags, responsible, transitions, moves), ``search``, ``checklists``, and ``tracker``, the
``Tracker`` protocol that puts them together."""

from connector.kaiten.tracker import KaitenTracker

__all__ = ["KaitenTracker"]
