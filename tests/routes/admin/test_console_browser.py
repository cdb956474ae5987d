"""The console in a real chromium (Debian's, through Playwright), against the hub's app served from a
thread, the Jira look-alike, the real Redis and database: a viewer logs in on a phone, reads a hostile
message without any of its script running, sees no Replay and has a forged replay refused; a
coordinator replays a dead letter, and once a worker has run its job the message shows its new issue; a
coordinator routes an issue from the console;
an admin walks every main page on a laptop (their screenshots are saved into docs/screenshots/ for the
README), and the dashboard, routing log and automations fit a phone's width."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from config.settings import Settings
from jobs.automations.sla_gauges import publish_gauges
from jobs.context import Context
from jobs.intake import accept
from jobs.routing.job import run_route_with
from routes import create_app
from sandbox.server import RunningSandbox, run_in_thread
from store import accounts, automations, journal, ratings, routing
from store.db import messages
from tests.browser import save_screenshot
from tests.jobs.conftest import drain
from tests.jobs.routing.conftest import create_source
from tests.mappers.factories import email_message, telegram_message
from tests.routes.admin.conftest import PASSWORDS
from tests.routes.admin.test_dead_letters import dead_letter
from tests.routes.admin.test_messages import HOSTILE
from tests.routes.admin.test_operations import audit_line, fired
from tests.routes.admin.test_route import SPARE_PARTS
from tests.store.test_ratings import survey


@pytest.fixture
def hub(wired: Settings, ctx: Context, users: dict[str, accounts.User]) -> Iterator[RunningSandbox]:
    with run_in_thread(create_app(wired), "hub") as running:
        yield running


def log_in(page: Page, hub: RunningSandbox, name: str) -> None:
    page.goto(f"{hub.url}/admin/")
    expect(page.get_by_role("heading")).to_have_text("Log in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_a_viewer_reads_a_hostile_message_safely_and_cannot_replay(
    phone: Page, hub: RunningSandbox, ctx: Context, jira: RunningSandbox
) -> None:
    letter = dead_letter(ctx, jira, "Printer is on fire")  # first: its job must not meet the mail's in a bulk
    hostile = accept_mail(hub)
    log_in(phone, hub, "vic")

    phone.goto(f"{hub.url}/admin/messages/{hostile}")
    expect(phone.locator("#raw")).to_contain_text("<script>window.pwned=3</script>")
    expect(phone.locator("#parsed")).to_contain_text("<script>window.pwned=1</script>")
    assert phone.evaluate("typeof window.pwned") == "undefined"

    phone.goto(f"{hub.url}/admin/dead-letters")
    expect(phone.get_by_role("link", name=re.compile(r"^\d{4}-\d\d-\d\d"))).to_have_count(1)
    expect(phone.get_by_role("button", name=re.compile("Replay"))).to_have_count(0)
    token = phone.locator("input[name=csrf_token]").first.input_value()  # the logout form's, valid
    forged = phone.context.request.post(
        f"{hub.url}/admin/dead-letters/{letter}/replay", form={"csrf_token": token}, max_redirects=0
    )
    assert forged.status == 403
    entry = journal.get(ctx.engine, letter)
    assert entry is not None and entry.status == journal.FAILED


def test_a_coordinator_replays_a_dead_letter_and_it_is_delivered(
    phone: Page, hub: RunningSandbox, ctx: Context, jira: RunningSandbox
) -> None:
    letter = dead_letter(ctx, jira, "Printer is on fire")
    log_in(phone, hub, "cory")
    phone.get_by_role("link", name="Dead letters").first.click()
    expect(phone.locator("tbody tr")).to_have_count(1)
    expect(phone.locator("tbody tr")).to_contain_text("tracker rejected the message")
    phone.get_by_role("button", name="Replay", exact=True).click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Replay")
    expect(phone.locator("#outcomes tbody tr")).to_have_text(re.compile(rf"{letter}\s*requeued"))
    drain(ctx)  # the worker's part: run the replayed delivery job

    phone.get_by_role("link", name=letter).click()
    expect(phone.locator("#status")).to_have_text("delivered")
    expect(phone.locator("#issue a").first).to_have_text(re.compile(r"^SUP-\d+$"))


def test_a_coordinator_routes_an_issue_from_the_console(
    laptop: Page, hub: RunningSandbox, ctx: Context, jira: RunningSandbox
) -> None:
    source = create_source(ctx, summary="Printer <script>window.pwned=1</script> on fire")
    log_in(laptop, hub, "cory")
    laptop.get_by_role("navigation").get_by_role("link", name="Route an issue").click()
    laptop.get_by_label("Issue").fill(source.key)
    laptop.get_by_role("button", name="Show its routes").click()
    expect(laptop.locator("#source")).to_contain_text("<script>window.pwned=1</script>")
    laptop.get_by_role("link", name="Hardware team").click()

    expect(laptop.locator("#plan")).to_contain_text("LaserJet 4250")
    laptop.get_by_label("Spare parts").fill("fuser kit RM1-1082")
    save_screenshot(laptop, "route")
    form = {"issue": source.key, "route": "hardware", f"field:{SPARE_PARTS}": "x"}
    csrf_less = laptop.context.request.post(f"{hub.url}/admin/route", form=form, max_redirects=0)
    assert csrf_less.status == 403  # the session's cookie alone routes nothing
    assert routing.live_request(ctx.engine, "jira", source.key) is None
    laptop.get_by_role("button", name="Route", exact=True).click()
    expect(laptop.get_by_role("heading", level=1)).to_have_text("Routing log")
    expect(laptop.locator("table.list tbody")).to_contain_text("console:cory")
    assert laptop.evaluate("typeof window.pwned") == "undefined"

    made = routing.live_request(ctx.engine, "jira", source.key)
    assert made is not None and (made.via, made.requested_by) == ("console", "console:cory")
    done = run_route_with(ctx, made.id)  # the worker's part
    assert done is not None and done.status == "done" and (done.target_key or "").startswith("HW-")
    laptop.reload()
    expect(laptop.locator("table.list tbody")).to_contain_text(done.target_key or "")


def accept_mail(hub: RunningSandbox) -> str:
    import requests

    sent = requests.post(
        f"{hub.url}/hooks/email", data=HOSTILE, headers={"Authorization": "Bearer inbound-token"}, timeout=10
    )
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"])


MAIN_PAGES = (  # (screenshot, nav link and heading, a text the page shows)
    ("messages", "Messages", "VPN drops every hour"),
    ("dead-letters", "Dead letters", "tracker rejected the message"),
    ("routing-log", "Routing log", "jira:SUP-3 → kaiten:HW-12"),
    ("automations", "Automations", "the issue has no customer conversation"),
    ("audit", "Audit", "login"),
)


def test_an_admin_walks_the_main_pages_on_a_laptop_and_each_is_saved_for_the_readme(
    laptop: Page, hub: RunningSandbox, ctx: Context, jira: RunningSandbox
) -> None:
    dead_letter(ctx, jira, "Printer is on fire")
    a_busy_day(ctx)
    laptop.goto(f"{hub.url}/admin/login")
    save_screenshot(laptop, "login")
    log_in(laptop, hub, "ada")

    expect(laptop.locator("figure svg[role=img]")).to_have_count(6)
    expect(laptop.get_by_role("img", name="Messages per hour by channel")).to_be_visible()
    expect(
        laptop.locator("figure", has_text="Messages per hour").locator("rect title").first
    ).to_contain_text(re.compile(r"(email|telegram): \d+"))
    save_screenshot(laptop, "dashboard")
    for name, link, shown in MAIN_PAGES:
        laptop.get_by_role("navigation").get_by_role("link", name=link, exact=True).click()
        expect(laptop.get_by_role("heading", level=1)).to_have_text(link)
        expect(laptop.locator("table.list tbody")).to_contain_text(shown)
        save_screenshot(laptop, name)
        if name == "messages":
            laptop.locator("table.list tbody tr a").first.click()
            expect(laptop.locator("#parsed")).to_be_visible()
            save_screenshot(laptop, "message")


def test_the_dashboard_routing_log_and_automations_fit_a_phone(
    phone: Page, hub: RunningSandbox, ctx: Context
) -> None:
    a_busy_day(ctx)
    log_in(phone, hub, "vic")
    for path in ("/admin/?window=7d", "/admin/routing", "/admin/automations"):
        phone.goto(f"{hub.url}{path}")
        expect(phone.locator("main table, main figure").first).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path


def a_busy_day(ctx: Context) -> None:
    """A day of a small support desk, for the pages to show: messages over the last hours (delivered
    a few seconds to minutes after arrival), routing actions, automation firings, an SLA scan, ratings."""
    now = dt.datetime.now(dt.UTC)
    subjects = ("Invoice is wrong", "VPN drops every hour", "New laptop for Maria", "Printer jams on tray 2")
    for n in range(36):
        at = now - dt.timedelta(hours=n * 2 % 23, minutes=n * 7 % 60)
        if n % 3:
            message = email_message(subjects[n % len(subjects)], received_at=at)
        else:
            message = telegram_message(f"{subjects[n % len(subjects)]}, please help", chat_id=100 + n)
        message_id = accept(ctx.engine, None, message).id
        with ctx.engine.begin() as conn:
            conn.execute(
                messages.update()
                .where(messages.c.id == message_id)
                .values(
                    created_at=at,
                    updated_at=at + dt.timedelta(seconds=2 + (n * 37) % 240),
                    status=journal.DELIVERED,
                    tracker="jira",
                    issue_key=f"SUP-{n + 1}",
                    outcome="issue",
                )
            )
    audit_line(ctx, "SUP-3", "cory", "done", now - dt.timedelta(hours=1), target_key="HW-12",
               field_values='{"Spare parts": "toner TN-3280"}')  # fmt: skip
    audit_line(ctx, "SUP-5", "link holder 10.0.0.7", "requested", now - dt.timedelta(hours=2), via="page")
    audit_line(ctx, "SUP-8", "ann (team chat)", "failed", now - dt.timedelta(hours=5), via="telegram",
               reason="kaiten refused the card: board 12 is archived")  # fmt: skip
    done = fired(ctx, "escalate-p1", "SUP-2", now - dt.timedelta(minutes=30))
    automations.finish(ctx.engine, done, now)
    skipped = fired(ctx, "remind-customer", "SUP-4", now - dt.timedelta(hours=3))
    progress = {"0": {"skipped": "the issue has no customer conversation"}}
    automations.save_progress(ctx.engine, skipped, progress, now)
    automations.finish(ctx.engine, skipped, now)
    failed = fired(ctx, "assign-least-busy", "SUP-6", now - dt.timedelta(hours=4))
    automations.fail(ctx.engine, failed, "jira refused: the assignee is not in the project", now)
    fired(ctx, "daily-digest", "*", now)
    publish_gauges(
        ctx.redis,
        "jira",
        {("jira", "first_response", "High", "running"): 5, ("jira", "first_response", "High", "warning"): 2,
         ("jira", "resolution", "High", "running"): 9, ("jira", "resolution", "Low", "breached"): 1},
        now,
    )  # fmt: skip
    for n, score in enumerate((5, 4, 5, 3, 5, 4, 2, 5)):
        added, _ = ratings.add(ctx.engine, survey(f"DEV-{n}"))
        ratings.rate(ctx.engine, added.id, score, now - dt.timedelta(days=n % 5))
