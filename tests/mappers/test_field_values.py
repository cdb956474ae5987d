"""Field values: a source's raw JSON as plain data, and any value as the type a target field takes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.types import Choice, FieldSpec
from mappers.field_values import ValueProblem, convert, display, plain_value
from tests.mappers.conftest import Readings

SEVERITY = FieldSpec(
    "customfield_10020",
    "Severity",
    "option",
    allowed=(Choice("10100", "Critical"), Choice("10101", "Major"), Choice("10102", "Minor")),
)
CHANNEL = FieldSpec(
    "id_503",
    "Channel",
    "options",
    allowed=(Choice("611", "Email"), Choice("612", "Telegram"), Choice("613", "Form")),
)


def spec(kind: str, field_id: str = "f") -> FieldSpec:
    return FieldSpec(field_id, "Field", kind)


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        ({"self": "…", "value": "LaserJet 4250", "id": "10200"}, None, "LaserJet 4250"),  # a Jira option
        ({"name": "High", "id": "2"}, None, "High"),  # a priority
        ({"name": "jsmith", "key": "JIRAUSER1", "displayName": "John"}, None, "jsmith"),  # a DC user
        ({"accountId": "5b10a2844c20165700ede21g", "displayName": "John"}, None, "5b10a2844c20165700ede21g"),
        ([{"name": "Printers"}, {"name": "Servers"}], None, ("Printers", "Servers")),  # components
        (
            [602],
            SEVERITY.__class__("id_501", "Severity", "option", allowed=(Choice("602", "Major"),)),
            ("Major",),
        ),
        ([999], CHANNEL, (999,)),  # a value id the property does not list stays as it is
        ("ACME", None, "ACME"),
        (None, None, None),
        ({}, None, None),
    ],
)
def test_a_source_value_reads_as_a_person_would(
    raw: object, field: FieldSpec | None, expected: object
) -> None:
    assert plain_value(raw, field) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (SEVERITY, "major", Choice("10101", "Major")),
        (SEVERITY, "10102", Choice("10102", "Minor")),
        (SEVERITY, ["Critical"], Choice("10100", "Critical")),
        (SEVERITY, Choice("", "Minor"), Choice("10102", "Minor")),
        (CHANNEL, "Email, telegram", (Choice("611", "Email"), Choice("612", "Telegram"))),
        (CHANNEL, ("Form", "Form"), (Choice("613", "Form"),)),
        (spec("priority"), "High", Choice("", "High")),  # no allowed values listed: any name goes
        (spec("string"), "  two\nlines  ", "two lines"),
        (spec("string"), "x" * 300, "x" * 254 + "…"),
        (spec("text"), "a\r\nb\x00", "a\nb"),
        (spec("number"), "1 500", 1500),
        (spec("number"), "2,5", 2.5),
        (spec("number"), 7, 7),
        (spec("date"), "2026-12-31", date(2026, 12, 31)),
        (spec("date"), "31.12.2026", date(2026, 12, 31)),
        (spec("date"), datetime(2026, 12, 31, 23, 0, tzinfo=UTC), date(2026, 12, 31)),
        (
            spec("datetime"),
            "2026-12-31T10:00:00+03:00",
            datetime(2026, 12, 31, 10, tzinfo=timezone(timedelta(hours=3))),
        ),
        (spec("datetime"), "2026-12-31T10:00", datetime(2026, 12, 31, 10, tzinfo=UTC)),
        (spec("user"), "jsmith", "jsmith"),
        (spec("users"), "jsmith, admin", ("jsmith", "admin")),
        (spec("labels"), ["needs parts", "vip"], ("needs-parts", "vip")),
        (spec("any", "asap"), "true", True),
        (spec("any", "asap"), "нет", False),
        (spec("any", "asap"), True, True),
        (spec("string"), "", None),
        (spec("users"), [], None),
    ],
)
def test_a_value_becomes_what_the_field_takes(field: FieldSpec, value: object, expected: object) -> None:
    assert convert(field, value) == expected


def test_kaiten_tags_keep_their_spaces() -> None:
    assert convert(spec("labels"), "needs parts, vip", target_kind="kaiten") == ("needs parts", "vip")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (SEVERITY, "Urgent", "'Urgent' is not one of its values; it takes Critical, Major, Minor"),
        (SEVERITY, "Critical, Minor", "it takes one value, not 2"),
        (CHANNEL, "Email, Fax", "'Fax' is not one of its values; it takes Email, Telegram, Form"),
        (spec("number"), "many", "it takes a number, not 'many'"),
        (spec("number"), True, "it takes a number, not True"),
        (spec("date"), "next week", "it takes a date (2026-12-31), not 'next week'"),
        (spec("datetime"), "soon", "it takes a date and time"),
        (spec("any", "asap"), "maybe", "it is true or false, not 'maybe'"),
        (spec("user"), "jsmith, admin", "it takes one value, not 2"),
    ],
)
def test_a_value_that_does_not_fit_says_what_the_field_takes(
    field: FieldSpec, value: object, message: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        convert(field, value)
    assert str(caught.value).startswith(message)


def test_display_reads_each_kind_of_value() -> None:
    assert display((Choice("1", "Email"), Choice("2", "Form"))) == "Email, Form"
    assert (display(True), display(date(2026, 1, 2)), display(None)) == ("yes", "2026-01-02", "")


values = st.one_of(
    st.text(max_size=30),
    st.lists(st.text(max_size=12), max_size=4),
    st.integers(),
    st.booleans(),
    st.sampled_from(["Critical", "major", "10102", "Email, Telegram", "Form", "611", " Minor "]),
)


@given(value=values)
def test_a_select_never_takes_a_value_it_does_not_allow(readings: Readings, value: object) -> None:
    selects = [
        field
        for schema in readings.schemas.values()
        for field in schema.fields
        if field.allowed and field.id not in ("project", "issuetype")
    ]
    assert selects, "the look-alikes' screens have select fields"
    for field in selects:
        try:
            converted = convert(field, value)
        except ValueProblem:
            continue
        chosen = converted if isinstance(converted, tuple) else (converted,)
        for choice in chosen:
            if choice is not None:
                assert choice in field.allowed or choice in [c.name for c in field.allowed], (field, value)
