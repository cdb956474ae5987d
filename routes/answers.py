"""Helpers every hook shares: secret checks, bounded bodies, and the accept-and-answer step."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from jobs.intake import Accepted, accept, accept_unparsed
from mappers.errors import MapperError, PayloadTooLarge
from mappers.models import Channel, InboundMessage
from routes.errors import AuthError
from routes.state import hub

log = logging.getLogger(__name__)
_PIECE = 256 * 1024  # bytes per read of a chunked body


def require_secret(given: str | None, expected: str | None, what: str) -> None:
    """Compare a webhook secret in constant time: 401 when missing, 403 when wrong or not configured."""
    if not expected:
        raise AuthError(f"{what} is not configured on this hub", 403)
    if not given:
        raise AuthError(f"missing {what}", 401)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthError(f"wrong {what}", 403)


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer …`` header."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def read_body(limit: int) -> bytes:
    """The raw request body, refused with 413 past ``limit`` bytes (before reading it all).

    A chunked body (no Content-Length) is read in pieces until it ends or passes the limit: a stream may
    return fewer bytes than asked, and one short read must not truncate the message silently. Reads ask
    for the Content-Length or a piece, never for ``limit`` bytes: a read allocates what it asks for.
    """
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    piece = request.content_length if request.content_length is not None else _PIECE
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = request.stream.read(min(piece, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def answer_body(result: Accepted) -> tuple[dict[str, object], int]:
    """202 for a new message, 200 with ``duplicate: true`` for a repeat (DESIGN.md contract)."""
    if result.duplicate:
        return {"id": result.id, "status": result.status, "duplicate": True}, 200
    return {"id": result.id, "status": result.status}, 202


def answer(result: Accepted) -> ResponseReturnValue:
    """The JSON answer to a sender for an accepted message."""
    body, status = answer_body(result)
    return jsonify(body), status


def accept_parsed(
    channel: Channel, raw: bytes, parse: Callable[[], InboundMessage], fallback_external_id: str
) -> ResponseReturnValue:
    """Parse and accept; a parser crash keeps the raw payload as a dead letter instead of a 500.

    Typed mapper errors (bad input) propagate to the error handlers. Anything else is a bug in our
    parser: the sender still gets 202 and the bytes are journaled for ``trackerhub replay``.
    """
    state = hub()
    try:
        message = parse()
    except MapperError:
        raise
    except Exception:
        log.exception("hook.parser-crashed channel=%s", channel.value)
        return answer(
            accept_unparsed(state.engine, state.redis, channel, raw, fallback_external_id, "parser error")
        )
    return answer(accept(state.engine, state.redis, message, raw))
