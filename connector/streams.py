"""Reading HTTP bodies within a size limit."""

from __future__ import annotations

import requests


def read_capped(response: requests.Response, max_bytes: int) -> bytes | None:
    """A streamed body, or None as soon as it grows past ``max_bytes``."""
    with response:
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_content(64 * 1024):
            total += len(chunk)
            if total > max_bytes:
                return None
            chunks.append(chunk)
    return b"".join(chunks)
