"""The console's operations pages: the dashboard (the home page) charts what the journal, the queues,
the SLA scan and the ratings hold, as SVG with its numbers in a table; the routing log and automation
firings are filtered, paginated, open to a viewer, and show hostile text as text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from jobs.automations.sla_gauges import publish_gauges
from jobs.context import Context
from routes.admin.filters import PAGE_SIZE
from store import automations, journal, message_search, ratings, routing
from store.db import automation_firings, messages, route_audit
from tests.routes.admin.conftest import matches
from tests.store.test_ratings import survey

SCRIPT = "<script>window.pwned=1</script>"


def journal_row(
    ctx: Context, channel: str, at: dt.datetime, status: str = journal.QUEUED, **values: object
) -> str:
    n = len(message_search.search(ctx.engine, message_search.MessageQuery(), limit=10_000))
    entry = journal.NewEntry(channel, f"ops-{n}", f"ops-{n}", "new", "{}", status=status)
    message_id, _ = journal.record(ctx.engine, entry)
    with ctx.engine.begin() as conn:
        conn.execute(
            messages.update()
            .where(messages.c.id == message_id)
            .values(created_at=at, updated_at=values.pop("updated_at", at), **values)
        )
    return message_id


def figure(html: str, title: str) -> str:
    """The dashboard's figure (chart and numbers) whose caption is ``title``."""
    found = re.search(
        rf"<figure[^>]*>\s*<figcaption>{re.escape(title)}</figcaption>(.*?)</figure>", html, re.S
    )
    assert found, f"no chart {title!r}"
    return found.group(1)


def test_the_dashboard_charts_messages_per_hour_by_channel(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(3):
        journal_row(ctx, "email", hour)
    for _ in range(2):
        journal_row(ctx, "telegram", hour)
    journal_row(ctx, "email", hour - dt.timedelta(days=3))  # only in the 7-day window

    day = as_user("vic").get("/admin/")
    week = as_user("vic").get("/admin/?window=7d")

    assert day.status_code == 200 and week.status_code == 200
    traffic = figure(day.text, "Messages per hour by channel")
    label = f"{hour:%m-%d %H}:00"
    assert f"<title>{label} · email: 3</title>" in traffic
    assert f"<title>{label} · telegram: 2</title>" in traffic
    assert re.search(rf"<th scope=\"row\">{label}</th><td>3</td><td>2</td>", traffic)
    assert traffic.count("<rect") == 2 + 2  # two bars, two legend keys
    assert "email: 1</title>" in figure(week.text, "Messages per hour by channel")


def test_the_dashboard_charts_latency_queues_dead_letters_sla_and_csat(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    now = dt.datetime.now(dt.UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    for seconds in (1, 5, 5):
        journal_row(ctx, "email", hour, journal.DELIVERED, updated_at=hour + dt.timedelta(seconds=seconds))
    journal_row(ctx, "telegram", hour, journal.FAILED)
    publish_gauges(
        ctx.redis,
        "jira",
        {("jira", "resolution", "High", "running"): 4, ("jira", "resolution", "High", "warning"): 2,
         ("jira", "resolution", "Low", "breached"): 1},
        now,
    )  # fmt: skip
    for key, score in (("DEV-1", 5), ("DEV-2", 4)):
        added, _ = ratings.add(ctx.engine, survey(key))
        ratings.rate(ctx.engine, added.id, score, now)

    html = as_user("vic").get("/admin/").text

    latency = figure(html, "Delivery latency per hour (received → delivered)")
    assert f"<title>{hour:%m-%d %H}:00 · median: 5 s</title>" in latency
    queues = figure(html, "Queues now")
    assert "<title>deliveries · waiting: 1 s" not in queues and "dead letters · waiting: 1</title>" in queues
    assert f'<th scope="row">{now:%Y-%m-%d}</th><td>1</td>' in figure(
        html, "Dead letters per day (by the day received)"
    )
    sla = figure(html, "Open issues&#39; SLA clocks (the last SLA scan)")
    assert "resolution · within: 4</title>" in sla and "resolution · at risk: 2</title>" in sla
    assert "resolution · breached: 1</title>" in sla
    csat = figure(html, "CSAT: average rating per day (1–5)")
    assert f'<th scope="row">{now:%Y-%m-%d}</th><td>4.50</td><td>2</td>' in csat


def test_an_empty_dashboard_says_so_in_russian_too(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    html = as_user("vic").get("/admin/?lang=ru&window=nonsense").text
    assert "Сообщения в час по каналам" in html and "За этот период сообщений нет." in html
    assert "Проверка SLA ещё не выполнялась" in html


def audit_line(ctx: Context, key: str, actor: str, result: str, at: dt.datetime, **values: object) -> None:
    row = {
        "request_id": "r" * 32,
        "at": at,
        "actor": actor,
        "via": "console",
        "route": "hardware",
        "source_tracker": "jira",
        "source_key": key,
        "target_tracker": "kaiten",
        "target_key": None,
        "field_values": "{}",
        "result": result,
        "reason": None,
        **values,
    }
    with ctx.engine.begin() as conn:
        conn.execute(route_audit.insert().values(**row))


def routed(client: FlaskClient, query: str = "") -> list[str]:
    """The source issues the routing log lists for ``query``, in order."""
    return matches(client, f"/admin/routing?{query}", r"<td>jira:([A-Z]+-\d+) →")


def test_the_routing_log_filters_by_actor_issue_outcome_and_date_newest_first(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    day = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    routing.add_request(
        ctx.engine, route="hardware", source_tracker="jira", source_key="SUP-1", requested_by="Cory Coord",
        via="telegram", supplied={}, field_values={"Priority": "High"}, lease_seconds=60,
    )  # fmt: skip
    audit_line(ctx, "SUP-2", "ann", "done", day, target_key="HW-9", field_values='{"Spare parts": "PSU"}')
    audit_line(ctx, "SUP-3", "bob", "failed", day - dt.timedelta(days=1), reason="kaiten said 400")
    viewer = as_user("vic")

    assert routed(viewer) == ["SUP-1", "SUP-2", "SUP-3"]
    assert routed(viewer, "actor=cory") == ["SUP-1"]
    assert routed(viewer, "issue=sup-2") == ["SUP-2"]
    assert routed(viewer, "issue=HW-9") == ["SUP-2"]  # the target key too
    assert routed(viewer, "outcome=failed") == ["SUP-3"]
    assert routed(viewer, "since=2026-11-19&until=2026-11-19") == ["SUP-3"]
    page = viewer.get("/admin/routing?issue=SUP-2").text
    assert "jira:SUP-2 → kaiten:HW-9" in page and "Spare parts: PSU" in page and "console" in page
    assert "failed: kaiten said 400" in viewer.get("/admin/routing?outcome=failed").text
    assert viewer.get("/admin/routing?since=20.11.2026").status_code == 400


def test_the_routing_log_pages_and_shows_hostile_text_as_text(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for n in range(PAGE_SIZE + 1):
        audit_line(ctx, f"SUP-{n}", SCRIPT, "requested", start + dt.timedelta(minutes=n))
    viewer = as_user("vic")

    first = viewer.get("/admin/routing")
    assert len(routed(viewer)) == PAGE_SIZE and routed(viewer)[0] == f"SUP-{PAGE_SIZE}"
    assert SCRIPT not in first.text and "&lt;script&gt;window.pwned=1&lt;/script&gt;" in first.text
    older = re.search(r'href="(/admin/routing\?page=1)"', first.text)
    assert older and routed(viewer, "page=1") == ["SUP-0"]


def fired(ctx: Context, rule: str, key: str, at: dt.datetime) -> str:
    [fid] = automations.insert(
        ctx.engine, [automations.NewFiring(rule, "jira", key, at.isoformat())], at, dt.timedelta(0)
    )
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.update(automation_firings).where(automation_firings.c.id == fid).values(created_at=at)
        )
    return fid


def firings_listed(client: FlaskClient, query: str = "") -> list[str]:
    """The issue keys the automations page lists for ``query``, in order."""
    return matches(client, f"/admin/automations?{query}", r"<td>[^<]+</td>\s*<td>([A-Z]+-\d+)</td>")


def test_automation_firings_show_the_outcome_and_filter_by_rule_issue_outcome_and_date(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    day = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    done = fired(ctx, "escalate", "SUP-1", day)
    automations.finish(ctx.engine, done, day)
    skipped = fired(ctx, "remind", "SUP-2", day + dt.timedelta(hours=1))
    automations.save_progress(
        ctx.engine, skipped, {"0": {"skipped": "the issue has no customer conversation"}}, day
    )
    automations.finish(ctx.engine, skipped, day)
    failed = fired(ctx, "escalate", "SUP-3", day + dt.timedelta(days=1))
    automations.fail(ctx.engine, failed, f"jira refused: {SCRIPT}", day)
    fired(ctx, "remind", "SUP-4", day - dt.timedelta(days=1))  # pending
    viewer = as_user("vic")

    def listed(query: str = "") -> list[str]:
        return firings_listed(viewer, query)

    assert listed() == ["SUP-3", "SUP-2", "SUP-1", "SUP-4"]
    assert listed("rule=escalate") == ["SUP-3", "SUP-1"]
    assert listed("issue=sup-2") == ["SUP-2"]
    assert listed("outcome=failed") == ["SUP-3"]
    assert listed("outcome=skipped") == ["SUP-2"]
    assert listed("outcome=pending") == ["SUP-4"]
    assert listed("since=2026-11-20&until=2026-11-20") == ["SUP-2", "SUP-1"]
    page = viewer.get("/admin/automations").text
    assert "the issue has no customer conversation" in page and "done (skipped)" in page
    assert SCRIPT not in page and "jira refused: &lt;script&gt;" in page
    assert 'method="post"' not in page.split("<main>")[1]  # read-only: no re-run


def test_the_operations_pages_need_a_login_and_every_role_reads_them(
    app: Flask, as_user: Callable[[str], FlaskClient]
) -> None:
    for path in ("/admin/", "/admin/routing", "/admin/automations"):
        anonymous = app.test_client().get(path)
        assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"], path
        for name in ("vic", "cory", "ada"):
            assert as_user(name).get(path).status_code == 200, (path, name)
        assert app.test_client().post(path).status_code in (403, 405), path  # nothing to change here
