"""What polling reconciliation finds, read as the webhook it replaces: the same kind, fields and event id
(so the journal and the automations' firing keys see one change), on the real webhook payloads of
tests/fixtures/jira/ (their origin is noted there) and on Kaiten card versions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from connector.types import IssueChanges, IssueRef, IssueState
from mappers.kaiten_events import parse_kaiten_webhook
from mappers.reconcile import (
    RECONCILED,
    CardSnapshot,
    after_webhook,
    card_change_event,
    card_snapshot,
    covers,
    first_base,
    jira_history_events,
)
from mappers.tracker_events import parse_jira_webhook
from tests.conftest import REPO_ROOT

JIRA = REPO_ROOT / "tests" / "fixtures" / "jira"


def history_of(payload: dict[str, Any]) -> IssueChanges:
    """The issue of a ``jira:issue_updated`` webhook as ``expand=changelog`` shows it in a search."""
    moment = dt.datetime.fromtimestamp(payload["timestamp"] / 1000, dt.UTC)
    history = {
        "id": payload["changelog"]["id"],
        "author": payload["user"],
        "created": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000",
        "items": payload["changelog"]["items"],
    }
    issue = payload["issue"]
    ref = IssueRef("jira", issue["key"], "", issue["id"])
    return IssueChanges(ref, {"id": issue["id"], "key": issue["key"], "fields": issue["fields"]}, (history,))


@pytest.mark.parametrize(
    "name",
    [
        "zulip__issue_updated__status.json",
        "mattermost-plugin-jira__webhook-server-issue-updated-in-progress.json",
        "mattermost-plugin-jira__webhook-cloud-issue-updated-custom-field.json",
        "mattermost-plugin-jira__webhook-issue-updated-resolved.json",
    ],
)
def test_a_jira_changelog_history_is_its_webhook(name: str) -> None:
    payload = json.loads((JIRA / name).read_text())
    webhook = parse_jira_webhook(payload)
    [polled] = jira_history_events(history_of(payload), dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert polled.delivery_id == RECONCILED
    assert polled.model_copy(update={"delivery_id": None}) == webhook.model_copy(update={"delivery_id": None})


def test_histories_before_the_window_are_left_to_the_pass_that_read_them() -> None:
    payload = json.loads((JIRA / "zulip__issue_updated__status.json").read_text())
    assert jira_history_events(history_of(payload), dt.datetime(2030, 1, 1, tzinfo=dt.UTC)) == []


def card(**fields: Any) -> IssueState:
    base = {"column_id": 101, "state": 1, "condition": 1, "properties": {}, "comments_total": 0}
    base.update(fields)
    return IssueState(ref=IssueRef("kaiten", "1001", "", "1001"), done=False, fields=base, assignee=None)


def test_a_card_version_is_the_card_update_webhook_of_that_version() -> None:
    before = card_snapshot(card(updated="2026-12-07T05:00:00.000Z"))
    now = card_snapshot(card(updated="2026-12-07T05:01:00.000Z", column_id=102, state=2))
    polled = card_change_event("1001", before, now)
    old = {"id": 1001, "column_id": 101, "state": 1, "updated": "2026-12-07T05:00:00.000Z"}
    changes = {"column_id": 102, "state": 2, "updated": "2026-12-07T05:01:00.000Z"}
    webhook = parse_kaiten_webhook({"event": "card:update", "data": {"old": old, "changes": changes}})
    assert (
        polled is not None
        and polled.event_id == webhook.event_id == "card:update:1001:2026-12-07T05:01:00.000Z"
    )
    assert (polled.kind, polled.status_from, polled.status_to) == ("issue_transitioned", "101", "102")
    assert polled.fields_changed == webhook.fields_changed


def test_a_new_responsible_is_an_assignment_and_an_untouched_card_no_event() -> None:
    before = card_snapshot(card(updated="2026-12-07T05:00:00.000Z"))
    assigned = IssueState(
        ref=IssueRef("kaiten", "1001", "", "1001"),
        done=False,
        fields={**card().fields, "updated": "2026-12-07T05:02:00.000Z"},
        assignee="7",
    )
    event = card_change_event("1001", before, card_snapshot(assigned))
    assert event is not None and event.kind == "issue_updated" and event.fields_changed == ("responsible_id",)
    same = card_snapshot(card(updated="2026-12-07T05:03:00.000Z", title="renamed"))
    assert card_change_event("1001", before, same) is None  # a change the hub does not act on


def test_an_assignment_the_next_webhook_did_not_tell_is_found_at_that_version() -> None:
    # assigned (Kaiten sends no card:update for it), then moved: the move's webhook told the column of
    # that version, never its responsible, so the poll finds the assignment at the same version
    before = card_snapshot(card(updated="2026-12-07T05:00:00.000Z"))
    moved = {"id": 1001, "column_id": 102, "updated": "2026-12-07T05:03:00.000Z"}
    told = after_webhook(before, moved)
    now = card_snapshot(
        IssueState(
            ref=IssueRef("kaiten", "1001", "", "1001"),
            done=False,
            fields={**card().fields, "column_id": 102, "updated": "2026-12-07T05:03:00.000Z"},
            assignee="7",
        )
    )
    event = card_change_event("1001", told, now)
    assert event is not None and event.fields_changed == ("responsible_id",)
    assert event.event_id == "card:update:1001:2026-12-07T05:03:00.000Z:responsible:7"  # not the move's
    assert card_change_event("1001", told, card_snapshot(card(**moved))) is None  # the move was told


def test_a_webhook_is_void_once_the_poll_journaled_its_version_or_a_later_one() -> None:
    told = {"id": 1001, "column_id": 102, "updated": "2026-12-07T05:01:00.000Z"}
    webhook = parse_kaiten_webhook(
        {"event": "card:update", "data": {"old": {**told, "column_id": 101}, "changes": told}}
    )
    polled_later = CardSnapshot("2026-12-07T05:02:00.000Z", polled="2026-12-07T05:02:00.000Z")
    seen_only = CardSnapshot("2026-12-07T05:02:00.000Z")  # seen by the poll, which journaled nothing
    assert covers(polled_later, webhook) and not covers(seen_only, webhook) and not covers(None, webhook)
    known = after_webhook(None, told)
    assert known.values["column_id"] == 102 and "responsible_id" in known.unknown


def test_a_card_first_seen_is_a_move_only_when_created_in_the_window_and_moved_since() -> None:
    after = dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)
    moved = card(created="2026-12-07T05:00:30.000Z", last_moved_at="2026-12-07T05:01:00.000Z")
    assert first_base(moved, card_snapshot(moved), after) is not None
    still = card(created="2026-12-07T05:00:30.000Z", last_moved_at="2026-12-07T05:00:30.000Z")
    assert first_base(still, card_snapshot(still), after) is None
    old = card(created="2026-12-06T05:00:30.000Z", last_moved_at="2026-12-07T05:01:00.000Z")
    assert first_base(old, card_snapshot(old), after) is None
