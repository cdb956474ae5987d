"""The routing job against the Jira look-alike (Data Center: no move API, so the copy method): the
target created with the plan's fields and the marker, the digest, the link, the source closed; spawn
leaves the source open; a repeat or a resumed job writes nothing twice; a refused create is a failed
request with Jira's own error and nothing written."""

from __future__ import annotations

from connector.types import IssueRef
from jobs.context import Context
from jobs.routing.job import marker_of, run_route_with
from sandbox.server import RunningSandbox
from store import routing as store
from tests.jobs.conftest import add_fault, sandbox_issues, tracker_calls
from tests.jobs.routing.conftest import issue_json, route_now


def comment_bodies(sandbox: RunningSandbox, key: str) -> list[str]:
    return [c["body"] for c in issue_json(sandbox, key, "comment")["fields"]["comment"]["comments"]]


def test_hardware_moves_by_copy_with_every_field_filled_and_the_source_closed(
    ctx: Context, jira_sandbox: RunningSandbox, source: IssueRef
) -> None:
    ctx.tracker("jira").add_comment(source.key, "It smells of burnt toner.", "hub-c1")

    done = route_now(ctx, "hardware", source.key, {"Spare parts": "Fuser kit"})

    assert (done.status, done.target_tracker, done.target_key) == ("done", "jira", "HW-1")
    assert done.target_url and done.target_url.endswith("/browse/HW-1")
    hw = issue_json(jira_sandbox, "HW-1")["fields"]
    assert hw["summary"] == "Printer on fire" and "*smoking*" in hw["description"]
    assert hw["customfield_10040"] == "Fuser kit"
    assert hw["customfield_10050"]["value"] == "LaserJet 4250"
    assert [c["name"] for c in hw["components"]] == ["Printers"]
    assert hw["priority"]["name"] == "High"
    assert marker_of(done.id) in hw["labels"]
    [digest] = comment_bodies(jira_sandbox, "HW-1")
    assert "Comments from " + source.key in digest and "burnt toner" in digest
    [link] = hw["issuelinks"]
    assert link["type"]["name"] == "Cloners"
    closed = issue_json(jira_sandbox, source.key, "status,resolution,comment")["fields"]
    assert closed["status"]["statusCategory"]["key"] == "done"
    assert closed["resolution"]["name"] == "Won't Do"
    assert "Moved to HW-1" in closed["comment"]["comments"][-1]["body"]
    [audit_done, audit_requested] = store.read_audit(ctx.engine, route="hardware")
    assert (audit_done.result, audit_done.target_key, audit_requested.result) == ("done", "HW-1", "requested")
    assert audit_done.field_values["Spare parts"] == "Fuser kit"


def test_a_parts_order_spawns_a_linked_issue_and_leaves_the_source_open(
    ctx: Context, jira_sandbox: RunningSandbox, source: IssueRef
) -> None:
    done = route_now(ctx, "parts-order", source.key)

    hw = issue_json(jira_sandbox, str(done.target_key))["fields"]
    assert hw["summary"] == f"Spare parts for {source.key}: Printer on fire"
    assert hw["customfield_10040"] == "Fuser kit RM1-1082, Transfer roller RM1-1100"
    assert "parts-order" in hw["labels"]
    assert [link["type"]["name"] for link in hw["issuelinks"]] == ["Relates"]
    assert comment_bodies(jira_sandbox, str(done.target_key)) == []  # carry.comments: false
    still = issue_json(jira_sandbox, source.key, "status")["fields"]
    assert still["status"]["statusCategory"]["key"] != "done"


def test_a_job_run_again_after_it_finished_writes_nothing(
    ctx: Context, jira_sandbox: RunningSandbox, source: IssueRef
) -> None:
    done = route_now(ctx, "database", source.key)
    before = tracker_calls(jira_sandbox)

    again = run_route_with(ctx, done.id)

    assert again is not None and again.status == "done"
    after = tracker_calls(jira_sandbox)
    assert {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)} == {}
    assert len(sandbox_issues(jira_sandbox, "project = DB")) == 1


def test_a_refused_create_fails_the_request_with_jiras_error_and_writes_nothing(
    ctx: Context, jira_sandbox: RunningSandbox, source: IssueRef
) -> None:
    add_fault(jira_sandbox, status=400, count=1, methods=["POST"], paths=["/rest/api/2/issue"])

    failed = route_now(ctx, "hardware", source.key, {"Spare parts": "Fuser kit"})

    assert failed.status == "failed" and "400" in (failed.reason or ""), failed.reason
    assert sandbox_issues(jira_sandbox, "project = HW") == []
    still = issue_json(jira_sandbox, source.key, "status,comment")["fields"]
    assert still["status"]["statusCategory"]["key"] != "done" and still["comment"]["comments"] == []
    assert store.read_audit(ctx.engine)[0].result == "failed"


def test_the_source_s_attachments_are_carried_to_the_target(
    ctx: Context, jira_sandbox: RunningSandbox, source: IssueRef
) -> None:
    from connector.types import FileUpload

    ctx.tracker("jira").attach_files(source.key, [FileUpload("error.log", b"fuser error 50.4")])

    done = route_now(ctx, "database", source.key)

    files = issue_json(jira_sandbox, str(done.target_key), "attachment")["fields"]["attachment"]
    assert [(f["filename"], f["size"]) for f in files] == [("error.log", 16)]
    assert done.steps["files"] == 1
