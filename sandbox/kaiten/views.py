"""HTML: ``GET /`` lists cards; ``GET /{id}`` (Kaiten's short card link) and
``/space/{space}/boards/card/{id}`` show one; Jinja's autoescape escapes everything."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template

from sandbox.app import html_response
from sandbox.kaiten.catalogue import PROPERTIES, by_id
from sandbox.kaiten.context import db
from sandbox.kaiten.fields import PROPERTY_KEY
from sandbox.kaiten.render import card_json, comment_json

bp = Blueprint("kaiten_views", __name__)

HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}"
    "li{margin:.4rem 0}.meta{color:#666;font-size:.9em}.done{color:#2a7}.tag{background:#eef;padding:0 .3em}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.8rem}"
)


def _html(template: str, status: int = 200, **context: Any) -> Response:
    return html_response(render_template(template, style=PAGE_STYLE, **context), status, HTML_CSP)


@bp.route("/")
def html_index() -> Response:
    conn = db()
    rows = conn.execute("SELECT * FROM card WHERE condition != 3 ORDER BY id DESC LIMIT 200").fetchall()
    return _html("index.html", cards=[card_json(r, conn, full=False) for r in rows])


@bp.route("/<int:card_id>")
@bp.route("/space/<int:space_id>/card/<int:card_id>")
@bp.route("/space/<int:space_id>/boards/card/<int:card_id>")
def html_card(card_id: int, space_id: int | None = None) -> Response:
    conn = db()
    row = conn.execute("SELECT * FROM card WHERE id = ? AND condition != 3", (card_id,)).fetchone()
    if row is None:
        return Response("Card not found", status=404, mimetype="text/plain")
    card = card_json(row, conn)
    comments = [
        comment_json(r)
        for r in conn.execute("SELECT * FROM comment WHERE card_id = ? ORDER BY id", (card_id,))
    ]
    return _html("card.html", c=card, comments=comments, props=_property_lines(card["properties"]))


def _property_lines(values: dict[str, Any]) -> list[tuple[str, str]]:
    lines = []
    for key, value in values.items():
        match = PROPERTY_KEY.fullmatch(key)
        prop = by_id(PROPERTIES, match.group(1)) if match else None
        if prop is None:
            continue
        if prop.type == "select":
            names = {v.id: v.value for v in prop.values}
            value = ", ".join(names.get(v, str(v)) for v in value)
        lines.append((prop.name, str(value)))
    return lines
