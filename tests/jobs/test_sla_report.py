"""``sla report``: per priority and team, the first-response clock met where the team answered the customer
at once and breached where nobody did, resolution clocks breached on issues left open for a month."""

from __future__ import annotations

import datetime as dt

from jobs.context import Context, build_context
from jobs.sla_report import sla_report
from sandbox.server import RunningSandbox
from tests.jobs.test_events import SECRET, comment_webhook, engineer_comment, open_issue, post_hook, run_event
from tests.mappers.factories import telegram_message


def test_met_and_breached_per_priority_team_and_metric(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    ectx = build_context(ctx.settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))
    answered = open_issue(ectx, telegram_message("printer", chat_id=1))
    open_issue(ectx, telegram_message("scanner", chat_id=2))
    reply = engineer_comment(jira_sandbox, answered, "/reply We are on it.")
    assert run_event(ectx, post_hook(ectx, comment_webhook(answered, reply))) == "delivered"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    lines = sla_report(ectx, "jira", since, dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    assert lines[0] == "priority\tteam\tmetric\tmet\tbreached\topen"
    rows = {tuple(line.split("\t")[:3]): line.split("\t")[3:] for line in lines[1:]}
    [(priority, team, _)] = [key for key in rows if key[2] == "first_response"]
    assert team == "SUP"
    assert rows[(priority, "SUP", "first_response")] == ["1", "1", "0"]
    assert rows[(priority, "SUP", "resolution")] == ["0", "2", "0"]
