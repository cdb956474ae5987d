"""The outbound log: one row per (message, kind), so a retried or repeated job never sends twice."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from store import outbound
from store.outbound import Outbound
from tests.store.helpers import at_once


def sent(kind: str = "autoreply", message_id: str = "m1", **overrides: object) -> Outbound:
    values: dict[str, object] = {
        "message_id": message_id,
        "kind": kind,
        "channel": "email",
        "recipient": "bob@customer.example",
        "status": "sent",
        "reason": None,
        "external_ref": "<out-1@hub.example.com>",
    }
    values.update(overrides)
    return Outbound(**values)  # type: ignore[arg-type]


def test_record_then_find_by_message_and_kind(engine: Engine) -> None:
    item = sent()
    outbound.record(engine, item)
    assert outbound.find(engine, "m1", "autoreply") == item
    assert outbound.find(engine, "m1", "reply:jira:10001") is None
    assert outbound.find(engine, "m2", "autoreply") is None


def test_a_second_record_for_the_same_key_updates_the_outcome(engine: Engine) -> None:
    outbound.record(engine, sent(status="failed", reason="smtp 451", external_ref=None))
    outbound.record(engine, sent())
    assert outbound.for_message(engine, "m1") == [sent()]


def test_find_kind_answers_whichever_message_carried_the_key(engine: Engine) -> None:
    # Jira Data Center reports one comment twice: the second webhook is another message, same comment
    outbound.record(engine, sent("reply:jira:10001", message_id="m7", channel="telegram", recipient="42"))
    found = outbound.find_kind(engine, "reply:jira:10001")
    assert found is not None and (found.message_id, found.status) == ("m7", "sent")
    assert outbound.find_kind(engine, "reply:jira:10002") is None


def test_for_message_lists_everything_sent_about_it_in_order(engine: Engine) -> None:
    outbound.record(engine, sent("autoreply"))
    outbound.record(engine, sent("reply:jira:1", status="skipped", reason="quiet hours"))
    outbound.record(engine, sent("autoreply", message_id="m2"))
    assert [o.kind for o in outbound.for_message(engine, "m1")] == ["autoreply", "reply:jira:1"]
    assert outbound.for_message(engine, "m3") == []


def test_two_jobs_recording_one_key_at_once_leave_one_row(engine: Engine) -> None:
    results = at_once(6, lambda n: outbound.record(engine, sent(external_ref=f"<out-{n}@hub>")))
    assert results == [None] * 6
    [row] = outbound.for_message(engine, "m1")
    assert row.status == "sent" and row.external_ref in {f"<out-{n}@hub>" for n in range(6)}
