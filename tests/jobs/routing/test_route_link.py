"""The "Route" link on every issue the hub creates: a remote link to the signed routing page that reads
back to the issue; none without HUB_SECRET_KEY (the hub signs nothing with a guessable key)."""

from __future__ import annotations

from jobs.context import Context, build_context
from jobs.deliver import deliver_with
from mappers.route_links import read_route_link
from sandbox.server import RunningSandbox
from store import journal
from tests.jobs.conftest import journal_message
from tests.jobs.routing.conftest import remote_links
from tests.mappers.factories import telegram_message


def test_a_new_issue_gets_a_signed_route_link(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    signed = build_context(ctx.settings.model_copy(update={"HUB_SECRET_KEY": "route-link-key"}))
    message_id = journal_message(signed, telegram_message("printer on fire"))
    assert deliver_with(signed, message_id) == "delivered"
    key = journal.get(signed.engine, message_id).issue_key  # type: ignore[union-attr]

    [link] = remote_links(jira_sandbox, str(key))
    url = link["object"]["url"]
    assert url.startswith(f"{signed.settings.HUB_PUBLIC_URL}/route/")
    token = url.rsplit("/", 1)[1]
    assert read_route_link(signed.settings, token, max_age=60) == ("jira", key)


def test_without_a_secret_key_no_route_link_is_added(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    message_id = journal_message(ctx, telegram_message("printer on fire"))
    assert deliver_with(ctx, message_id) == "delivered"
    key = journal.get(ctx.engine, message_id).issue_key  # type: ignore[union-attr]
    assert remote_links(jira_sandbox, str(key)) == []
