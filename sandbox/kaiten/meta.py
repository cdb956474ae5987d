"""The company's catalogue: spaces, boards (with columns and lanes), card types, custom properties and
their select values, users."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from sandbox.app import ApiRoute
from sandbox.kaiten.catalogue import (
    BOARDS,
    CARD_TYPES,
    COLUMNS,
    LANES,
    PROPERTIES,
    SPACES,
    USERS,
    Seeded,
    by_id,
)
from sandbox.kaiten.context import API_PREFIXES, LIST_LIMIT, int_param, not_found
from sandbox.kaiten.render import (
    board_json,
    card_type_json,
    column_json,
    lane_json,
    property_json,
    select_value_json,
    space_json,
    user_json,
)

bp = Blueprint("kaiten_meta", __name__)
api_route = ApiRoute(bp, API_PREFIXES)


def _found(item: Seeded | None) -> Seeded:
    if item is None:
        raise not_found()
    return item


@api_route("/spaces")
def list_spaces() -> Response:
    return jsonify([space_json(s) for s in SPACES])


@api_route("/spaces/<int:space_id>")
def get_space(space_id: int) -> Response:
    return jsonify(space_json(_found(by_id(SPACES, space_id))))


@api_route("/spaces/<int:space_id>/boards")
def list_boards(space_id: int) -> Response:
    _found(by_id(SPACES, space_id))
    return jsonify([board_json(b, in_space=True) for b in BOARDS if b.space_id == space_id])


@api_route("/boards/<int:board_id>")
def get_board(board_id: int) -> Response:
    return jsonify(board_json(_found(by_id(BOARDS, board_id))))


@api_route("/boards/<int:board_id>/columns")
def list_columns(board_id: int) -> Response:
    _found(by_id(BOARDS, board_id))
    return jsonify([column_json(c) for c in COLUMNS if c.board_id == board_id])


@api_route("/boards/<int:board_id>/lanes")
def list_lanes(board_id: int) -> Response:
    _found(by_id(BOARDS, board_id))
    condition = int_param("condition", 1)
    return jsonify([lane_json(lane) for lane in LANES if lane.board_id == board_id and condition == 1])


def _paged(items: list[Any]) -> list[Any]:
    offset = int_param("offset", 0)
    return items[offset : offset + int_param("limit", LIST_LIMIT, 1, LIST_LIMIT)]


@api_route("/card-types")
def list_card_types() -> Response:
    return jsonify(_paged([card_type_json(t) for t in CARD_TYPES]))


@api_route("/card-types/<int:type_id>")
def get_card_type(type_id: int) -> Response:
    return jsonify(card_type_json(_found(by_id(CARD_TYPES, type_id))))


@api_route("/company/custom-properties")
def list_properties() -> Response:
    return jsonify(_paged([property_json(p) for p in PROPERTIES]))


@api_route("/company/custom-properties/<int:property_id>")
def get_property(property_id: int) -> Response:
    return jsonify(property_json(_found(by_id(PROPERTIES, property_id))))


@api_route("/company/custom-properties/<int:property_id>/select-values")
def list_select_values(property_id: int) -> Response:
    prop = _found(by_id(PROPERTIES, property_id))
    return jsonify([select_value_json(prop, v) for v in prop.values])


@api_route("/users")
def list_users() -> Response:
    return jsonify(_paged([user_json(u) for u in USERS]))


@api_route("/users/current")
def current_user() -> Response:
    return jsonify(user_json(USERS[0]))
