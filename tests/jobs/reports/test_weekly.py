"""The weekly report on a fixture week built through the Jira look-alike and the hub's real paths: customers'
messages journaled and delivered, engineers' replies through the Jira webhook to Telegram and e-mail,
resolutions through the look-alike's transitions and their webhooks, CSAT ratings in the ratings store.
Every moment is stamped (the look-alike's issues, the journal's and the outbound log's rows), so the
figures are exact whatever day the test runs on; the report's ``now`` is passed in.

The fixture week is Monday 2026-11-23 to Sunday 11-29, the week before 11-16 to 11-22 (Moscow, the
shipped calendar: 09:00-18:00, no holiday in either week). Durations are working hours:

| issue | channel | team | created | first reply | resolved | assignee | CSAT |
|---|---|---|---|---|---|---|---|
| A | telegram | SUP | Tue 24th 10:00 | 12:00 (2 h) | Wed 10:00 (9 h) | jsmith | 5 |
| B | email | SUP | Wed 25th 09:00 | Thu 09:00 (9 h: 8 h target breached) | - | iivanov | - |
| C | telegram | SUP | Thu 26th 15:00 | - (clock stops at resolution: 5 h) | Fri 11:00 (5 h) | jsmith | 2 |
| D | tracker | DEV | Fri 27th 10:00 | - | - | - | - |
| E (week before) | telegram | SUP | Mon 16th 10:00 | 11:00 (1 h) | Tue 18:00 (17 h) | iivanov | 4 |
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import main
from config.settings import get_settings
from connector.types import IssueDraft, Target
from jobs.context import Context, build_context, get_context
from jobs.deliver import deliver_with
from jobs.intake import accept_event
from jobs.reports.post import render_report
from jobs.reports.weekly import weekly_report
from mappers.models import InboundMessage
from mappers.tracker_events import TrackerEvent
from mappers.weekly_report import Csat, Durations, SlaMet, report_text
from routes.app import create_app
from sandbox.server import RunningSandbox
from sandbox.store import millis_stamp
from store import journal, ratings
from store.ratings import Survey
from tests.jobs.conftest import journal_message, process_env
from tests.jobs.test_events import (
    SECRET,
    comment_webhook,
    engineer_comment,
    move,
    post_hook,
    run_event,
)
from tests.mappers.factories import email_message, telegram_message

MSK = ZoneInfo("Europe/Moscow")
HOUR = dt.timedelta(hours=1)
PROJECT_IDS = {"SUP": "10000", "DEV": "10001"}


def msk(day: int, hour: int) -> dt.datetime:
    """A moment of November 2026 in Moscow, in UTC."""
    return dt.datetime(2026, 11, day, hour, tzinfo=MSK).astimezone(dt.UTC)


class Week:
    """Builds the fixture week: each step through the hub's or the look-alike's real path, then stamped."""

    def __init__(self, ctx: Context, jira: RunningSandbox, store: Path) -> None:
        self.ctx, self.jira, self.store = ctx, jira, store

    def customer(self, message: InboundMessage, at: dt.datetime) -> str:
        message_id = journal_message(self.ctx, message)
        assert deliver_with(self.ctx, message_id) == "delivered"
        entry = journal.get(self.ctx.engine, message_id)
        assert entry is not None and entry.issue_key is not None
        self._hub("UPDATE messages SET created_at = :at WHERE id = :id", at=at, id=message_id)
        self._created(entry.issue_key, at)
        return entry.issue_key

    def in_tracker(self, project: str, at: dt.datetime) -> str:
        draft = IssueDraft(Target("jira", project, "Task"), "Laptop for the new hire", "b", "tracker-made")
        key = self.ctx.tracker("jira").create_issue(draft).key
        self._created(key, at)
        return key

    def reply(self, key: str, at: dt.datetime) -> None:
        comment = engineer_comment(self.jira, key, "/reply We are on it.")
        assert run_event(self.ctx, post_hook(self.ctx, comment_webhook(key, comment))) == "delivered"
        self._hub(
            "UPDATE outbound SET created_at = :at WHERE kind LIKE 'reply:%' AND message_id IN "
            "(SELECT id FROM messages WHERE issue_key = :key)",
            at=at,
            key=key,
        )

    def resolve(self, key: str, at: dt.datetime) -> None:
        move(self.jira, key, "Done")
        event = TrackerEvent(
            tracker="jira",
            kind="issue_transitioned",
            event_id=f"{key}-done",
            issue_key=key,
            status_to="Done",
            status_category_to="done",
            occurred_at=at,
        )
        accept_event(self.ctx.engine, None, event, b"{}")  # the webhook, journaled as /hooks/jira does

    def assign(self, key: str, user: str) -> None:
        self.ctx.tracker("jira").assign(key, user)

    def rated(self, key: str, assignee: str, score: int, at: dt.datetime) -> None:
        survey = Survey(
            id=ratings.survey_id("jira", key, 1),
            tracker="jira",
            issue_key=key,
            round=1,
            channel="telegram",
            contact=key,
            customer_user_id=None,
            assignee=assignee,
            message_id=None,
            status="asked",
            due_at=at - HOUR,
            asked_at=at - HOUR,
        )
        stored, _ = ratings.add(self.ctx.engine, survey)
        ratings.rate(self.ctx.engine, stored.id, score, at)

    def _created(self, key: str, at: dt.datetime) -> None:
        project, number = key.split("-")
        with sqlite3.connect(self.store) as conn:
            changed = conn.execute(
                "UPDATE issue SET created = ? WHERE project_id = ? AND num = ?",
                (millis_stamp(at, "+0000"), PROJECT_IDS[project], int(number)),
            ).rowcount
        assert changed == 1

    def _hub(self, statement: str, **values: object) -> None:
        with self.ctx.engine.begin() as conn:
            assert conn.execute(sa.text(statement), values).rowcount >= 1


@pytest.fixture
def week(ctx: Context, jira_sandbox: RunningSandbox, tmp_path: Path) -> dict[str, str]:
    """The fixture week of the module's docstring; its issues' keys by letter."""
    ectx = build_context(ctx.settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))
    build = Week(ectx, jira_sandbox, tmp_path / "sandbox-jira.sqlite3")
    keys = {
        "E": build.customer(telegram_message("Old printer", chat_id=503), msk(16, 10)),
        "A": build.customer(telegram_message("Printer", chat_id=501), msk(24, 10)),
        "B": build.customer(email_message("Invoice", "The total is wrong."), msk(25, 9)),
        "C": build.customer(telegram_message("Scanner", chat_id=502), msk(26, 15)),
        "D": build.in_tracker("DEV", msk(27, 10)),
    }
    for letter, user in (("A", "jsmith"), ("B", "iivanov"), ("C", "jsmith"), ("E", "iivanov")):
        build.assign(keys[letter], user)
    build.reply(keys["E"], msk(16, 11))
    build.reply(keys["A"], msk(24, 12))
    build.reply(keys["B"], msk(26, 9))
    build.resolve(keys["E"], msk(17, 18))
    build.resolve(keys["A"], msk(25, 10))
    build.resolve(keys["C"], msk(27, 11))
    build.rated(keys["E"], "iivanov", 4, msk(18, 10))
    build.rated(keys["A"], "jsmith", 5, msk(25, 12))
    build.rated(keys["C"], "jsmith", 2, msk(27, 12))
    return keys


def test_the_weekly_report_counts_the_fixture_week_exactly(ctx: Context, week: dict[str, str]) -> None:
    monday = msk(30, 9)  # the Monday job's due time: the report is of the week before
    report = weekly_report(ctx, monday)
    this, last = report.this, report.last
    assert (this.since, this.until, last.since) == (msk(23, 0), msk(30, 0), msk(16, 0))
    assert this.new_by_channel == {"telegram": 2, "email": 1, "tracker": 1}
    assert this.new_by_team == {"SUP": 3, "DEV": 1}
    assert this.messages_by_channel == {"telegram": 2, "email": 1}
    assert this.first_response == Durations(2, 5.5 * HOUR, 9 * HOUR)
    assert this.resolution == Durations(2, 7 * HOUR, 9 * HOUR)
    assert this.sla == {"first_response": SlaMet(2, 3), "resolution": SlaMet(2, 2)}
    assert this.csat == Csat(2, 3.5, {"jsmith": (2, 3.5)})
    assert this.assigned == {"jsmith": 2, "(nobody)": 1, "iivanov": 1}
    assert this.resolved_by == {"jsmith": 2}

    assert last.new_by_channel == {"telegram": 1} and last.new_by_team == {"SUP": 1}
    assert last.first_response == Durations(1, HOUR, HOUR)
    assert last.resolution == Durations(1, 17 * HOUR, 17 * HOUR)
    assert last.sla == {"first_response": SlaMet(1, 1), "resolution": SlaMet(1, 1)}
    assert last.csat == Csat(1, 4.0, {"iivanov": (1, 4.0)})
    assert last.assigned == {"iivanov": 1} and last.resolved_by == {"iivanov": 1}

    lines = report_text(report).splitlines()
    assert lines[0] == "Weekly report 2026-11-23 - 2026-11-29 (previous week in brackets)"
    assert "New issues: 4 (1, +3)" in lines
    assert "  by channel telegram: 2 (1, +1)" in lines
    assert "  by team DEV: 1 (0, +1)" in lines
    assert (
        "First response (working hours): median 5.5 h (1.0 h, +4.5 h), p90 9.0 h (1.0 h, +8.0 h), n=2 (1, +1)"
        in lines
    )
    assert (
        "Resolution (working hours): median 7.0 h (17.0 h, -10.0 h), p90 9.0 h (17.0 h, -8.0 h), n=2 (1, +1)"
        in lines
    )
    assert "SLA first response met: 67% of 3 (100% of 1, -33 pp)" in lines
    assert "SLA resolution met: 100% of 2 (100% of 1, +0 pp)" in lines
    assert "CSAT: 3.50 of 2 (4.00 of 1, -0.50)" in lines
    assert "  jsmith: 2 (0, +2) / 2 (0, +2) / 3.50 of 2" in lines
    assert "  iivanov: 1 (1, +0) / 0 (1, -1) / -" in lines

    render_report(ctx, monday)  # what the Monday job posts keeps the week's figures for /metrics
    text = create_app(ctx.settings, ctx.config).test_client().get("/metrics").get_data(as_text=True)
    for series in (
        f"trackerhub_report_week_start_timestamp_seconds {int(msk(23, 0).timestamp())}",
        'trackerhub_report_new_issues{channel="telegram"} 2',
        'trackerhub_report_new_issues_by_team{team="DEV"} 1',
        'trackerhub_report_first_response_seconds{quantile="0.5"} 19800',
        'trackerhub_report_resolution_seconds{quantile="0.9"} 32400',
        'trackerhub_report_sla_met_ratio{metric="first_response"} 0.6666666666666666',
        "trackerhub_report_csat_average 3.5",
        "trackerhub_report_csat_ratings 2",
        'trackerhub_report_assignee_issues{assignee="jsmith",kind="resolved"} 2',
    ):
        assert series in text.splitlines(), series


@pytest.fixture
def cli_env(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in process_env(ctx).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_context.cache_clear()
    yield
    get_settings.cache_clear()
    get_context.cache_clear()


def test_report_weekly_prints_the_week_since_a_date_and_writes_the_chart(
    ctx: Context, week: dict[str, str], cli_env: None, tmp_path: Path
) -> None:
    chart = tmp_path / "week.png"
    result = CliRunner().invoke(main, ["report", "weekly", "--since", "2026-11-23", "--png", str(chart)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Weekly report 2026-11-23 - 2026-11-29 (previous week in brackets)"
    assert "New issues: 4 (1, +3)" in lines and "CSAT: 3.50 of 2 (4.00 of 1, -0.50)" in lines
    assert lines[-1] == f"chart: {chart}"
    png = chart.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1000, 700)
    assert len(png) > 20_000  # four panels of bars and text, not an empty canvas


def test_the_report_counts_kaiten_cards_by_board(kctx: Context, tmp_path: Path) -> None:
    """Kaiten: the same searches (created in the weeks, done and updated since, by key) on the look-alike,
    a card a customer opened counted by its channel and board."""
    message_id = journal_message(kctx, telegram_message("Router", chat_id=601))
    assert deliver_with(kctx, message_id) == "delivered"
    entry = journal.get(kctx.engine, message_id)
    assert entry is not None and entry.issue_key is not None
    with sqlite3.connect(tmp_path / "sandbox-kaiten.sqlite3") as conn:
        stamp = millis_stamp(msk(24, 11), "Z")
        assert (
            conn.execute("UPDATE card SET created = ? WHERE id = ?", (stamp, int(entry.issue_key))).rowcount
            == 1
        )
    with kctx.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE messages SET created_at = :at WHERE id = :id"),
            {"at": msk(24, 11), "id": message_id},
        )
    report = weekly_report(kctx, msk(30, 9))
    assert report.this.new_by_channel == {"telegram": 1} and report.this.new_by_team == {"10": 1}
    assert report.this.messages_by_channel == {"telegram": 1} and report.this.assigned == {"(nobody)": 1}
    assert report.last.new_issues == 0
