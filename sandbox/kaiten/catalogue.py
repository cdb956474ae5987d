"""The seeded company: space 1 with boards 10 and 20, their columns and lanes, card types, custom
properties with their select values, and users; fixed at start, looked up by id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar


@dataclass(frozen=True)
class Space:
    id: int
    title: str


@dataclass(frozen=True)
class Board:
    id: int
    space_id: int
    title: str
    default_card_type_id: int


@dataclass(frozen=True)
class Column:
    id: int
    board_id: int
    title: str
    type: int  # 1 queue, 2 in progress, 3 done
    sort_order: float


@dataclass(frozen=True)
class Lane:
    id: int
    board_id: int
    title: str
    sort_order: float


@dataclass(frozen=True)
class CardType:
    id: int
    name: str
    letter: str
    color: int
    required: tuple[int, ...] = ()  # custom property ids a card of this type must carry


@dataclass(frozen=True)
class SelectValue:
    id: int
    value: str
    color: int
    sort_order: float


@dataclass(frozen=True)
class Property:
    id: int
    name: str
    type: str  # string, number, date, select, ...
    multi_select: bool = False
    values: tuple[SelectValue, ...] = ()


@dataclass(frozen=True)
class User:
    id: int
    full_name: str
    username: str
    email: str


SPACES = (Space(1, "Support"),)
BOARDS = (Board(10, 1, "Support desk", 1), Board(20, 1, "Development", 2))
COLUMNS = (
    Column(101, 10, "To do", 1, 1),
    Column(102, 10, "In progress", 2, 2),
    # a support team's board waits on its customers in a column of its own (the automations' quiet-customer
    # and customer-replied recipes, and the SLA's pause, name it as Jira's status is named)
    Column(104, 10, "Waiting for customer", 2, 2.5),
    Column(103, 10, "Done", 3, 3),
    Column(201, 20, "Backlog", 1, 1),
    Column(202, 20, "Doing", 2, 2),
    Column(203, 20, "Done", 3, 3),
)
LANES = (Lane(111, 10, "Customers", 1), Lane(112, 10, "Partners", 2), Lane(211, 20, "Default", 1))
CARD_TYPES = (
    CardType(1, "Card", "C", 1),
    CardType(2, "Bug", "B", 7),
    CardType(3, "Request", "R", 4),
    CardType(4, "Incident", "I", 2, required=(501,)),  # Severity required (card_properties)
)
PROPERTIES = (
    Property(
        501,
        "Severity",
        "select",
        values=(
            SelectValue(601, "Critical", 1, 1),
            SelectValue(602, "Major", 2, 2),
            SelectValue(603, "Minor", 3, 3),
        ),
    ),
    Property(502, "Customer", "string"),
    Property(
        503,
        "Channel",
        "select",
        multi_select=True,
        values=(
            SelectValue(611, "Email", 4, 1),
            SelectValue(612, "Telegram", 5, 2),
            SelectValue(613, "Form", 6, 3),
        ),
    ),
    Property(504, "Order number", "number"),
    Property(505, "Contract end", "date"),
)
USERS = (
    User(1, "Trackerhub", "trackerhub", "hub@trackerhub.localhost"),
    User(2, "Alice Example", "alice", "alice@example.com"),
    User(3, "Bob Example", "bob", "bob@example.com"),
    User(4, "Carol Example", "carol", "carol@example.com"),
    User(5, "Иван Иванов", "ivanov", "ivanov@example.com"),
)
HUB_USER = 1
SEED_TIME = "2024-01-10T09:00:00.000Z"
Seeded = TypeVar("Seeded", Space, Board, Column, Lane, CardType, Property, User)


def by_id(items: Sequence[Seeded], ident: Any) -> Seeded | None:
    number = as_int(ident)
    return next((i for i in items if i.id == number), None) if number is not None else None


def seed_uid(kind: str, ident: int) -> str:
    """A stable UUID for a seeded object (Kaiten objects carry both ``id`` and ``uid``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kaiten-sandbox:{kind}:{ident}"))


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
