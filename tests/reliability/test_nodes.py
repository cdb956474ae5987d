"""Past one machine: two hub nodes on one PostgreSQL and one Redis, as the README's "Running several nodes"
lays them out, with the traffic spread over both web servers as a load balancer would.

- ``node-lost``: every process of the node holding the scheduler (web, workers, scheduler) is SIGKILLed
  mid-run. The survivor's standby scheduler takes the lock over (the time it took is reported), its
  sweep frees what the dead workers held, and every accepted message is delivered exactly once. Messages
  the lost web server was answering when it died are sent again to the survivor, as a client whose
  request failed does; the journal (shared) knows them, so they are not taken twice.
- ``split-conversation``: one Telegram chat's burst, every other message to each node: one issue, and
  the comments in the order the hub accepted the messages.

``make test`` runs them at ``RELIABILITY_NODES_N`` = 50 messages; ``make reliability`` at 200.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.postgres import PostgresServer, start_postgres
from tests.reliability.harness import HubOptions, HubUnderTest
from tests.reliability.ledger import MARKER, Tally
from tests.reliability.test_faults import assert_exactly_once, run_scenario
from tests.reliability.traffic import mixed_messages, telegram_chats

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]

N = int(os.environ.get("RELIABILITY_NODES_N", "50"))
FAILOVER_TIMEOUT = 120.0
RATE = 10.0  # messages per second


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    server = start_postgres(tmp_path / "postgres")
    try:
        yield server
    finally:
        server.stop()


def two_nodes(server: PostgresServer, latency_ms: int = 0) -> HubOptions:
    return HubOptions(nodes=2, workers=2, database_url=server.url, sandbox_latency_ms=latency_ms)


def test_a_node_lost_whole_mid_run_loses_and_doubles_nothing(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    took: list[float] = []
    lost: list[int] = []

    def lose_the_scheduler_node(hub: HubUnderTest) -> float:
        time.sleep(N / RATE / 3)  # a third of the way through the sending
        active = wait_for_scheduler(hub, exclude=None)
        hub.kill_node(active)
        lost.append(active)
        killed_at = time.monotonic()
        wait_for_scheduler(hub, exclude=active)
        took.append(time.monotonic() - killed_at)
        return time.monotonic()

    result, _ = run_scenario(
        "node-lost",
        tmp_path / "hub",
        lose_the_scheduler_node,
        options=two_nodes(postgres, latency_ms=150),  # a slow tracker: the lost workers hold deliveries
        messages=mixed_messages(N, "node-lost"),
        rate=RATE,
    )
    result.notes.append(
        f"2 nodes (web + 2 workers + scheduler each) on one PostgreSQL and one Redis; node {lost[0]}, the "
        f"active scheduler's, SIGKILLed whole; the other node's scheduler took over in {took[0]:.1f} s"
    )
    result.save()
    assert_exactly_once(result)


def wait_for_scheduler(hub: HubUnderTest, exclude: int | None) -> int:
    """The node whose scheduler holds the lock, once one other than ``exclude`` does."""
    deadline = time.monotonic() + FAILOVER_TIMEOUT
    while time.monotonic() < deadline:
        node = hub.scheduler_node()
        if node is not None and node != exclude:
            return node
        time.sleep(0.1)
    raise AssertionError(f"no scheduler took the lock within {FAILOVER_TIMEOUT:.0f} s (lost: {exclude})")


def test_one_conversation_split_over_two_nodes_gives_one_issue_in_order(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    messages = telegram_chats(N, 1, "split")
    result, hub = run_scenario(
        "split-conversation", tmp_path / "hub", options=two_nodes(postgres), messages=messages
    )
    issues, comments = conversation_in_tracker(hub)
    accepted_order = journal_order(hub)
    result.notes.append(
        f"one Telegram chat's {N} messages sent alternately to 2 nodes: {issues} issue(s), "
        f"{len(comments)} comments"
    )
    check_order(result, accepted_order, comments)
    result.save()
    assert_exactly_once(result)
    assert issues == 1
    assert comments == accepted_order[1:]  # the first message opened the issue


def conversation_in_tracker(hub: HubUnderTest) -> tuple[int, list[str]]:
    """How many issues the Jira look-alike holds, and the hub message ids of its comments, in the order
    they were added."""
    with sqlite3.connect(hub.jira_db) as conn:
        issues = conn.execute("SELECT COUNT(*) FROM issue").fetchone()[0]
        bodies = [row[0] for row in conn.execute("SELECT body FROM comment ORDER BY id")]
    return int(issues), [found.group(1) for body in bodies if (found := MARKER.search(body))]


def journal_order(hub: HubUnderTest) -> list[str]:
    """The hub's message ids in the order the conversation's messages were accepted (the journal's)."""
    engine = sa.create_engine(hub.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id FROM messages ORDER BY created_at, id"))
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def check_order(result: Tally, accepted: list[str], comments: list[str]) -> None:
    if comments != accepted[1:]:
        result.problems.append("the comments are not in the order the messages were accepted")
