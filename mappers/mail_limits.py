"""How much work one mail may cause: the e-mail parser's bounds (mappers/email.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmailLimits:
    """Bounds on the work one mail may cause; beyond the structural ones the parser degrades."""

    max_bytes: int = 40 * 1024 * 1024  # over this: PayloadTooLarge (the route's own limit is lower)
    max_depth: int = 20  # MIME nesting levels walked
    max_parts: int = 500  # MIME parts walked
    max_header_fields: int = 1_000  # header fields kept beyond the ones the hub reads
    max_attachments: int = 50
    max_header_chars: int = 16_384  # per decoded header value kept (subject, names)
    max_addresses: int = 100  # per To / Cc
    max_delivered_to: int = 10  # Delivered-To addresses kept (one per delivery hop; rules match them)
    max_references: int = 100
    max_html_chars: int = 1_000_000  # HTML converted to text
    max_html_links: int = 5_000  # above this the text keeps link texts but no URLs (as Zammad)
    max_text_chars: int = 100_000  # text kept
