"""Polling reconciliation on the Jira look-alike: an engineer's answer whose webhook never came reaches
the customer; a webhook that comes after its comment was reconciled (or before) acts once."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

from config.settings import Settings
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from jobs.reconcile import WATERMARK_KEY, enqueue_reconcile, reconcile_tracker, trackers_of
from sandbox.server import RunningSandbox
from store import automations as firings
from store import journal
from store.journal import utcnow
from tests.conftest import REPO_ROOT
from tests.jobs.automations.conftest import with_automations
from tests.jobs.automations.hooked import (
    Delivery,
    Hub,
    hooked_jira,
    hooked_kaiten,
    hub,
    jira_hub,
    kaiten_hub,
    replay,
    settle,
)
from tests.jobs.automations.test_linked import jira
from tests.jobs.automations.test_recipe_matrix import kaiten_ctx, run_all, team_messages, waiting_card
from tests.jobs.test_events import (
    comment_webhook,
    ectx,
    engineer_comment,
    move,
    open_issue,
    post_hook,
    sent_messages,
)
from tests.jobs.test_kaiten_delivery import delivered, kaiten_sandbox, kctx
from tests.mappers.factories import telegram_message
from tests.sandboxes import flush

# the fixtures, shared with the webhook and automation tests
__all__ = ["ectx", "hooked_jira", "hooked_kaiten", "hub", "jira_hub", "kaiten_hub", "kaiten_sandbox", "kctx"]


def pending_events(ctx: Context) -> list[str]:
    """Run the event jobs reconciliation queued; what each ended in."""
    due = journal.due(ctx.engine, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    return [deliver_with(ctx, mid) for mid in due]


def test_an_answer_whose_webhook_never_came_reaches_the_customer(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("printer on fire", chat_id=4242))
    start = dt.datetime.now(dt.UTC)
    assert reconcile_tracker(ectx, "jira", start) == 0  # the first pass records where it starts
    engineer_comment(jira_sandbox, key, "/reply Switch it off and on again.")
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=2)) == 1
    assert pending_events(ectx) == ["delivered"]
    assert [m["text"] for m in sent_messages(telegram_sandbox) if m["chat_id"] == 4242] == [
        "Switch it off and on again."
    ]
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=4)) == 0  # known by its id now


def test_a_watermark_lost_with_redis_is_taken_from_the_journal_so_a_lost_answer_is_still_found(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("printer on fire", chat_id=4343))
    start = dt.datetime.now(dt.UTC)
    assert reconcile_tracker(ectx, "jira", start) == 0
    engineer_comment(jira_sandbox, key, "/reply Switch it off and on again.")
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=2)) == 1
    assert pending_events(ectx) == ["delivered"]
    ectx.redis.delete(WATERMARK_KEY.format(tracker="jira"))  # Redis restarted empty
    engineer_comment(jira_sandbox, key, "/reply Did that help?")  # and this answer's webhook is lost
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=4)) == 1
    assert pending_events(ectx) == ["delivered"]
    assert [m["text"] for m in sent_messages(telegram_sandbox) if m["chat_id"] == 4343] == [
        "Switch it off and on again.",
        "Did that help?",
    ]


def test_a_late_webhook_for_a_reconciled_comment_does_nothing_twice(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("scanner jams", chat_id=4343))
    start = dt.datetime.now(dt.UTC)
    reconcile_tracker(ectx, "jira", start)
    comment = engineer_comment(jira_sandbox, key, "/reply We are on it.")
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=2)) == 1
    assert pending_events(ectx) == ["delivered"]
    late = post_hook(ectx, comment_webhook(key, comment))
    assert late.status_code == 202
    assert deliver_with(ectx, late.get_json()["id"]) == "ignored"
    assert [m["text"] for m in sent_messages(telegram_sandbox) if m["chat_id"] == 4343] == ["We are on it."]


def test_a_comment_its_webhook_brought_is_not_journaled_again(
    ectx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = open_issue(ectx, telegram_message("mouse broken", chat_id=4444))
    start = dt.datetime.now(dt.UTC)
    reconcile_tracker(ectx, "jira", start)
    comment = engineer_comment(jira_sandbox, key, "/reply A new mouse is on its way.")
    hook = post_hook(ectx, comment_webhook(key, comment))
    assert deliver_with(ectx, hook.get_json()["id"]) == "delivered"
    assert reconcile_tracker(ectx, "jira", start + dt.timedelta(minutes=2)) == 0
    assert [m["text"] for m in sent_messages(telegram_sandbox) if m["chat_id"] == 4444] == [
        "A new mouse is on its way."
    ]


# -- transitions, assignments, Kaiten: webhooks lost on the way, late, or never sent ------------------


def lost(hub: Hub, sandbox: RunningSandbox, change: Callable[[], None]) -> list[Delivery]:
    """Make ``change`` with its webhooks lost; the deliveries the hub never saw."""
    flush(sandbox)
    seen = len(hub.received)
    hub.losing = True
    try:
        change()
        flush(sandbox)
    finally:
        hub.losing = False
    return hub.received[seen:]


def customer_messages(telegram: str, chat_id: int) -> list[str]:
    return [m["text"] for m in sent_messages(telegram) if m["chat_id"] == chat_id]


ASSIGNED_RULE = """
  - name: on-assignment
    trigger: {event: assigned}
    actions: [{set: {labels: [assigned-once]}}]
"""


def test_jira_a_lost_transition_and_a_lost_assignment_are_acted_on_once_when_their_webhooks_come_late(
    jira_hub: Context, hooked_jira: RunningSandbox, hub: Hub, telegram_sandbox: str, tmp_path: Path
) -> None:
    ctx = with_automations(jira_hub, tmp_path / "rules", ASSIGNED_RULE)
    key = open_issue(ctx, telegram_message("printer on fire", chat_id=4501))
    settle(ctx, hooked_jira)
    assert reconcile_tracker(ctx, "jira", utcnow()) == 0  # the first pass records where it starts

    def work() -> None:
        move(hooked_jira, key, "In Progress")
        jira(hooked_jira, "PUT", f"/issue/{key}/assignee", json={"name": "jsmith"})

    late = lost(hub, hooked_jira, work)
    assert len(late) == 2
    assert reconcile_tracker(ctx, "jira", utcnow()) == 2  # the transition and the assignment
    assert settle(ctx, hooked_jira) == ["done"]  # the assigned rule, once
    [notice] = customer_messages(telegram_sandbox, 4501)
    assert key in notice
    for delivery in late:  # the webhooks come after all: the same changelog ids, journaled already
        assert replay(hub, delivery).json()["duplicate"] is True
    assert reconcile_tracker(ctx, "jira", utcnow()) == 0
    assert settle(ctx, hooked_jira) == []
    assert [f.rule for f in firings.history(ctx.engine, key)] == ["on-assignment"]
    assert len(customer_messages(telegram_sandbox, 4501)) == 1
    assert firings.journaled_history(ctx.engine, "jira", [key])[key].first_assigned is not None  # SLA


def test_jira_a_transition_its_webhook_brought_is_not_journaled_again_by_the_poll(
    jira_hub: Context, hooked_jira: RunningSandbox, hub: Hub, telegram_sandbox: str
) -> None:
    key = open_issue(jira_hub, telegram_message("scanner jams", chat_id=4502))
    settle(jira_hub, hooked_jira)
    reconcile_tracker(jira_hub, "jira", utcnow())
    move(hooked_jira, key, "In Progress")
    settle(jira_hub, hooked_jira)
    assert len(customer_messages(telegram_sandbox, 4502)) == 1
    assert reconcile_tracker(jira_hub, "jira", utcnow()) == 0
    assert len(customer_messages(telegram_sandbox, 4502)) == 1


MOVED_RULE = """
rules:
  - name: rest
    target: {tracker: kaiten, board: 10, column: 101}
automations:
  - name: on-move
    trigger: {event: transitioned}
    actions: [{set: {labels: [moved-once]}}]
"""


def test_kaiten_a_lost_move_is_acted_on_once_and_its_late_webhook_does_nothing(
    kaiten_hub: Context, hooked_kaiten: RunningSandbox, hub: Hub, telegram_sandbox: str, tmp_path: Path
) -> None:
    (tmp_path / "hub.yaml").write_text(MOVED_RULE, encoding="utf-8")
    shutil.copytree(REPO_ROOT / "config" / "canned", tmp_path / "canned")
    ctx = build_context(kaiten_hub.settings.model_copy(update={"HUB_CONFIG": tmp_path / "hub.yaml"}))
    key = open_issue(ctx, telegram_message("mouse broken", chat_id=4503))
    settle(ctx, hooked_kaiten)
    reconcile_tracker(ctx, "kaiten", utcnow())  # where it starts
    reconcile_tracker(ctx, "kaiten", utcnow())  # the card, as the hub first sees it
    tracker = ctx.tracker("kaiten")

    def work() -> None:
        tracker.transition(key, "Waiting for customer")
        tracker.update_fields(key, {"title": "mouse broken (left button)"})  # a later change of the card

    late = lost(hub, hooked_kaiten, work)
    assert reconcile_tracker(ctx, "kaiten", utcnow()) == 1  # the move, seen on the card's later version
    assert settle(ctx, hooked_kaiten) == ["done"]
    [notice] = customer_messages(telegram_sandbox, 4503)
    assert key in notice
    for delivery in late:  # the webhooks come after all: the move's own, then the title's (its id)
        assert replay(hub, delivery).status_code in (200, 202)
    assert settle(ctx, hooked_kaiten) == []
    assert [f.rule for f in firings.history(ctx.engine, key)] == ["on-move"]
    assert len(customer_messages(telegram_sandbox, 4503)) == 1
    assert reconcile_tracker(ctx, "kaiten", utcnow()) == 0
    # a move its webhook brought, then a change whose webhook is lost: the poll finds no second move
    tracker.transition(key, "In progress")
    assert settle(ctx, hooked_kaiten) == ["done"]
    lost(hub, hooked_kaiten, lambda: tracker.update_fields(key, {"title": "mouse fixed?"}))
    assert reconcile_tracker(ctx, "kaiten", utcnow()) == 0
    assert settle(ctx, hooked_kaiten) == []
    assert [f.rule for f in firings.history(ctx.engine, key)] == ["on-move", "on-move"]


def test_kaiten_without_webhooks_the_poll_brings_replies_moves_and_assignments_and_customer_replied_fires(
    kctx: Context, kaiten_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    k = kaiten_ctx(kctx)
    reconcile_tracker(k, "kaiten", utcnow())  # where it starts
    key, tracker = waiting_card(k, "still broken")
    assert reconcile_tracker(k, "kaiten", utcnow()) == 1  # first seen: moved since its creation
    assert pending_events(k) == ["delivered"]  # the customer hears of "Waiting for customer"
    tracker.assign(key, "2")
    assert reconcile_tracker(k, "kaiten", utcnow()) == 1
    assert pending_events(k) == ["ignored"]  # an assignment: for the rules and the SLA, not the customer
    assert firings.journaled_history(k.engine, "kaiten", [key])[key].first_assigned is not None  # SLA
    delivered(k, telegram_message("it is still broken after the update"))  # the hub's comment
    assert reconcile_tracker(k, "kaiten", utcnow()) == 1
    assert pending_events(k) == ["ignored"]  # the hub's own comment: fires the rule, nothing to send
    assert run_all(k, "customer-replied", utcnow()) == [key]
    assert tracker.get_state(key).status == "In progress"
    assert len([t for t in team_messages(telegram_sandbox) if f"The customer replied on {key}" in t]) == 1
    reconcile_tracker(k, "kaiten", utcnow())  # the rule's own move and comment, as webhooks would tell
    pending_events(k)
    assert reconcile_tracker(k, "kaiten", utcnow()) == 0
    assert len(firings.of_rule(k.engine, "customer-replied")) == 1


BOTH = """
rules:
  - name: jira-side
    when: {channel: email}
    target: {tracker: jira, project: SUP}
  - name: kaiten-side
    target: {tracker: kaiten, board: 10, column: 101}
"""


def test_a_tracker_that_is_not_configured_is_not_polled_and_one_pass_is_queued_at_a_time(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "hub.yaml").write_text(BOTH, encoding="utf-8")
    shutil.copytree(REPO_ROOT / "config" / "canned", tmp_path / "canned")
    jira_only = settings.model_copy(
        update={"HUB_CONFIG": tmp_path / "hub.yaml", "JIRA_URL": "http://jira.test"}
    )
    assert trackers_of(build_context(jira_only)) == {"jira": ("SUP",)}
    kaiten = {"KAITEN_URL": "http://kaiten.test", "KAITEN_TOKEN": "t"}
    both = build_context(jira_only.model_copy(update=kaiten))
    assert trackers_of(both) == {"jira": ("SUP",), "kaiten": ("10",)}
    assert enqueue_reconcile(both.redis) is True
    assert enqueue_reconcile(both.redis) is False  # one waiting (or running) already
