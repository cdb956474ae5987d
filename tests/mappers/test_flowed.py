"""RFC 3676 format=flowed decoding: soft breaks joined within one quote depth only, space-stuffing
removed, DelSp honoured, the signature separator left alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.flowed import decode_flowed

CASES = [
    # (flowed body, delsp, decoded, what RFC 3676 says)
    ("one \ntwo \nthree", False, "one two three", "4.1: a line ending in a space continues on the next"),
    ("one\ntwo", False, "one\ntwo", "4.1: a line without the space is a hard break"),
    ("Zusam \nmen", True, "Zusammen", "4.2: DelSp=yes deletes the space of the soft break"),
    ("a \r\nb\r\n", False, "a b\n", "CRLF line ends"),
    ("-- \nIvan", False, "-- \nIvan", "4.3: the signature separator is never flowed"),
    (" From here\n  two spaces", False, "From here\n two spaces", "4.4: one stuffed space is removed"),
    ("> Hi \nHello", False, "> Hi \nHello", "4.5: a flowed quoted line is not joined onto an unquoted one"),
    ("Hello \n> Hi", False, "Hello \n> Hi", "4.5: nor an unquoted line onto a quoted one"),
    (">> a \n>> b\n> c \n> d", False, ">> a b\n> c d", "4.5: joined within each depth"),
    (">> a \n> b", False, ">> a \n> b", "4.5: quote-depth wins between depths"),
    (">Hi \n> there", False, "> Hi there", "4.4, 4.5: the space after the quote marks is stuffing"),
    (">\n> x", False, ">\n> x", "an empty quoted line stays a quoted line"),
    ("end ", False, "end ", "a flowed last line is kept"),
]


@pytest.mark.parametrize(("body", "delsp", "decoded", "rule"), CASES, ids=[case[3] for case in CASES])
def test_decode_flowed(body: str, delsp: bool, decoded: str, rule: str):
    assert decode_flowed(body, delsp=delsp) == decoded, rule


@given(
    st.lists(st.tuples(st.integers(0, 3), st.text(alphabet="ab ", max_size=8)), max_size=12), st.booleans()
)
def test_no_line_joins_two_quote_depths(lines: list[tuple[int, str]], delsp: bool):
    body = "\n".join(">" * depth + (" " if depth else "") + text.lstrip(" >") for depth, text in lines)
    depths = [len(line) - len(line.lstrip(">")) for line in decode_flowed(body, delsp=delsp).split("\n")]
    # every decoded line has the depth of a run of source lines, in order: nothing moved across depths
    runs = [depth for index, (depth, _text) in enumerate(lines) if index == 0 or lines[index - 1][0] != depth]
    assert [d for index, d in enumerate(depths) if index == 0 or depths[index - 1] != d] == (runs or [0])
