"""The console's Messages page and one message: the filters, the parsed view, the raw source escaped in
the page and downloadable as it arrived, attempts with the reason, the issue link and what was sent."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from flask.testing import FlaskClient

from jobs.context import Context
from store import journal, outbound
from store.db import messages
from tests.jobs.conftest import journal_message
from tests.mappers.factories import email_message, telegram_message
from tests.routes.admin.conftest import matches

HOSTILE = (
    b'From: "<script>window.pwned=1</script>" <mallory@evil.example>\r\n'
    b"To: support@hub.example.com\r\n"
    b'Subject: <img src=x onerror="window.pwned=2">\r\n'
    b"Message-ID: <hostile-1@evil.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b'</pre><script>window.pwned=3</script><a href="javascript:alert(1)">x</a>\r\n'
)


def stamp(ctx: Context, message_id: str, day: str, **values: object) -> None:
    """Set a journal row's receipt time (and other columns) as the test needs them."""
    when = dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")
    with ctx.engine.begin() as conn:
        conn.execute(messages.update().where(messages.c.id == message_id).values(created_at=when, **values))


def listed(client: FlaskClient, query: str) -> list[str]:
    """The message ids the Messages page lists for ``query``."""
    return matches(client, f"/admin/messages?{query}", r'href="/admin/messages/([0-9a-f]+)"')


def test_the_journal_is_filtered_by_channel_status_sender_date_and_issue(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    ann = journal_message(ctx, telegram_message("Printer is on fire"))
    bob = journal_message(ctx, email_message("Invoice is wrong"))
    bob_later = journal_message(ctx, email_message("Invoice still wrong"))
    stamp(ctx, ann, "2026-11-20")
    stamp(ctx, bob, "2026-11-21", status="delivered", issue_key="SUP-7", tracker="jira")
    stamp(ctx, bob_later, "2026-11-23", status="failed", reason="tracker rejected the message: 400")
    viewer = as_user("vic")

    assert listed(viewer, "") == [bob_later, bob, ann]
    assert listed(viewer, "channel=telegram") == [ann]
    assert listed(viewer, "status=failed") == [bob_later]
    assert listed(viewer, "sender=BOB%40customer") == [bob_later, bob]
    assert listed(viewer, "sender=ann") == [ann]
    assert listed(viewer, "sender=invoice") == []  # the text is not the sender
    assert listed(viewer, "issue=sup-7") == [bob]
    assert listed(viewer, "since=2026-11-21&until=2026-11-21") == [bob]
    assert listed(viewer, "since=2026-11-22") == [bob_later]
    bad = viewer.get("/admin/messages?since=21.11.2026")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    # url_for's own keywords in the query are not passed on to the page's links (one was a 500)
    odd = viewer.get("/admin/messages?_method=POST&_external=1&_scheme=http&channel=email")
    assert odd.status_code == 200 and "_scheme" not in odd.text


def test_a_hostile_message_is_shown_escaped_and_downloaded_as_it_came(
    client: FlaskClient, ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    sent = client.post("/hooks/email", data=HOSTILE, headers={"Authorization": "Bearer inbound-token"})
    assert sent.status_code == 202, sent.text
    message_id = sent.json["id"]
    viewer = as_user("vic")

    page = viewer.get(f"/admin/messages/{message_id}")
    assert page.status_code == 200
    assert "<script>window.pwned" not in page.text and "onerror=" not in page.text.replace(
        "onerror=&#34;", ""
    )
    assert "<img" not in page.text and 'href="javascript:' not in page.text
    assert "&lt;/pre&gt;&lt;script&gt;window.pwned=3&lt;/script&gt;" in page.text  # the raw source, escaped
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page.text  # the parsed sender, escaped
    assert "script-src 'nonce-" in page.headers["Content-Security-Policy"]

    raw = viewer.get(f"/admin/messages/{message_id}/raw")
    assert raw.data == HOSTILE
    assert raw.headers["Content-Disposition"] == f'attachment; filename="{message_id}.eml"'
    assert raw.mimetype == "application/octet-stream" and raw.headers["X-Content-Type-Options"] == "nosniff"


def test_a_message_shows_its_attempts_issue_and_replies(
    ctx: Context, as_user: Callable[[str], FlaskClient]
) -> None:
    message_id = journal_message(ctx, telegram_message("Printer is on fire"))
    journal.mark_delivered(
        ctx.engine,
        message_id,
        tracker="jira",
        issue_key="SUP-9",
        issue_url="https://jira.example/browse/SUP-9",
        outcome="issue",
    )
    stamp(ctx, message_id, "2026-11-23", attempts=2, reason=None)
    outbound.record(
        ctx.engine,
        outbound.Outbound(message_id, "autoreply", "telegram", "42", "sent", None, "tg:1"),
    )
    page = as_user("vic").get(f"/admin/messages/{message_id}")
    assert '<a href="https://jira.example/browse/SUP-9" rel="noopener noreferrer">SUP-9</a>' in page.text
    assert "2 attempt(s)" in page.text
    assert re.search(r"<td>autoreply</td><td>telegram</td><td>42</td><td>sent</td>", page.text)
    assert "Printer is on fire" in page.text
    assert as_user("vic").get("/admin/messages/" + "f" * 24).status_code == 404


def test_a_large_source_shows_its_head_and_downloads_whole(
    client: FlaskClient, as_user: Callable[[str], FlaskClient]
) -> None:
    large = HOSTILE.replace(b"hostile-1", b"large-1") + b"line of text\r\n" * 30_000  # ~420 KB
    sent = client.post("/hooks/email", data=large, headers={"Authorization": "Bearer inbound-token"})
    assert sent.status_code == 202, sent.text
    viewer = as_user("vic")
    page = viewer.get(f"/admin/messages/{sent.json['id']}")
    shown = re.search(r'<pre class="raw" id="raw">(.*?)</pre>', page.text, re.S)
    assert shown is not None and len(shown.group(1)) < len(large)
    assert "Only the first 256 KiB are shown" in page.text
    assert viewer.get(f"/admin/messages/{sent.json['id']}/raw").data == large
