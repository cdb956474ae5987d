"""Text a route carries from one issue to another, pure: a description, and the digest of the comments.

Within one tracker instance a description is carried as it is: it is that tracker's markup and was
already there. To another instance, or the other tracker (Jira wiki markup ↔ Kaiten markdown), it is
made plain text (``mappers.replies_out``'s converters, which drop mentions and macros) and escaped for
the target's markup (``mappers.markup``), so nothing in it can mention, embed or link anything there
that the source did not show as text.

:func:`digest_comment` writes the source's public comments as ONE comment for the target: a heading
naming the source issue, then each comment with its author and date, oldest first, and the caller's
idempotency marker last, so a retried route can find the digest it already wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC

from connector.types import Comment
from mappers.markup import Markup, clean_text
from mappers.markup_text import markdown_to_text, wiki_to_text

TO_PLAIN: dict[str, Callable[[str], str]] = {"jira": wiki_to_text, "kaiten": markdown_to_text}
MAX_DIGEST_CHARS = 30_000  # under Jira's 32 767-character comments, with room for the marker
MAX_COMMENT_CHARS = 5_000  # one comment's share of a digest


def plain_text(text: str, source_markup: str) -> str:
    """A tracker's markup (``jira`` or ``kaiten``) as plain text."""
    return TO_PLAIN[source_markup](text) if text else ""


def carried_text(text: str, source_markup: str, target: Markup, *, same_instance: bool) -> str:
    """``text`` (in ``source_markup``) as the target tracker's markup ``target``."""
    if same_instance and source_markup == target.name:
        return clean_text(text).strip()
    return target.escape(plain_text(text, source_markup)).strip()


def public_comments(comments: Sequence[Comment]) -> tuple[Comment, ...]:
    """The comments a digest carries: all but those the tracker marks internal (Jira Service
    Management internal comments, Kaiten internal ones), oldest first."""
    kept = [c for c in comments if c.public is not False and c.body.strip()]
    return tuple(sorted(kept, key=lambda c: c.created.timestamp() if c.created else 0.0))


def digest_comment(
    comments: Sequence[Comment],
    markup: Markup,
    *,
    marker: str,
    source_key: str = "",
    source_markup: str | None = None,
    limit: int = MAX_DIGEST_CHARS,
) -> str | None:
    """The one comment carrying ``comments``' public ones to the target, in ``markup``; None when there
    are none.

    ``source_markup`` is the markup the bodies are written in (``jira``/``kaiten``): with it each body
    is made plain text and escaped for ``markup``; without it (the same tracker instance) a body is
    carried as written. Authors are escaped always. A digest over ``limit`` characters ends with the
    number of comments left out.
    """
    kept = public_comments(comments)
    if not kept:
        return None
    heading = f"Comments from {source_key}" if source_key else "Comments"
    parts = [markup.bold(markup.escape(f"{heading} ({len(kept)})"))]
    marker_text = markup.marker(marker)
    budget = limit - len(parts[0]) - len(marker_text) - 200
    shown = 0
    for comment in kept:
        block = _comment_block(comment, markup, source_markup)
        if len(block) > budget:
            break
        parts.extend((markup.rule, block))
        budget -= len(block) + len(markup.rule) + 2
        shown += 1
    if shown < len(kept):
        parts.extend((markup.rule, markup.italic(markup.escape(f"{len(kept) - shown} more not shown"))))
    parts.append(marker_text)
    return "\n\n".join(parts)


def _comment_block(comment: Comment, markup: Markup, source_markup: str | None) -> str:
    author = markup.escape(comment.author_name or comment.author or "unknown")
    when = comment.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if comment.created else ""
    heading = markup.bold(author) + (f" — {when}" if when else "")
    if source_markup is None:
        return f"{heading}\n{_clip(clean_text(comment.body).strip())}"
    return f"{heading}\n{markup.escape(_clip(plain_text(comment.body, source_markup).strip()))}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_COMMENT_CHARS else text[: MAX_COMMENT_CHARS - 1] + "…"
