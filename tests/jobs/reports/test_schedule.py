"""The Monday job: the weekly report is posted once per due time (Monday 09:00 in the calendar's zone) to
the team's chat (the text, then the chart as a photo) and mailbox (the chart attached), however many
schedulers look and however often the firing's job runs; the clock is passed in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from jobs.automations.run import run_firing_with, sweep_firings
from jobs.context import Context, build_context
from jobs.reports.schedule import REPORT_RULE, fire_due_report
from store import automations as firings
from tests.jobs.test_events import sent_messages
from tests.jobs.test_replies import read_outbox

TEAM_CHAT = "-100777"
MSK = ZoneInfo("Europe/Moscow")


def msk(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=MSK).astimezone(dt.UTC)


def team_posts(telegram: str) -> list[dict[str, object]]:
    return [m for m in sent_messages(telegram) if str(m["chat_id"]) == TEAM_CHAT]


def test_the_report_is_posted_once_per_monday_whoever_looks_and_however_often_it_runs(
    ctx: Context, telegram_sandbox: str, mail_sink: tuple[str, Path]
) -> None:
    team = {"TELEGRAM_TEAM_CHAT_ID": TEAM_CHAT, "HUB_TEAM_EMAIL": "team@example.org"}
    one = build_context(ctx.settings.model_copy(update=team))
    two = build_context(one.settings)  # a second scheduler (a standby, or the first one restarted)

    assert fire_due_report(one, msk(11, 29, 20)) is None  # first look: the schedule starts, nothing posted
    assert fire_due_report(two, msk(11, 30, 8, 59)) is None  # Monday, before 09:00
    fired = fire_due_report(one, msk(11, 30, 9, 1))
    assert fired is not None
    assert fire_due_report(two, msk(11, 30, 9, 1)) is None  # the other scheduler, the same minute
    assert fire_due_report(one, msk(12, 2, 15)) is None  # later that week
    assert [f.id for f in firings.of_rule(one.engine, REPORT_RULE)] == [fired]

    assert run_firing_with(one, fired, now=msk(11, 30, 9, 1)) == firings.DONE
    assert run_firing_with(two, fired, now=msk(11, 30, 9, 2)) == "busy"  # its job run again: nothing more
    assert sweep_firings(one, msk(11, 30, 10)) == 0
    text, chart = team_posts(telegram_sandbox)
    assert str(text["text"]).startswith("Weekly report 2026-11-23 - 2026-11-29 (previous week in brackets)")
    assert "New issues: 0 (0, +0)" in str(text["text"])
    assert (chart["photo"], chart["width"], chart["height"]) == ("weekly-report.png", 1000, 700)
    assert chart["caption"] == "Weekly report 2026-11-23 - 2026-11-29 (previous week in brackets)"
    [mail] = read_outbox(mail_sink[1])
    assert mail["To"] == "team@example.org" and mail["Auto-Submitted"] == "auto-generated"
    [attached] = list(mail.iter_attachments())  # type: ignore[attr-defined]
    assert attached.get_content_type() == "image/png" and attached.get_filename() == "weekly-report.png"
    assert attached.get_content()[:8] == b"\x89PNG\r\n\x1a\n"

    later = fire_due_report(two, msk(12, 9, 11))  # the next Monday's, found late (no scheduler ran at 09:00)
    assert later is not None and later != fired
    assert fire_due_report(one, msk(12, 9, 11)) is None
    assert run_firing_with(one, later, now=msk(12, 9, 11)) == firings.DONE
    posts = team_posts(telegram_sandbox)
    assert len(posts) == 4
    assert str(posts[2]["text"]).startswith("Weekly report 2026-11-30 - 2026-12-06")
    assert len(read_outbox(mail_sink[1])) == 2
