"""After an engineer resolves an issue, the customer's next message opens a new issue that is linked to
the resolved one and names it, on Jira and on Kaiten, whether or not the resolve webhook reached the hub
first (its job deactivates the conversation's link; the next delivery must still find the old issue).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import requests

from config.settings import Settings
from connector.kaiten import KaitenTracker
from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from mappers.markup_text import markdown_to_text
from routes import create_app
from sandbox.server import RunningSandbox
from store import journal, links
from tests.jobs.conftest import add_fault, journal_message, pause_elapsed, transition_to_done
from tests.jobs.test_events import ENGINEER, SECRET, post_hook, run_event, transition_webhook
from tests.jobs.test_kaiten_delivery import KAITEN_FIXTURES, kaiten_settings
from tests.mappers.factories import telegram_message
from tests.sandboxes import run_kaiten

WEBHOOK = pytest.mark.parametrize("webhook", [True, False], ids=["resolve-webhook-came", "no-webhook"])


def deliver(ctx: Context, text: str) -> journal.Entry:
    message_id = journal_message(ctx, telegram_message(text))
    assert deliver_with(ctx, message_id) == "delivered"
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.issue_key is not None
    return entry


def issue_links(sandbox: RunningSandbox, key: str) -> list[str]:
    """The keys of the issues ``key`` is linked to."""
    fields = requests.get(
        f"{sandbox.url}/rest/api/2/issue/{key}", params={"fields": "issuelinks"}, auth=ENGINEER, timeout=5
    ).json()["fields"]
    return [(link.get("inwardIssue") or link.get("outwardIssue"))["key"] for link in fields["issuelinks"]]


@WEBHOOK
def test_jira_next_message_after_a_resolve_opens_a_linked_issue(
    ctx: Context, jira_sandbox: RunningSandbox, webhook: bool
) -> None:
    hooked = build_context(ctx.settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))
    first = deliver(hooked, "The exam proctoring does not start").issue_key or ""
    transition_to_done(jira_sandbox, first)
    if webhook:
        run_event(hooked, post_hook(hooked, transition_webhook(first, "Done", "done")))
        assert links.latest_link(hooked.engine, "tg:42:0").active is False  # type: ignore[union-attr]
    follow = deliver(hooked, "It broke again today")
    assert follow.outcome == "issue" and follow.issue_key != first
    issue = requests.get(
        f"{jira_sandbox.url}/rest/api/2/issue/{follow.issue_key}",
        params={"fields": "description"},
        auth=ENGINEER,
        timeout=5,
    ).json()["fields"]
    assert f"Follow-up to {first}" in issue["description"]
    assert issue_links(jira_sandbox, follow.issue_key or "") == [first]
    link = links.latest_link(hooked.engine, "tg:42:0")
    assert link is not None and (link.issue_key, link.previous_issue_key, link.active) == (
        follow.issue_key,
        first,
        True,
    )
    # the conversation goes on in the new issue
    again = deliver(hooked, "and one more detail")
    assert (again.outcome, again.issue_key) == ("comment", follow.issue_key)


def kaiten_done_webhook(card: str, column_from: int, column_to: int) -> dict[str, object]:
    """A card moved to a "done" column, in the documented shape (tests/fixtures/kaiten/), re-pointed."""
    payload = copy.deepcopy(json.loads((KAITEN_FIXTURES / "card-update-moved.docs-shape.json").read_text()))
    payload["data"]["old"].update(id=int(card), board_id=10, column_id=column_from, state=1)
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    payload["data"]["changes"].update(column_id=column_to, state=3, updated=now)
    return payload


@WEBHOOK
def test_kaiten_next_message_after_a_resolve_opens_a_linked_card(
    settings: Settings, tmp_path: Path, telegram_sandbox: str, webhook: bool
) -> None:
    with run_kaiten(tmp_path / "kaiten.sqlite3") as sandbox:
        kctx = build_context(
            kaiten_settings(settings, sandbox, TELEGRAM_API_URL=telegram_sandbox, KAITEN_WEBHOOK_SECRET="k")
        )
        client = KaitenTracker(sandbox.url, "t")
        first = deliver(kctx, "The exam proctoring does not start").issue_key or ""
        client.move_card(first, board_id=10, column_id=103)  # the Done column
        if webhook:
            response = (
                create_app(kctx.settings, kctx.config)
                .test_client()
                .post("/hooks/kaiten?token=k", json=kaiten_done_webhook(first, 101, 103))
            )
            assert response.status_code == 202
            deliver_with(kctx, response.get_json()["id"])
            assert links.latest_link(kctx.engine, "tg:42:0").active is False  # type: ignore[union-attr]
        follow = deliver(kctx, "It broke again today")
        assert follow.outcome == "issue" and follow.issue_key != first
        card = client.get_card(follow.issue_key or "")
        assert card["parents_ids"] == [int(first)]
        assert f"Follow-up to {first}, which was already resolved." in markdown_to_text(card["description"])


def test_a_create_in_doubt_after_a_resolve_is_still_linked(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    first = deliver(ctx, "The exam proctoring does not start").issue_key or ""
    transition_to_done(jira_sandbox, first)
    add_fault(
        jira_sandbox, status=503, count=1, methods=["POST"], paths=["/rest/api/2/issue"], after_commit=True
    )
    message_id = journal_message(ctx, telegram_message("It broke again today"))
    assert deliver_with(ctx, message_id) == "queued"  # created, but the answer was lost
    pause_elapsed(ctx)
    assert deliver_with(ctx, message_id) == "delivered"
    follow = journal.get(ctx.engine, message_id)
    assert follow is not None and follow.issue_key not in (None, first)
    assert issue_links(jira_sandbox, follow.issue_key or "") == [first]
    link = links.latest_link(ctx.engine, "tg:42:0")
    assert link is not None and link.previous_issue_key == first
