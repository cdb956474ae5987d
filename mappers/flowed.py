"""Decode RFC 3676 ``text/plain; format=flowed`` bodies into plain lines.

A flowed body wraps a paragraph at about 72 columns and marks each soft break with a trailing space;
decoding joins those lines back. Quoting is part of the format: a line's quote depth is its count of
leading ``>``, and a paragraph never spans two depths, so the customer's new text is never glued onto
the line of the quote above it (the bottom-posted Thunderbird reply in issue 20 was).

The rules, by section of RFC 3676:

- 4.1, 4.2: a line ending in a space is flowed and joins the next; with ``DelSp=yes`` that space was
  added only to mark the break and is deleted;
- 4.3: the signature separator ``-- `` is never flowed, even though it ends in a space;
- 4.4: a leading space after the quote marks is space-stuffing, added by the sender, and is removed;
- 4.5: the quote depth is the number of ``>`` at the start of the line; a flowed line followed by a
  line of another depth is improperly flowed and is treated as fixed ("quote-depth wins").

Quoted lines come out as ``>`` marks, one space, and the joined text (``>> text``), so quote stripping
sees the same shape as in a plain (fixed) body.
"""

from __future__ import annotations

SIGNATURE_SEPARATOR = "-- "


def _split_line(line: str) -> tuple[int, str]:
    """The quote depth (RFC 3676 section 4.5) and the content with its space-stuffing removed (4.4)."""
    depth = len(line) - len(line.lstrip(">"))
    content = line[depth:]
    return depth, content[1:] if content.startswith(" ") else content


def _render(depth: int, content: str) -> str:
    if not depth:
        return content
    return ">" * depth + (" " + content if content else "")


def decode_flowed(text: str, *, delsp: bool) -> str:
    """The body with soft line breaks joined, per quote depth, and space-stuffing removed."""
    out: list[str] = []
    depth, paragraph, open_ = 0, "", False
    for line in text.replace("\r\n", "\n").split("\n"):
        line_depth, content = _split_line(line)
        if open_ and line_depth != depth:  # section 4.5: the change of depth ends the paragraph
            out.append(_render(depth, paragraph))
            open_ = False
        flowed = content.endswith(" ") and content != SIGNATURE_SEPARATOR
        piece = content[:-1] if flowed and delsp else content
        paragraph = paragraph + piece if open_ else piece
        depth, open_ = line_depth, flowed
        if not flowed:
            out.append(_render(depth, paragraph))
    if open_:
        out.append(_render(depth, paragraph))
    return "\n".join(out)
