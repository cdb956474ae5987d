"""Text carried by a route: descriptions across markups, and the one digest comment of the public comments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.types import Comment
from mappers.markup import JIRA, KAITEN, Markup
from mappers.route_text import carried_text, digest_comment, public_comments
from tests.mappers.conftest import Readings

WHEN = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


def comment(body: str, n: int = 1, **overrides: object) -> Comment:
    values: dict[str, object] = {
        "id": str(n),
        "body": body,
        "author": f"user{n}",
        "author_name": f"User {n}",
        "public": True,
        "created": WHEN.replace(minute=n),
    }
    values.update(overrides)
    return Comment(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "target", "same", "expected"),
    [
        ("jira", JIRA, True, "h2. Title\n*bold* [~admin]"),  # the same instance: as it was written
        ("jira", JIRA, False, "Title\nbold"),  # another Jira: plain text, the mention dropped
        ("jira", KAITEN, False, "Title  \nbold"),
        ("kaiten", JIRA, False, "Title\nbold @alice"),
        ("kaiten", KAITEN, True, "## Title\n**bold** @alice"),
        ("kaiten", KAITEN, False, "Title  \nbold \\@alice"),
    ],
)
def test_a_description_crosses_trackers_as_text(
    source: str, target: Markup, same: bool, expected: str
) -> None:
    text = "h2. Title\n*bold* [~admin]" if source == "jira" else "## Title\n**bold** @alice"
    assert carried_text(text, source, target, same_instance=same) == expected


def active(text: str, specials: str) -> list[str]:
    """The characters of ``specials`` in ``text`` that no backslash escapes."""
    found, index = [], 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] in specials:
            found.append(text[index])
        index += 1
    return found


@given(text=st.text(alphabet=st.sampled_from("[]{}!|~@*_-#h1.abc \n()<>`:/\\&"), max_size=60))
def test_no_markup_crosses_into_the_other_tracker(text: str) -> None:
    # Jira: no link, mention, macro, image or table; Kaiten: no link, image, HTML, mention or code
    assert active(carried_text(text, "kaiten", JIRA, same_instance=False), "[]{}!|~") == []
    assert active(carried_text(text, "jira", KAITEN, same_instance=False), "[]()<>!@`&") == []


def test_the_digest_carries_public_comments_with_authors_dates_and_the_marker(readings: Readings) -> None:
    source = readings.jira  # two comments read back from the Jira look-alike (no JSM: visibility unknown)
    internal = comment("internal: do not forward", 9, public=False)
    digest = digest_comment(
        (*source.comments, internal), KAITEN, marker="hub-route-r1", source_key="SUP-1", source_markup="jira"
    )
    assert digest is not None
    assert digest.startswith("**Comments from SUP\\-1 \\(2\\)**")
    assert "**Trackerhub** — " in digest and " UTC\nFirst look: the drum is fine\\." in digest
    assert "Customer says promised a fix\\." in digest and "admin" not in digest  # no mention carried
    assert "internal" not in digest
    assert digest.endswith("_hub-route-r1_")
    assert digest.index("First look") < digest.index("Customer says")


def test_within_one_instance_comments_keep_their_markup(readings: Readings) -> None:
    digest = digest_comment(readings.kaiten.comments, KAITEN, marker="hub-route-r2", source_key="1001")
    assert digest is not None and "First look: the **drum** is fine." in digest


def test_authors_are_escaped_and_comments_sorted_oldest_first() -> None:
    late = comment("second", 2, author_name="[~admin] {html}")
    early = comment("first", 1)
    digest = digest_comment([late, early], JIRA, marker="m", source_markup="kaiten")
    assert digest is not None
    assert "*\\[\\~admin\\] \\{html\\}* — 2026-11-23 10:02 UTC\nsecond" in digest
    assert digest.index("first") < digest.index("second")
    assert digest.endswith("{color:#999999}m{color}")


def test_no_public_comment_is_no_digest() -> None:
    assert digest_comment([comment("x", public=False), comment("   ")], JIRA, marker="m") is None
    assert public_comments([comment("x", public=None)]) != ()  # a tracker that does not say: carried


def test_a_long_digest_says_how_many_comments_it_left_out() -> None:
    many = [comment("word " * 900, n) for n in range(1, 20)]
    digest = digest_comment(many, JIRA, marker="hub-route-x", source_markup="jira", limit=20_000)
    assert digest is not None and len(digest) <= 20_000
    assert "more not shown_" in digest and digest.endswith("{color:#999999}hub-route-x{color}")
    shown = digest.count("— 2026-11-23")
    assert 0 < shown < 19 and f"_{19 - shown} more not shown_" in digest


def test_a_comment_without_a_date_or_name_still_reads(readings: Readings) -> None:
    bare = replace(readings.kaiten.comments[0], created=None, author_name="")
    digest = digest_comment([bare], JIRA, marker="m", source_markup="kaiten")
    assert digest is not None and "*1*\nFirst look: the drum is fine." in digest
