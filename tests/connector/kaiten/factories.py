"""Kaiten answers and drafts for the connector tests, in Kaiten's documented shapes.

The card answers are trimmed from the sanitized live card in
``shared/fixtures/kaiten/card_list_item.sanitized-live.json`` (AllDmeat/kaiten-sdk @ 1e38564d).
"""

from __future__ import annotations

import json
from typing import Any

import responses
from responses import matchers

from connector.types import IssueDraft, Target

ORIGIN = "https://acme.kaiten.ru"
API = ORIGIN + "/api/latest"
TOKEN = "296a5709-99bc-49a7-96e0-c0a1b236091f"  # the docs' example token format
TARGET = Target("kaiten", "10", issue_type="2", column="101", lane="111")


def live_card(**over: Any) -> dict[str, Any]:
    """The live sample's field set and types (trimmed), with overrides."""
    card = {
        "archived": False,
        "asap": False,
        "board_id": 10,
        "column_id": 101,
        "condition": 1,
        "created": "2024-10-14T10:48:16.594Z",
        "description": "Steps to reproduce",
        "external_id": None,
        "id": 101,
        "key": None,
        "lane_id": 111,
        "owner_id": 7,
        "path_data": {
            "board": {"id": 10, "title": "Support"},
            "column": {"id": 101, "sort_order": 1, "title": "To do"},
            "lane": {"id": 111, "sort_order": 40.65, "title": "Default"},
            "space": {"id": 9, "title": "Demo space"},
        },
        "properties": {},
        "source": "api",
        "space_id": 9,
        "state": 1,
        "tag_ids": None,
        "title": "Fix login",
        "type_id": 2,
        "uid": "00000000-0000-0000-0000-000000000001",
        "updated": "2024-10-28T14:36:34.877Z",
        "version": 1,
    }
    card.update(over)
    return card


def board(
    board_id: int, title: str, columns: list[tuple[str, int]], lanes: list[tuple[str, int]]
) -> dict[str, Any]:
    """A board as GET /boards/{id} answers it: columns ``(title, type)`` numbered ``<board>01``, ...,
    in order; lanes ``(title, condition)`` numbered ``<board>11``, ... (condition 1 live, 2 archived)."""
    return {
        "id": board_id,
        "title": title,
        "columns": [
            {"id": board_id * 10 + n, "title": name, "type": kind, "sort_order": n, "column_id": None}
            for n, (name, kind) in enumerate(columns, 1)
        ],
        "lanes": [
            {"id": board_id * 10 + 10 + n, "title": name, "sort_order": n, "condition": condition}
            for n, (name, condition) in enumerate(lanes, 1)
        ],
    }


def draft(**over: Any) -> IssueDraft:
    fields: dict[str, Any] = {
        "target": TARGET,
        "title": "Printer on fire",
        "body": "It is \\*really\\* on fire",
        "idempotency_key": "hub-42",
        "labels": ("support", "telegram"),
        "priority": "asap",
        "assignee": "3",
        "custom_fields": {"id_501": [601], "502": "ACME Corp", "due_date": "2026-01-31T00:00:00Z"},
    }
    fields.update(over)
    return IssueDraft(**fields)


def body_of(call: Any) -> Any:
    return json.loads(call.request.body)


def card_read(card: dict[str, Any]) -> Any:
    """GET /cards/{id}, which the tracker always asks with ``broken_api=false``."""
    return responses.get(
        f"{API}/cards/{card['id']}", json=card, match=[matchers.query_param_matcher({"broken_api": "false"})]
    )


def member(user: int, kind: int) -> dict[str, Any]:
    """A card member (S2 ``MemberDetailed``: the user plus ``card_id``, ``user_id``, ``type``)."""
    return {"id": user, "full_name": f"User {user}", "user_id": user, "card_id": 7, "type": kind}


def sent(method: str) -> list[tuple[str, Any]]:
    return [
        (c.request.url.split("?")[0].removeprefix(API), body_of(c) if c.request.body else None)
        for c in responses.calls
        if c.request.method == method
    ]
