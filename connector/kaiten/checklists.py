"""A card's checklists (research/kaiten.md §6; S2 ``Checklist``, ``ChecklistItem``).

- ``GET /cards/{id}/checklists`` answers 405 on live Kaiten (kaiten-cli's live validation), so they
  are read from ``GET /cards/{id}``, whose ``checklists[]`` carry their ``items[]`` (``{id, text,
  checked, sort_order}``);
- ``POST /cards/{id}/checklists`` ``{name}`` answers the checklist; ``POST
  /cards/{id}/checklists/{checklist_id}/items`` ``{text}`` adds an item at the end; ``PATCH
  .../items/{item_id}`` ``{checked}`` checks one (research/kaiten.md §6).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from connector.kaiten.client import KaitenClient, card_id_of, to_int
from connector.types import Checklist, ChecklistItem


class CardChecklists(KaitenClient):
    """The ``Tracker`` protocol's checklists, for Kaiten."""

    def checklists(self, key: str) -> list[Checklist]:
        """The card's checklists with their items, in the card's order."""
        return [checklist_of(c) for c in _ordered(self.get_card(key).get("checklists") or [])]

    def add_checklist(self, key: str, name: str, items: Sequence[str]) -> str:
        """Add a checklist with ``items``, or complete the card's checklist of that name (case-insensitive)
        with the items it lacks, so a repeat after a lost answer adds nothing twice; return its id."""
        path = f"/cards/{card_id_of(key)}/checklists"
        existing = next(
            (c for c in self.get_card(key).get("checklists") or [] if _same(c.get("name"), name)), None
        )
        if existing is None:
            existing = self.request("POST", path, json={"name": name})
        checklist_id = str(existing["id"])
        have = Counter(str(i.get("text")) for i in existing.get("items") or [])
        for text in items:
            if have[text] > 0:
                have[text] -= 1
                continue
            self.request("POST", f"{path}/{checklist_id}/items", json={"text": text})
        return checklist_id

    def check_item(self, key: str, checklist_id: str, item_id: str) -> None:
        """Check one item of the card's checklist."""
        path = f"/cards/{card_id_of(key)}/checklists/{checklist_id}/items/{item_id}"
        self.request("PATCH", path, json={"checked": True})


def checklist_of(checklist: Mapping[str, Any]) -> Checklist:
    items = tuple(
        ChecklistItem(str(i["id"]), str(i.get("text") or ""), bool(i.get("checked")))
        for i in _ordered(checklist.get("items") or [])
    )
    return Checklist(str(checklist["id"]), str(checklist.get("name") or ""), items)


def _ordered(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(entries, key=lambda e: (float(e.get("sort_order") or 0), to_int(e.get("id")) or 0))


def _same(have: Any, name: str) -> bool:
    return str(have or "").strip().casefold() == name.strip().casefold()
