"""The shipped ``sla`` rule on the Jira and Kaiten look-alikes, real Redis and the real database, the clock
passed in: a clock warns once at 80% and breaches once (the breach label or tag, and the alert in the team
chat), the ``only: [breached]`` action is recorded as skipped on a warning, a clock that waits for the
customer does not warn, a resolved issue never fires, scans again fire nothing; ``sla_text`` reaches a
canned message to the customer; ``/metrics`` shows the clocks by state."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from connector.types import IssueDraft, Target
from jobs.automations.report import dry_run_lines, rule_lines
from jobs.automations.rules import rules_of
from jobs.automations.scan import dry_run
from jobs.automations.sla import issue_clocks
from jobs.automations.sla_gauges import STATES
from jobs.context import Context, build_context
from jobs.intake import accept_event
from mappers.calendar import add_business_time, business_calendar
from mappers.sla import SlaClock, SlaState
from mappers.tracker_events import TrackerEvent
from routes.app import create_app
from sandbox.server import RunningSandbox
from store import automations as firings
from tests.conftest import REPO_ROOT
from tests.jobs.automations.test_recipes import TEAM_CHAT, fire, sent, team_ctx
from tests.jobs.test_events import SECRET, move, open_issue, post_hook, run_event, transition_webhook
from tests.jobs.test_replies import read_outbox
from tests.mappers.factories import Sender, telegram_message

TICK = dt.timedelta(minutes=5)  # the sla rule is scanned every 5 minutes: one scan per tick


def first_response(ctx: Context, tracker: str, key: str, now: dt.datetime | None = None) -> SlaClock:
    """The issue's first-response clock as it stands at ``now`` (its creation: the moments ahead)."""
    state = ctx.tracker(tracker).get_state(key)
    assert ctx.config.sla is not None and state.created is not None
    report = issue_clocks(ctx, ctx.config.sla, state, now or state.created)
    clock = report.clock("first_response") if report is not None else None
    assert clock is not None
    return clock


def team_alerts(telegram: str) -> list[str]:
    return [m["text"] for m in sent(telegram) if str(m["chat_id"]) == TEAM_CHAT]


def journal_move(ctx: Context, tracker: str, key: str, status: str, at: dt.datetime) -> None:
    """The tracker's webhook for a status change at ``at``, journaled as the hook route does."""
    event = TrackerEvent(
        tracker=tracker,  # type: ignore[arg-type]
        kind="issue_transitioned",
        event_id=f"{key}-{status}-{at.isoformat()}",
        issue_key=key,
        status_to=status,
        status_category_to="indeterminate",
        occurred_at=at,
    )
    accept_event(ctx.engine, None, event, b"{}")


def check_warns_once_then_breaches_once(ctx: Context, tracker: str, key: str, telegram: str) -> None:
    clock = first_response(ctx, tracker, key)
    warn, breach = clock.warning_at, clock.breach_at
    assert warn is not None and breach is not None

    assert fire(ctx, "sla", warn - 2 * TICK) == []
    assert fire(ctx, "sla", warn + TICK) == [key]
    assert fire(ctx, "sla", warn + 3 * TICK) == []  # scanned again: the warning fired already
    [warning] = team_alerts(telegram)
    assert warning.startswith(f"[{key}]") and f"SLA warning on {key}: " in warning
    assert "of working time left" in warning
    [fired] = firings.of_rule(ctx.engine, "sla")
    assert fired.occurrence.startswith("sla:warning:first_response@")
    assert fired.actions_done["1"] == {"skipped": "only for SLA breached; this firing is warning"}
    assert "sla-breached" not in ctx.tracker(tracker).get_state(key).labels

    assert fire(ctx, "sla", breach + TICK) == [key]
    assert fire(ctx, "sla", breach + 3 * TICK) == []
    assert fire(ctx, "sla", breach + dt.timedelta(days=2)) == []
    assert "sla-breached" in ctx.tracker(tracker).get_state(key).labels
    [_, alert] = team_alerts(telegram)
    assert f"SLA breached on {key}: overdue by" in alert
    assert len(firings.of_rule(ctx.engine, "sla")) == 2


def check_a_waiting_issue_does_not_warn(
    ctx: Context, tracker: str, key: str, waiting: str, telegram: str
) -> None:
    clock = first_response(ctx, tracker, key)
    assert clock.started_at is not None and clock.warning_at is not None and clock.breach_at is not None
    ctx.tracker(tracker).transition(key, waiting)
    journal_move(ctx, tracker, key, waiting_id(tracker, waiting), clock.started_at + dt.timedelta(minutes=30))
    assert fire(ctx, "sla", clock.warning_at + TICK) == []
    assert fire(ctx, "sla", clock.breach_at + TICK) == []
    assert fire(ctx, "sla", clock.breach_at + dt.timedelta(days=3)) == []
    assert team_alerts(telegram) == []


def check_a_resolved_issue_never_fires(ctx: Context, tracker: str, key: str, telegram: str) -> None:
    clock = first_response(ctx, tracker, key)
    assert clock.breach_at is not None
    ctx.tracker(tracker).transition(key, "Done")
    assert fire(ctx, "sla", clock.breach_at + TICK) == []
    assert fire(ctx, "sla", clock.breach_at + dt.timedelta(days=30)) == []
    assert team_alerts(telegram) == []


def waiting_id(tracker: str, status: str) -> str:
    """A status as the tracker's webhook names it: a Jira status name, a Kaiten column id."""
    return {"In progress": "102"}.get(status, status) if tracker == "kaiten" else status


# -- Jira ------------------------------------------------------------------------------------------------


def jira_issue(ctx: Context, name: str) -> str:
    draft = IssueDraft(Target("jira", "SUP", "Task"), name, "b", f"sla-{name}", priority="Medium")
    return ctx.tracker("jira").create_issue(draft).key


def test_jira_warns_once_at_80_percent_then_breaches_once_with_the_label_and_the_alert(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str, mail_sink: tuple[str, Path]
) -> None:
    tctx = team_ctx(ctx)
    tctx = build_context(tctx.settings.model_copy(update={"HUB_TEAM_EMAIL": "team@example.org"}))
    key = jira_issue(tctx, "printer")
    check_warns_once_then_breaches_once(tctx, "jira", key, telegram_sandbox)
    mails = read_outbox(mail_sink[1])
    assert [m["To"] for m in mails] == ["team@example.org"] * 2
    bodies = [m.get_content() for m in mails]  # type: ignore[attr-defined]
    told = [state for body in bodies for state in ("warning", "breached") if f"SLA {state} on {key}" in body]
    assert sorted(told) == ["breached", "warning"]


def test_jira_an_issue_waiting_for_the_customer_does_not_warn(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    tctx = team_ctx(ctx)
    key = jira_issue(tctx, "waiting")
    check_a_waiting_issue_does_not_warn(tctx, "jira", key, "Waiting for customer", telegram_sandbox)


def test_jira_a_resolved_issue_never_fires(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    tctx = team_ctx(ctx)
    check_a_resolved_issue_never_fires(tctx, "jira", jira_issue(tctx, "resolved"), telegram_sandbox)


def test_jira_a_warned_issue_that_waits_and_comes_back_is_not_warned_again_and_breaches_later(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    tctx = team_ctx(ctx)
    tracker = tctx.tracker("jira")
    key = jira_issue(tctx, "comes-back")
    clock = first_response(tctx, "jira", key)
    assert clock.warning_at is not None and clock.breach_at is not None
    assert fire(tctx, "sla", clock.warning_at + TICK) == [key]
    paused, resumed = clock.warning_at + 2 * TICK, clock.warning_at + 2 * TICK + dt.timedelta(days=3)
    tracker.transition(key, "Waiting for customer")
    journal_move(tctx, "jira", key, "Waiting for customer", paused)
    tracker.transition(key, "In Progress")
    journal_move(tctx, "jira", key, "In Progress", resumed)
    later = first_response(tctx, "jira", key, resumed).due_at
    assert later is not None and later > clock.breach_at  # the deadline moved by the pause

    assert fire(tctx, "sla", clock.breach_at + TICK) == []  # waiting for the customer at the old deadline
    assert fire(tctx, "sla", resumed + TICK) == []  # running again, still at warning: warned already
    assert fire(tctx, "sla", later + TICK) == [key]
    assert [f.occurrence.split("@")[0] for f in firings.of_rule(tctx.engine, "sla")] == [
        "sla:warning:first_response",
        "sla:breached:first_response",
    ]
    assert len(team_alerts(telegram_sandbox)) == 2


def test_metrics_show_the_open_clocks_by_state(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    key = jira_issue(ctx, "gauged")
    jira_issue(ctx, "other")
    clock = first_response(ctx, "jira", key)
    assert clock.breach_at is not None
    fire(ctx, "sla", clock.breach_at + TICK)
    text = create_app(ctx.settings, ctx.config).test_client().get("/metrics").get_data(as_text=True)
    where = 'tracker="jira",metric="first_response",priority="Medium"'
    assert f'trackerhub_sla_clocks{{{where},state="breached"}} 2' in text
    assert f'trackerhub_sla_clocks{{{where},state="warning"}} 0' in text
    assert (
        'trackerhub_sla_clocks{tracker="jira",metric="resolution",priority="Medium",state="running"} 2'
        in text
    )
    assert (
        f'trackerhub_sla_scan_timestamp_seconds{{tracker="jira"}} {(clock.breach_at + TICK).timestamp()}'
        in text
    )


def test_sla_text_reaches_a_canned_status_message_to_the_customer(
    ctx: Context, jira_sandbox: RunningSandbox, telegram_sandbox: str
) -> None:
    ectx = build_context(ctx.settings.model_copy(update={"JIRA_WEBHOOK_SECRET": SECRET}))
    key = open_issue(
        ectx, telegram_message("x", sender=Sender(name="Ann", telegram_user_id=42, language="en"))
    )
    move(jira_sandbox, key, "In Progress")
    assert run_event(ectx, post_hook(ectx, transition_webhook(key, "In Progress"))) == "delivered"
    [notice] = sent(telegram_sandbox)
    assert f"Your request {key} is now in progress" in notice["text"]
    assert "of working time left" in notice["text"]  # the resolution clock (5 business days) runs


def test_two_clocks_fire_in_one_scan_and_dry_run_prints_the_issue_once(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    draft = IssueDraft(Target("jira", "SUP", "Task"), "urgent", "b", "sla-urgent", priority="Highest")
    key = ctx.tracker("jira").create_issue(draft).key
    state = ctx.tracker("jira").get_state(key)
    assert ctx.config.sla is not None and state.created is not None
    report = issue_clocks(ctx, ctx.config.sla, state, state.created)
    resolution = report.clock("resolution") if report is not None else None
    assert resolution is not None and resolution.warning_at is not None
    now = (
        resolution.warning_at + TICK
    )  # the first response (1 h) breached long ago, the resolution (8 h) warns
    found = dry_run(ctx, rules_of(ctx)["sla"], now)
    assert sorted(f.occurrence.split("@")[0] for f in found) == [
        "sla:breached:first_response",
        "sla:warning:resolution",
    ]
    lines, _ = dry_run_lines(ctx, "sla", now)
    assert [line.split("\t")[0] for line in lines] == [key]
    assert firings.of_rule(ctx.engine, "sla") == []
    assert fire(ctx, "sla", now) == [key, key]


def test_automations_ls_runs_the_sla_rule(ctx: Context, jira_sandbox: RunningSandbox) -> None:
    [line] = [line for line in rule_lines(ctx) if line.startswith("sla\t")]
    assert line.split("\t")[1] == "sla" and "not run" not in line and "next=" in line


# -- Kaiten ----------------------------------------------------------------------------------------------


def kaiten_ctx(kctx: Context, folder: Path) -> Context:
    """The shipped rule file, its SLA pausing in the look-alike's "In progress" column (it has no "Waiting
    for customer" one), and the team's chat set."""
    config = yaml.safe_load((REPO_ROOT / "config" / "hub.yaml").read_text(encoding="utf-8"))
    config["sla"]["pause_statuses"] = ["In progress"]
    folder.mkdir()
    (folder / "hub.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    for beside in ("canned", "catalogues"):
        (folder / beside).symlink_to(REPO_ROOT / "config" / beside)
    update = {"HUB_CONFIG": folder / "hub.yaml", "TELEGRAM_TEAM_CHAT_ID": TEAM_CHAT}
    return build_context(kctx.settings.model_copy(update=update))


def kaiten_card(ctx: Context, name: str) -> str:
    draft = IssueDraft(Target("kaiten", "10", None, "101"), name, "b", f"sla-{name}")
    return ctx.tracker("kaiten").create_issue(draft).key


@pytest.fixture
def sctx(kctx: Context, kaiten_sandbox: RunningSandbox, tmp_path: Path) -> Context:
    """Env-only Kaiten with the shipped rules, pausing in "In progress", the team's chat set."""
    return kaiten_ctx(kctx, tmp_path / "rules")


def test_kaiten_warns_once_then_breaches_once_with_the_tag_and_the_alert(
    sctx: Context, telegram_sandbox: str
) -> None:
    check_warns_once_then_breaches_once(sctx, "kaiten", kaiten_card(sctx, "deal"), telegram_sandbox)


def test_kaiten_a_card_in_a_pause_column_does_not_warn(sctx: Context, telegram_sandbox: str) -> None:
    key = kaiten_card(sctx, "waiting")
    check_a_waiting_issue_does_not_warn(sctx, "kaiten", key, "In progress", telegram_sandbox)


def test_kaiten_a_card_in_a_done_column_never_fires(sctx: Context, telegram_sandbox: str) -> None:
    check_a_resolved_issue_never_fires(sctx, "kaiten", kaiten_card(sctx, "done"), telegram_sandbox)


def test_kaiten_a_pause_the_webhooks_name_by_column_id_moves_the_warning(
    sctx: Context, telegram_sandbox: str
) -> None:
    key = kaiten_card(sctx, "paused-once")
    clock = first_response(sctx, "kaiten", key)
    assert clock.started_at is not None and clock.warning_at is not None
    paused = clock.started_at + dt.timedelta(minutes=1)
    # two working hours of pause: a calendar day from a Friday evening would be one working minute
    calendar = business_calendar(sctx.config.calendar("default"))
    resumed = add_business_time(calendar, paused, dt.timedelta(hours=2))
    journal_move(sctx, "kaiten", key, "102", paused)  # into "In progress", a pause column by title
    journal_move(sctx, "kaiten", key, "101", resumed)  # back to "To do"
    later = first_response(sctx, "kaiten", key, resumed).warning_at
    assert later is not None and later > clock.warning_at + TICK

    assert fire(sctx, "sla", clock.warning_at + TICK) == []
    assert fire(sctx, "sla", later + TICK) == [key]
    [warning] = team_alerts(telegram_sandbox)
    assert f"SLA warning on {key}" in warning


def test_the_web_process_s_gauge_states_are_the_clock_states() -> None:
    assert tuple(state.value for state in SlaState) == STATES


def assigned_policy(ctx: Context) -> Context:
    """``ctx`` with the shipped SLA policy started at the first assignment (KROK's way)."""
    assert ctx.config.sla is not None
    policy = ctx.config.sla.model_copy(update={"start": "assigned"})
    return build_context(ctx.settings, ctx.config.model_copy(update={"sla": policy}))


def test_start_assigned_waits_for_the_first_assignment_the_webhooks_tell(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    actx = assigned_policy(ctx)
    key = jira_issue(actx, "assigned-later")
    state = actx.tracker("jira").get_state(key)
    assert state.created is not None and actx.config.sla is not None
    later = state.created + dt.timedelta(days=3)
    pending = issue_clocks(actx, actx.config.sla, state, later)
    assert pending is not None and pending.clock("first_response").started_at is None  # type: ignore[union-attr]
    assigned_at = state.created + dt.timedelta(days=1)
    event = TrackerEvent(
        tracker="jira",
        kind="issue_updated",
        event_id=f"{key}-assigned",
        issue_key=key,
        fields_changed=("assignee", "Assignee"),
        occurred_at=assigned_at,
    )
    accept_event(actx.engine, None, event, b"{}")
    started = issue_clocks(actx, actx.config.sla, state, later)
    clock = started.clock("first_response") if started is not None else None
    assert clock is not None and clock.started_at is not None
    assert assigned_at <= clock.started_at < assigned_at + dt.timedelta(days=4)  # the next working moment


def test_start_assigned_counts_an_issue_assigned_before_any_webhook_from_its_creation(
    ctx: Context, jira_sandbox: RunningSandbox
) -> None:
    actx = assigned_policy(ctx)
    draft = IssueDraft(
        Target("jira", "SUP", "Task"), "born assigned", "b", "sla-born", priority="Medium", assignee="jsmith"
    )
    key = actx.tracker("jira").create_issue(draft).key
    state = actx.tracker("jira").get_state(key)
    assert state.assignee and state.created is not None and actx.config.sla is not None
    report = issue_clocks(actx, actx.config.sla, state, state.created + dt.timedelta(days=3))
    clock = report.clock("first_response") if report is not None else None
    assert clock is not None and clock.started_at is not None
    assert clock.started_at < state.created + dt.timedelta(days=3)
