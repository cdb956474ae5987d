"""mappers.tracker_events against every Jira and Kaiten fixture, then variations built from them."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.errors import AnomalousPayload, UnsupportedEvent
from mappers.kaiten_events import parse_kaiten_webhook
from mappers.tracker_events import (
    TrackerEvent,
    is_own_event,
    parse_jira_webhook,
    staleness,
    verify_hub_signature,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
JIRA = FIXTURES / "jira"
KAITEN = FIXTURES / "kaiten"


def load(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name).read_text(encoding="utf-8"))


# Every fixture's expected outcome: the fields to check, or the exception and its text.
JIRA_EXPECTED: dict[str, dict[str, Any] | tuple[type[Exception], str]] = {
    "mattermost-plugin-jira__webhook-cloud-comment-created.json": {
        "kind": "comment_created",
        "event_id": "comment:10019:2019-02-15T19:11:18.321-0800",
        "issue_key": "TES-41",
        "issue_id": "10040",
        "comment_id": "10019",
        "comment_body": "Added a comment",
        "comment_author": "5c5f880629be9642ba529340",
        "comment_public": True,
        "actor": "5c5f880629be9642ba529340",
        "actor_name": "Test User",
        "comment_url": "https://some-instance-test.atlassian.net/rest/api/2/issue/10040/comment/10019",
    },
    "mattermost-plugin-jira__webhook-cloud-issue-created-many-fields.json": {
        "kind": "issue_created",
        "event_id": "jira:issue_created:10509",
        "issue_key": "KT-22",
        "issue_id": "10509",
        "actor": "5cedcb4355a88a0fc86388ba",
    },
    "mattermost-plugin-jira__webhook-cloud-issue-updated-custom-field.json": {
        "kind": "issue_updated",
        "event_id": "changelog:11479",
        "issue_key": "TES-14",
        "issue_id": "10368",
        "status_to": None,
        "actor": "5cedcb4355a88a0fc86388ba",
    },
    "mattermost-plugin-jira__webhook-issue-updated-resolved.json": {
        "kind": "issue_transitioned",
        "event_id": "changelog:10228",
        "issue_key": "TES-41",
        "status_from": "In Progress",
        "status_to": "Done",
        "status_category_to": "done",
        "actor": "5c5f880629be9642ba529340",
        "comment_id": None,
        "fields_changed": ("resolution", "status"),
        "resolution": "Done",
    },
    "mattermost-plugin-jira__webhook-server-comment-created.json": {
        "kind": "comment_created",
        "event_id": "comment:10082:2019-06-04T00:15:17.234+0000",
        "issue_key": None,  # Server sends no issue object: the job re-reads it by id
        "issue_id": "10013",
        "comment_id": "10082",
        "comment_body": "unik",
        "comment_author": "levbrouk",
        "comment_public": None,  # Server has no jsdPublic: visibility unknown
        "actor": "levbrouk",
    },
    "mattermost-plugin-jira__webhook-server-issue-updated-commented-2.json": {
        "kind": "comment_created",
        "event_id": "comment:10118:2019-06-28T21:32:16.057+0000",
        "source_event": "jira:issue_updated",
        "issue_key": "PRJA-42",
        "issue_id": "10231",
        "comment_id": "10118",
        "comment_author": "TestUser",
        "comment_public": None,
    },
    "mattermost-plugin-jira__webhook-server-issue-updated-in-progress.json": {
        "kind": "issue_transitioned",
        "event_id": "changelog:10508",
        "issue_key": "TES-4",
        "status_from": "Reopened",
        "status_to": "In Progress",
        "status_category_to": "indeterminate",
        "actor": "admin",
    },
    "zulip__comment_created.json": {
        "kind": "comment_created",
        "event_id": "comment:10000:2019-01-07T16:55:51.184-0330",
        "issue_key": "ZUL-1",
        "comment_body": "Leaving a comment here! :)",
        "comment_public": True,
        "actor_name": "Eeshan Garg",
    },
    "zulip__issue_updated__status.json": {
        "kind": "issue_transitioned",
        "event_id": "changelog:10000",
        "issue_key": "TEST-1",
        "status_from": "To Do",
        "status_to": "In Progress",
        "status_category_to": "indeterminate",
        "actor": "99:b8d8a054-2e12-4839-bd5f-5f2b7c5f5e3a",
        "occurred_at": dt.datetime(2017, 1, 30, 17, 32, 14, 721000, tzinfo=dt.UTC),
    },
}

KAITEN_EXPECTED: dict[str, dict[str, Any] | tuple[type[Exception], str]] = {
    "comment-add.docs-shape.json": {
        "kind": "comment_created",
        "event_id": "comment:add:9001:2026-03-02T09:15:00.123Z",
        "issue_key": "4242",
        "issue_id": "4242",
        "comment_id": "9001",
        "comment_body": "/reply Мы получили ваши **логи**, спасибо!",
        "comment_author": "101",
        "comment_public": True,
        "actor": "101",
        "actor_name": "Ivan Petrov",
        "occurred_at": dt.datetime(2026, 3, 2, 9, 15, 0, 123000, tzinfo=dt.UTC),
    },
    "comment-add-internal.docs-shape.json": {
        "kind": "comment_created",
        "comment_id": "9002",
        "comment_public": False,
    },
    "comment-update.docs-shape.json": {
        "kind": "comment_updated",
        "event_id": "comment:update:9001:2026-03-02T09:30:00.456Z",
        "comment_id": "9001",
        "comment_body": "/reply Мы получили ваши **логи** и уже смотрим.",
        "comment_public": True,
    },
    "comment-remove.docs-shape.json": (UnsupportedEvent, "comment:remove"),
    "card-update-moved.docs-shape.json": {
        "kind": "issue_transitioned",
        "event_id": "card:update:4242:2026-03-02T10:00:00.000Z",
        "issue_key": "4242",
        "status_from": "310",
        "status_to": "311",
        "status_category_to": "indeterminate",
    },
    "card-update-properties.docs-shape.json": {
        "kind": "issue_updated",
        "event_id": "card:update:4242:2026-03-02T11:00:00.000Z",
        "status_to": None,
        "fields_changed": ("id_5376", "id_5419"),  # archived, condition: in changes, not changed
    },
    "card-update-deleted.docs-shape.json": {"kind": "issue_deleted", "issue_key": "4242"},
    "card-add.docs-shape.json": {
        "kind": "issue_created",
        "event_id": "card:add:4242",
        "issue_key": "4242",
        "status_to": "310",
    },
    "tag-add.docs-shape.json": (UnsupportedEvent, "tag:add"),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in JIRA.glob("*.json")) == sorted(JIRA_EXPECTED)
    assert sorted(p.name for p in KAITEN.glob("*.json")) == sorted(KAITEN_EXPECTED)


def test_the_shared_fixtures_are_all_covered() -> None:
    shared = Path("/work/shared/fixtures/jira")
    if not shared.is_dir():
        pytest.skip("../shared is not mounted")
    payloads = {p.name for p in shared.glob("*.json") if "__" in p.name}
    assert payloads <= set(JIRA_EXPECTED)


def check(event: TrackerEvent, expected: dict[str, Any]) -> None:
    got = {name: getattr(event, name) for name in expected}
    assert got == expected


@pytest.mark.parametrize("name", sorted(JIRA_EXPECTED))
def test_jira_fixture(name: str) -> None:
    expected = JIRA_EXPECTED[name]
    payload = load(JIRA, name)
    if isinstance(expected, tuple):
        error, text = expected
        with pytest.raises(error, match=text):
            parse_jira_webhook(payload)
        return
    event = parse_jira_webhook(payload)
    assert event.tracker == "jira"
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None
    check(event, expected)
    # The model survives the journal: JSON out and back.
    assert TrackerEvent.model_validate_json(event.model_dump_json()) == event


@pytest.mark.parametrize("name", sorted(KAITEN_EXPECTED))
def test_kaiten_fixture(name: str) -> None:
    expected = KAITEN_EXPECTED[name]
    payload = load(KAITEN, name)
    if isinstance(expected, tuple):
        error, text = expected
        with pytest.raises(error, match=text):
            parse_kaiten_webhook(payload)
        return
    event = parse_kaiten_webhook(payload)
    assert event.tracker == "kaiten"
    check(event, expected)
    assert TrackerEvent.model_validate_json(event.model_dump_json()) == event


# --- Jira: dedupe keys -------------------------------------------------------------------------------


def dc_comment_created_twin(issue_commented: dict[str, Any]) -> dict[str, Any]:
    """The ``comment_created`` Data Center sends for the same comment as an ``issue_commented`` update."""
    twin = {
        "timestamp": issue_commented["timestamp"] + 3,
        "webhookEvent": "comment_created",
        "comment": copy.deepcopy(issue_commented["comment"]),
    }
    return twin


def test_data_center_double_report_has_one_event_id() -> None:
    updated = load(JIRA, "mattermost-plugin-jira__webhook-server-issue-updated-commented-2.json")
    created = dc_comment_created_twin(updated)
    a, b = parse_jira_webhook(updated), parse_jira_webhook(created)
    assert a.kind == b.kind == "comment_created"
    assert a.event_id == b.event_id
    assert (a.comment_id, a.issue_id, a.comment_body) == (b.comment_id, b.issue_id, b.comment_body)
    # ...even when each delivery carries its own identifier.
    a2 = parse_jira_webhook(updated, delivery_id="d-1")
    b2 = parse_jira_webhook(created, delivery_id="d-2")
    assert a2.event_id == b2.event_id
    assert (a2.delivery_id, b2.delivery_id) == ("d-1", "d-2")


def test_redelivery_is_the_same_event() -> None:
    payload = load(JIRA, "zulip__issue_updated__status.json")
    first = parse_jira_webhook(payload, delivery_id="abc")
    again = parse_jira_webhook(copy.deepcopy(payload), delivery_id="abc")
    assert first == again


def test_comment_edit_is_a_new_event() -> None:
    payload = load(JIRA, "zulip__comment_created.json")
    edited = copy.deepcopy(payload)
    edited["webhookEvent"] = "comment_updated"
    edited["comment"]["updated"] = "2019-01-07T17:00:00.000-0330"
    edited["comment"]["body"] = "Edited"
    edited["comment"]["updateAuthor"] = {"accountId": "someone-else", "displayName": "Other"}
    a, b = parse_jira_webhook(payload), parse_jira_webhook(edited)
    assert b.kind == "comment_updated"
    assert a.comment_id == b.comment_id and a.event_id != b.event_id
    assert b.comment_body == "Edited"
    assert (b.actor, b.comment_author) == ("someone-else", "someone-else")


def test_data_center_comment_edit_twin() -> None:
    payload = load(JIRA, "mattermost-plugin-jira__webhook-server-issue-updated-commented-2.json")
    payload["issue_event_type_name"] = "issue_comment_edited"
    assert parse_jira_webhook(payload).kind == "comment_updated"


def test_issue_deleted_uses_the_signed_timestamp_before_the_delivery_id() -> None:
    payload = load(JIRA, "mattermost-plugin-jira__webhook-issue-updated-resolved.json")
    payload["webhookEvent"] = "jira:issue_deleted"
    payload["issue_event_type_name"] = "issue_deleted"
    payload.pop("changelog")
    event = parse_jira_webhook(payload)
    assert event.kind == "issue_deleted"
    assert event.event_id == "jira:issue_deleted:10040:1550286940507"
    # the identifier header is not signed: a replayed body under a fresh one is the same event
    assert (
        parse_jira_webhook(payload, delivery_id="wh-1").event_id == "jira:issue_deleted:10040:1550286940507"
    )
    payload.pop("timestamp")
    assert parse_jira_webhook(payload, delivery_id="wh-1").event_id == "wh-1"


def test_a_transition_without_a_changelog_id_is_keyed_by_signed_content() -> None:
    payload = load(JIRA, "mattermost-plugin-jira__webhook-issue-updated-resolved.json")
    payload["changelog"].pop("id")
    first = parse_jira_webhook(payload, delivery_id="d-1")
    replayed = parse_jira_webhook(payload, delivery_id="d-2")
    assert first.kind == "issue_transitioned"
    assert first.event_id == replayed.event_id == "jira:issue_updated:10040:1550286940507"


@pytest.mark.parametrize(
    ("minutes", "fresh"), [(0, True), (59, True), (-59, True), (61, False), (-61, False), (24 * 60, False)]
)
def test_staleness_window(minutes: int, fresh: bool) -> None:
    payload = load(JIRA, "zulip__comment_created.json")
    event = parse_jira_webhook(payload)
    assert event.occurred_at is not None
    now = event.occurred_at + dt.timedelta(minutes=minutes)
    problem = staleness(event, now, dt.timedelta(minutes=60))
    assert (problem is None) is fresh
    if not fresh:
        assert "at most 60" in (problem or "")


def test_a_webhook_without_a_timestamp_is_not_fresh() -> None:
    payload = load(JIRA, "zulip__comment_created.json")
    payload.pop("timestamp")
    event = parse_jira_webhook(payload)
    assert (
        staleness(event, dt.datetime.now(dt.UTC), dt.timedelta(minutes=60)) == "the webhook has no timestamp"
    )


def test_status_category_only_when_the_issue_is_still_there() -> None:
    payload = load(JIRA, "mattermost-plugin-jira__webhook-issue-updated-resolved.json")
    payload["issue"]["fields"]["status"] = {
        "id": "3",
        "name": "In Progress",
        "statusCategory": {"key": "indeterminate"},
    }
    event = parse_jira_webhook(payload)
    assert (event.status_to, event.status_category_to) == ("Done", None)


def test_transition_with_comment_is_a_transition() -> None:
    payload = load(JIRA, "mattermost-plugin-jira__webhook-issue-updated-resolved.json")
    payload["comment"] = {"id": "1", "body": "closing", "updated": "x"}
    assert parse_jira_webhook(payload).kind == "issue_transitioned"


@pytest.mark.parametrize(
    "name",
    [
        "worklog_created",
        "worklog_updated",
        "comment_deleted",
        "issuelink_created",
        "sprint_started",
    ],
)
def test_unsupported_jira_events(name: str) -> None:
    with pytest.raises(UnsupportedEvent, match=name):
        parse_jira_webhook({"webhookEvent": name, "timestamp": 1})


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "comment_created",
        {},
        {"webhookEvent": ""},
        {"webhookEvent": 5},
        {"webhookEvent": "comment_created"},
        {"webhookEvent": "comment_created", "comment": "text"},
        {"webhookEvent": "comment_created", "comment": {"body": "no id"}},
        {"webhookEvent": "jira:issue_updated", "changelog": {"id": 1, "items": []}},
        {"webhookEvent": "jira:issue_deleted"},
        {"webhookEvent": "jira:issue_updated", "issue": []},
        {"event": "comment:add", "data": {}},  # a Kaiten body sent to the Jira hook
    ],
)
def test_anomalous_jira_payloads(payload: object) -> None:
    with pytest.raises(AnomalousPayload):
        parse_jira_webhook(payload)


def test_comment_id_from_self_when_missing() -> None:
    payload = load(JIRA, "mattermost-plugin-jira__webhook-server-comment-created.json")
    del payload["comment"]["id"]
    event = parse_jira_webhook(payload)
    assert (event.issue_id, event.comment_id) == ("10013", "10082")


def test_adf_body_is_not_text() -> None:
    payload = load(JIRA, "zulip__comment_created.json")
    payload["comment"]["body"] = {"type": "doc", "version": 1, "content": []}
    assert parse_jira_webhook(payload).comment_body is None


# --- Kaiten ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"event": "comment"},
        {"event": "comment:add"},
        {"event": "comment:add", "data": []},
        {"event": "comment:add", "data": {"text": "no ids"}},
        {"event": "card:update", "data": {"old": {"id": 1}}},
        {"event": "card:update", "data": {"old": {}, "changes": {"updated": "x"}}},
        {"webhookEvent": "comment_created"},  # a Jira body sent to the Kaiten hook
    ],
)
def test_anomalous_kaiten_payloads(payload: object) -> None:
    with pytest.raises(AnomalousPayload):
        parse_kaiten_webhook(payload)


def test_kaiten_unknown_visibility() -> None:
    payload = load(KAITEN, "comment-add.docs-shape.json")
    del payload["data"]["internal"]
    assert parse_kaiten_webhook(payload).comment_public is None


def test_kaiten_comment_made_internal_by_edit() -> None:
    payload = load(KAITEN, "comment-update.docs-shape.json")
    payload["data"]["changes"]["internal"] = True
    assert parse_kaiten_webhook(payload).comment_public is False


def test_kaiten_done_without_move_is_a_transition() -> None:
    payload = load(KAITEN, "card-update-properties.docs-shape.json")
    payload["data"]["changes"]["state"] = 3
    event = parse_kaiten_webhook(payload)
    assert (event.kind, event.status_category_to, event.status_to) == ("issue_transitioned", "done", "310")


def test_kaiten_timelog_events_are_unsupported() -> None:
    for name in ("timelog:add", "card_time_log:add", "card_member:add", "board:update"):
        with pytest.raises(UnsupportedEvent):
            parse_kaiten_webhook({"event": name, "data": {"card_id": 1}})


# --- Property: arbitrary JSON never escapes as anything but our two errors ----------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
jira_like = st.fixed_dictionaries(
    {
        "webhookEvent": st.sampled_from(
            [
                "comment_created",
                "comment_updated",
                "jira:issue_updated",
                "jira:issue_deleted",
                "jira:issue_created",
            ]
        )
    },
    optional={
        "timestamp": json_values,
        "issue": json_values,
        "comment": json_values,
        "changelog": json_values,
        "user": json_values,
        "issue_event_type_name": st.sampled_from(["issue_commented", "issue_generic", "x"]),
    },
)
kaiten_like = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["comment:add", "comment:update", "card:update", "card:add"]),
        "data": st.dictionaries(
            st.sampled_from(["id", "card_id", "old", "changes", "author", "text", "internal", "updated"]),
            json_values,
            max_size=8,
        ),
    }
)


@given(jira_like)
def test_jira_parser_only_raises_mapper_errors(payload: dict[str, Any]) -> None:
    try:
        event = parse_jira_webhook(payload)
    except (AnomalousPayload, UnsupportedEvent):
        return
    assert event.event_id


@given(kaiten_like)
def test_kaiten_parser_only_raises_mapper_errors(payload: dict[str, Any]) -> None:
    try:
        event = parse_kaiten_webhook(payload)
    except (AnomalousPayload, UnsupportedEvent):
        return
    assert event.event_id


# --- X-Hub-Signature ---------------------------------------------------------------------------------

# GitHub's documented example of the same WebSub format (docs.github.com, "Validating webhook
# deliveries"), and RFC 4231 test case 2.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
RFC4231_SIGNATURE = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_signature_known_vectors() -> None:
    assert verify_hub_signature(GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE)
    assert verify_hub_signature("Jefe", b"what do ya want for nothing?", RFC4231_SIGNATURE)
    assert verify_hub_signature(
        GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE.upper().replace("SHA256", "sha256")
    )


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (GITHUB_SECRET, GITHUB_BODY + b" ", GITHUB_SIGNATURE),  # body changed
        ("other", GITHUB_BODY, GITHUB_SIGNATURE),  # wrong secret
        (GITHUB_SECRET, GITHUB_BODY, None),
        (GITHUB_SECRET, GITHUB_BODY, ""),
        (GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE.removeprefix("sha256=")),  # no algorithm
        (GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE.replace("sha256", "sha1")),
        (GITHUB_SECRET, GITHUB_BODY, "sha256="),
        (GITHUB_SECRET, GITHUB_BODY, "sha256=ünïcödé"),
        ("", GITHUB_BODY, GITHUB_SIGNATURE),  # no secret configured never verifies
    ],
)
def test_signature_rejected(secret: str, body: bytes, header: str | None) -> None:
    assert not verify_hub_signature(secret, body, header)


def test_signature_over_a_real_payload_byte_for_byte() -> None:
    import hashlib
    import hmac

    raw = (JIRA / "zulip__comment_created.json").read_bytes()
    header = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert verify_hub_signature("s3cret", raw, header)
    reserialised = json.dumps(json.loads(raw)).encode()
    assert not verify_hub_signature("s3cret", reserialised, header)


# --- loop protection ---------------------------------------------------------------------------------


def test_own_events_are_recognised() -> None:
    cloud = parse_jira_webhook(load(JIRA, "zulip__comment_created.json"))
    server = parse_jira_webhook(load(JIRA, "mattermost-plugin-jira__webhook-server-comment-created.json"))
    kaiten = parse_kaiten_webhook(load(KAITEN, "comment-add.docs-shape.json"))
    assert is_own_event(cloud, ["5a1b0e47748e770ed11f338c"])
    assert is_own_event(server, ["hub-bot", "levbrouk"])
    assert is_own_event(kaiten, ["101"])
    assert not is_own_event(cloud, ["levbrouk"])
    assert not is_own_event(kaiten, [])
    assert not is_own_event(kaiten, [""])
