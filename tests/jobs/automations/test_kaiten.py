"""Automations on the Kaiten look-alike with the shipped rule file and an env-only Kaiten: the stage
checklist appears once when a card enters "In progress", however often the webhook comes."""

from __future__ import annotations

from config.automations import Automation
from connector.types import IssueDraft, Target
from jobs.automations.events import fire_for_event
from jobs.automations.rules import compile_rule
from jobs.automations.run import run_firing_with
from jobs.context import Context
from mappers.tracker_events import TrackerEvent
from sandbox.server import RunningSandbox
from store import automations as firings

STAGE = Automation.model_validate(
    {
        "name": "stage-checklist",
        "target": {"kind": "kaiten", "tracker": "kaiten", "board": 10},
        "trigger": {"event": "transitioned", "to": ["In progress"]},
        "actions": [
            {"checklist": {"stages": {"In progress": {"name": "Stage", "items": ["Reproduce", "Plan"]}}}}
        ],
    }
)


def test_the_stage_checklist_is_added_once_when_the_card_enters_the_column(
    kctx: Context, kaiten_sandbox: RunningSandbox
) -> None:
    tracker = kctx.tracker("kaiten")
    key = tracker.create_issue(IssueDraft(Target("kaiten", "10", None, "101"), "A deal", "b", "deal-1")).key
    rule = compile_rule(kctx.config, STAGE)
    rules = {rule.name: rule}
    tracker.transition(key, "In progress")
    moved = TrackerEvent(
        tracker="kaiten", kind="issue_transitioned", event_id="k-1", issue_key=key, status_to="102"
    )
    for _ in range(3):
        fire_for_event(kctx, tracker, moved, own=False, rules=rules)
    [firing] = firings.history(kctx.engine, key)
    assert run_firing_with(kctx, firing.id, rules=rules) == "done"
    again = TrackerEvent(
        tracker="kaiten", kind="issue_transitioned", event_id="k-1", issue_key=key, status_to="102"
    )
    fire_for_event(kctx, tracker, again, own=False, rules=rules)
    [checklist] = tracker.checklists(key)
    assert (checklist.name, [i.text for i in checklist.items]) == ("Stage", ["Reproduce", "Plan"])
    assert len(firings.history(kctx.engine, key)) == 1


def test_a_move_into_another_column_adds_nothing(kctx: Context, kaiten_sandbox: RunningSandbox) -> None:
    tracker = kctx.tracker("kaiten")
    key = tracker.create_issue(IssueDraft(Target("kaiten", "10", None, "101"), "A deal", "b", "deal-2")).key
    rule = compile_rule(kctx.config, STAGE)
    tracker.transition(key, "Done")
    done = TrackerEvent(
        tracker="kaiten", kind="issue_transitioned", event_id="k-2", issue_key=key, status_to="103"
    )
    assert fire_for_event(kctx, tracker, done, own=False, rules={rule.name: rule}) == []
