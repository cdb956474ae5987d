"""The fault suite: N mixed messages through a real node while the tracker, the workers or Redis fail.

Every scenario sends a known set of messages (``RELIABILITY_N``, default 200: Telegram, e-mail and
form), injects its fault in the middle of the run, waits for the journal to settle and then asserts the
two things a support team depends on: every accepted message became exactly one issue or comment, and the
tracker holds nothing the hub cannot account for. Each scenario's numbers go to ``var/reliability/`` and
``make reliability`` turns them into RELIABILITY.md.
"""

from __future__ import annotations

import contextlib
import email as email_lib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.exceptions import RedisError

from jobs.periodic import SWEEP_EVERY
from tests.postgres import start_postgres
from tests.reliability.harness import HubOptions, HubUnderTest, Trapped
from tests.reliability.ledger import RESULTS, Tally, delivered_at, journal_outcomes, tally, wait_until_settled
from tests.reliability.traffic import Outgoing, Sender, email, mixed_messages, telegram_chats

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1200)]

N = int(os.environ.get("RELIABILITY_N", "200"))
SETTLE_TIMEOUT = 600.0

Fault = Callable[[HubUnderTest], float | None]
"""Runs while the messages are being sent; returns the monotonic time the fault ended (None: no fault)."""


def run_scenario(
    name: str,
    folder: Path,
    fault: Fault | None = None,
    *,
    options: HubOptions | None = None,
    messages: list[Outgoing] | None = None,
    copies: int = 1,
    rate: float = 20.0,
    prelude: Callable[[HubUnderTest], None] | None = None,
) -> tuple[Tally, HubUnderTest]:
    """Send the messages with ``fault`` running alongside, wait for the journal to settle, count."""
    outgoing = messages if messages is not None else mixed_messages(N, name)
    with HubUnderTest(folder, options) as hub:
        if prelude is not None:
            prelude(hub)
        ended: list[float | None] = []
        injector = threading.Thread(target=lambda: ended.append(fault(hub) if fault else None))
        sender = Sender(hub.hub_urls, rate=rate)
        injector.start()
        log = sender.send_all(outgoing, copies=copies)
        injector.join()
        ids = sorted(set(log.accepted.values()))
        settled_at = wait_until_settled(hub, ids, SETTLE_TIMEOUT)
        result = tally(name, hub, log, sent=len(outgoing))
        recovered_from = ended[0] if ended and ended[0] is not None else log.last_sent_at
        if settled_at is not None:
            result.drain_s = round(settled_at - log.last_sent_at, 1)
            result.time_to_recover_s = round(max(settled_at - recovered_from, 0.0), 1)
        else:
            result.problems.append(f"journal not settled within {SETTLE_TIMEOUT:.0f} s")
        result.notes.append(f"{len(hub.workers)} workers, {hub.worker_starts} worker starts")
        hub.last_stats = hub.tracker_stats()
        result.notes.append(creates_note(hub.last_stats))
        result.save()
        if result.problems:
            keep_logs(hub, name)
        return result, hub


def creates_note(stats: dict[str, object]) -> str:
    """How the tracker was asked to create: single creates and bulk creates (one call, many issues)."""
    calls = stats.get("requests")
    counts = calls if isinstance(calls, dict) else {}
    single, bulk = counts.get("POST /rest/api/2/issue", 0), counts.get("POST /rest/api/2/issue/bulk", 0)
    return f"creates sent: {single} single, {bulk} bulk"


def keep_logs(hub: HubUnderTest, name: str) -> None:
    """Copy a failed scenario's process logs and databases next to its result, for the post-mortem."""
    target = RESULTS / f"{name}-logs"
    target.mkdir(parents=True, exist_ok=True)
    for path in [*hub.folder.glob("*.log"), *hub.folder.glob("*.sqlite3")]:
        shutil.copy2(path, target / path.name)


def assert_exactly_once(result: Tally) -> None:
    """Every accepted message delivered once, nothing lost, nothing unaccounted for."""
    assert result.problems == []
    assert result.accepted == result.sent
    assert result.delivered + result.ignored == result.accepted
    assert (result.duplicates, result.lost, result.unaccounted) == (0, 0, 0)


def test_baseline_no_faults(tmp_path: Path) -> None:
    result, _ = run_scenario("baseline", tmp_path)
    assert_exactly_once(result)


def test_tracker_outage_of_30_seconds(tmp_path: Path) -> None:
    def outage(hub: HubUnderTest) -> float:
        time.sleep(3)
        hub.add_fault(status=503, duration_s=30, paths=["/rest/api/"])
        time.sleep(30)
        return time.monotonic()

    result, _ = run_scenario("tracker-outage", tmp_path, outage)
    assert_exactly_once(result)


def test_throttling_slows_the_hub_down_instead_of_hammering(tmp_path: Path) -> None:
    stretch, retry_after = 20, 5

    def throttle(hub: HubUnderTest) -> float:
        time.sleep(3)
        hub.add_fault(status=429, retry_after=retry_after, duration_s=stretch, paths=["/rest/api/"])
        time.sleep(stretch)
        return time.monotonic()

    result, hub_ = run_scenario("throttling", tmp_path, throttle)
    refused = int(hub_.last_stats.get("faults_injected", 0))
    result.notes.append(
        f"429 with Retry-After {retry_after} s for {stretch} s: {refused} calls reached the tracker and were "
        "refused"
    )
    result.save()
    assert_exactly_once(result)
    # one probe per pause, plus what the workers already had in flight when the first 429 came
    assert refused <= 2 * stretch // retry_after + 2 * 3


def test_slow_tracker_past_the_client_timeout_makes_no_duplicates(tmp_path: Path) -> None:
    def slow(hub: HubUnderTest) -> float:
        time.sleep(2)
        for _ in range(15):  # now and then, Jira writes the issue or comment and answers after 4 s
            hub.add_fault(
                latency_ms=4_000, count=1, methods=["POST"], paths=["/rest/api/2/issue"], after_commit=True
            )
            time.sleep(0.7)
        return time.monotonic()

    options = HubOptions(env={"JIRA_TIMEOUT": "3"})  # the hub stops waiting after 3 s: done, answer lost
    result, _ = run_scenario("slow-tracker", tmp_path, slow, options=options)
    assert_exactly_once(result)


def test_workers_killed_mid_job_twenty_times(tmp_path: Path) -> None:
    kills: list[str] = []

    def killer(hub: HubUnderTest) -> float:
        while len(kills) < 20:
            job = hub.kill_busy_worker(timeout=60)
            assert job is not None, "no worker was busy to kill"
            kills.append(job)
            time.sleep(0.5)
        return time.monotonic()

    options = HubOptions(sandbox_latency_ms=100)  # each delivery spends some time in the tracker
    result, hub_ = run_scenario("worker-killed", tmp_path, killer, options=options, rate=10)
    result.notes.append(f"{len(kills)} workers SIGKILLed mid-delivery, {hub_.worker_starts} worker starts")
    result.save()
    assert len(kills) == 20
    assert_exactly_once(result)


@pytest.mark.parametrize(
    ("scenario", "node_command"), [("slot-killed", False), ("node-killed", True)], ids=["worker", "node"]
)
def test_slots_and_whole_slotted_workers_killed_mid_job_twenty_times(
    tmp_path: Path, scenario: str, node_command: bool
) -> None:
    """Issue 18's layouts: `trackerhub worker --slots 4`, and `trackerhub node --slots 4` (its web server
    and the scheduler in the same process tree). Every other kill is one slot mid-delivery (its parent
    forks a new one), the others the whole process group with all four slots."""
    kills: list[str] = []

    def killer(hub: HubUnderTest) -> float:
        while len(kills) < 20:
            job = hub.kill_busy_worker(timeout=60, slot_only=len(kills) % 2 == 0)
            assert job is not None, "no slot was busy to kill"
            kills.append(job)
            time.sleep(0.5)
        return time.monotonic()

    options = HubOptions(workers=1, slots=4, sandbox_latency_ms=100, node_command=node_command)
    result, hub_ = run_scenario(scenario, tmp_path, killer, options=options, rate=10)
    what = "node (`node --slots 4`)" if node_command else "worker (`--slots 4`)"
    result.notes.append(
        f"{len(kills)} kills mid-delivery: 10 of one slot, 10 of the whole {what}, "
        f"{hub_.worker_starts} starts"
    )
    result.save()
    assert len(kills) == 20
    assert_exactly_once(result)


GAPS = (
    "companions-locked",
    "taken",
    "dequeued",
    "registered",
    "claimed",
)  # bulk first, while a backlog waits
GAP_MEANING = {
    "dequeued": "popped by BLPOP, not yet registered",
    "registered": "in RQ's started registry, its hash still queued",
    "claimed": "journal claimed, its attempt counted, and conversation locked; nothing read yet",
    "companions-locked": "inside a bulk take: companions locked, their jobs not yet taken",
    "taken": "inside a bulk take: companions' jobs taken, their attempts not begun",
}


def test_a_worker_killed_in_each_gap_between_two_writes(tmp_path: Path) -> None:
    """A worker stopped at a trap between two of its writes (jobs/recovery.py's gaps A–E) and SIGKILLed
    there: every message it held is delivered within two sweep periods of the kill."""
    kills: list[Trapped] = []

    def trap_and_kill(hub: HubUnderTest) -> float:
        time.sleep(1)
        for point in GAPS:
            trapped = hub.kill_at_trap(point, timeout=30)
            assert trapped is not None, f"no worker reached {point}"
            kills.append(trapped)
            time.sleep(1)
        return time.monotonic()

    # a tracker at 100 ms keeps a backlog of new conversations queued, so workers open them in bulk
    options = HubOptions(sandbox_latency_ms=100, env={"HUB_TEST_TRAPS": "1"})
    result, hub_ = run_scenario("worker-gaps", tmp_path, trap_and_kill, options=options, rate=15)
    delays = kill_delays(hub_, kills)
    longest = max(delays.values(), default=0.0)
    result.notes.append(
        f"longest kill-to-delivery delay {longest:.1f} s (bound: two sweep periods, {2 * SWEEP_EVERY:.0f} s); "
        + ", ".join(f"{point} ({GAP_MEANING[point]}): {delay:.1f} s" for point, delay in delays.items())
    )
    if longest > 2 * SWEEP_EVERY:  # measured and reported, not asserted: the machine is noisy
        result.notes.append(f"BOUND MISSED: a killed worker's message took {longest:.1f} s to deliver")
        keep_logs(hub_, "worker-gaps")
    result.save()
    assert [k.point for k in kills] == list(GAPS)
    assert_exactly_once(result)


def kill_delays(hub: HubUnderTest, kills: list[Trapped]) -> dict[str, float]:
    """Per kill, the longest time from it until a message it held was delivered. A message a later trap
    caught again (handed back, taken by the next worker, killed again) counts from its last kill."""
    delivered = delivered_at(hub, [m for kill in kills for m in kill.messages])
    last_kill = {m: kill.killed_at for kill in kills for m in kill.messages}
    return {
        kill.point: max(delivered.get(m, float("inf")) - last_kill[m] for m in kill.messages)
        for kill in kills
        if any(last_kill[m] == kill.killed_at for m in kill.messages)
    }


OUTSIDE_CHATS = 40
KILL_EVERY = 25
BURST_S = 5  # a burst: the tracker answers 503 (or 429) to up to 30 (20) calls within 5 s


def test_the_outside_fault_run(tmp_path: Path) -> None:
    """Issue 22's run: 40 Telegram chats, workers killed every 25 messages, bursts of 503 and 429 from the
    tracker, Redis killed without persistence and restarted. Nothing lost or doubled, and everything
    delivered within 60 s of the last fault."""
    rate = 10.0
    messages = telegram_chats(N, OUTSIDE_CHATS, "outside")
    kills: list[str] = []

    def faults(hub: HubUnderTest) -> float:
        started = time.monotonic()
        plan: list[tuple[float, Callable[[], object]]] = [
            (4.0, lambda: hub.add_fault(status=503, count=30, duration_s=BURST_S, paths=["/rest/api/"])),
            (
                9.0,
                lambda: hub.add_fault(
                    status=429, retry_after=2, count=20, duration_s=BURST_S, paths=["/rest/api/"]
                ),
            ),
            (13.0, hub.crash_redis),
            (16.0, hub.start_redis),
        ]
        plan += [
            (k * KILL_EVERY / rate, lambda: kills.append(kill_a_worker(hub)))
            for k in range(1, N // KILL_EVERY + 1)
        ]
        for at, act in sorted(plan, key=lambda step: step[0]):
            time.sleep(max(0.0, started + at - time.monotonic()))
            act()
        return time.monotonic()

    options = HubOptions(workers=4, sandbox_latency_ms=100, redis_appendonly=False)
    result, hub_ = run_scenario(
        "outside-run", tmp_path, faults, options=options, messages=messages, rate=rate
    )
    result.notes.append(
        f"{N} Telegram messages over {OUTSIDE_CHATS} chats at {rate:.0f}/s; a worker SIGKILLed every "
        f"{KILL_EVERY} messages ({kills.count('busy')} mid-delivery, {kills.count('idle')} idle); "
        f"bursts of up to 30 × 503 and 20 × 429 (Retry-After 2 s) within {BURST_S} s from the tracker "
        f"({int(hub_.last_stats.get('faults_injected', 0))} answered); "
        "redis-server SIGKILLed without persistence and restarted 3 s later"
    )
    if result.time_to_recover_s is not None and result.time_to_recover_s > 60:  # reported, not asserted
        result.notes.append(f"BOUND MISSED: settled {result.time_to_recover_s} s after the last fault (60 s)")
        keep_logs(hub_, "outside-run")
    result.save()
    assert len(kills) == N // KILL_EVERY and "none" not in kills
    assert_exactly_once(result)


def journaled_updates(hub: HubUnderTest, messages: list[Outgoing]) -> set[str]:
    """The keys of these Telegram messages whose update the hub's journal holds."""
    by_external = {f"tg:{json.loads(m.body)['update_id']}": m.key for m in messages}
    engine = sa.create_engine(hub.database_url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT external_id FROM messages WHERE external_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            )
            found = {row[0] for row in conn.execute(query, {"ids": list(by_external)})}
    finally:
        engine.dispose()
    return {by_external[external] for external in found}


def kill_a_worker(hub: HubUnderTest) -> str:
    """SIGKILL a worker mid-delivery if one is busy within a second, else any worker: which it was."""
    with contextlib.suppress(RedisError):  # Redis may be the fault of the moment
        if hub.kill_busy_worker(timeout=1.0) is not None:
            return "busy"
    return "idle" if hub.kill_worker() is not None else "none"


def test_redis_crash_and_restart_on_postgresql(tmp_path: Path) -> None:
    server = start_postgres(tmp_path / "postgres")
    try:
        options = HubOptions(database_url=server.url, redis_appendonly=False)

        def crash(hub: HubUnderTest) -> float:
            time.sleep(4)
            hub.crash_redis()  # no persistence: every queued job, lock and counter is gone
            time.sleep(3)
            hub.start_redis()
            return time.monotonic()

        result, _ = run_scenario("redis-restart", tmp_path / "hub", crash, options=options)
    finally:
        server.stop()
    assert_exactly_once(result)


def test_duplicate_storm_and_telegram_retry_after_a_slow_answer(tmp_path: Path) -> None:
    messages = mixed_messages(N, "storm")
    impatient = [m for m in messages if m.channel == "telegram"][::5]

    def telegram_gives_up_waiting(hub: HubUnderTest) -> None:
        # Telegram stops waiting for a slow answer and sends the same update again later: by then the hub
        # has taken it (an update whose post never left, a connect timeout, is simply sent again), so
        # every copy of the storm is a duplicate of it, whatever the load makes of the timing
        sender = Sender(hub.hub_url)
        waiting = list(impatient)
        deadline = time.monotonic() + 120
        while waiting and time.monotonic() < deadline:
            for message in waiting:
                sender.post_once(message, timeout=0.001)
            settle_by = time.monotonic() + 10
            while waiting and time.monotonic() < settle_by:
                time.sleep(0.2)
                waiting = [m for m in waiting if m.key not in journaled_updates(hub, waiting)]
        assert not waiting, f"{len(waiting)} impatient updates never reached the hub"

    result, _ = run_scenario(
        "duplicate-storm", tmp_path, messages=messages, copies=3, prelude=telegram_gives_up_waiting
    )
    result.notes.append(
        f"each message sent 3 times at once; {len(impatient)} Telegram updates were sent once before, "
        "with a 1 ms client timeout"
    )
    result.save()
    assert_exactly_once(result)
    fresh = N - len(impatient)
    assert result.answers.get("202", 0) == fresh  # one copy of each new message was accepted as new
    assert result.answers.get("200", 0) == 3 * N - fresh  # every other copy: "duplicate", same id


RESPONDERS = 12
MAILS_PER_RESPONDER = 8
AUTOREPLY_PER_HOUR = 5
STYLE_NAMES = ("Auto-Submitted", "Outlook OOF", "Precedence", "X-Autoreply", "no headers, threaded")


def auto_response(autoreply: email_lib.message.Message, style: int) -> Outgoing:
    """What an auto-responder mailbox sends back to a mail it got, in one of five real-world styles."""
    subject = str(autoreply["Subject"])
    sender = str(autoreply["To"])
    thread = str(autoreply["Message-ID"])
    text = "I am out of the office until Monday and will read your message when I return."
    if style == 0:  # RFC 3834, as Gmail's vacation responder and most ticket systems do
        return email(sender, f"Re: {subject}", text, in_reply_to=thread, Auto_Submitted="auto-replied")
    if style == 1:  # Exchange / Outlook out-of-office
        return email(sender, f"Automatic reply: {subject}", text, X_Auto_Response_Suppress="All")
    if style == 2:  # older Unix vacation(1)-style responders
        return email(sender, f"Out of Office: {subject}", text, in_reply_to=thread, Precedence="auto_reply")
    if style == 3:  # Yandex and other hosted responders
        return email(sender, f"Re: {subject}", text, in_reply_to=thread, X_Autoreply="yes")
    return email(sender, f"Re: {subject}", text, in_reply_to=thread)  # a robot that says nothing about it


class AutoResponder:
    """Mailboxes at ``responder.example`` that answer every mail the hub sends them, at once."""

    def __init__(self, hub: HubUnderTest) -> None:
        self.hub = hub
        self.sender = Sender(hub.hub_url)
        self.received: dict[str, int] = {}  # responder address → mails the hub sent it
        self.sent: list[tuple[str, int]] = []  # (Outgoing.key, style)
        self._seen: set[Path] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def quiet_for(self, seconds: float, timeout: float = 300) -> None:
        """Wait until the hub has sent no mail for ``seconds``."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(list(self.hub.outbox.glob("*.eml")))
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return
            time.sleep(0.5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for path in sorted(self.hub.outbox.glob("*.eml")):
                if path not in self._seen:
                    self._seen.add(path)
                    self._answer(email_lib.message_from_bytes(path.read_bytes()))
            time.sleep(0.2)

    def _answer(self, mail: email_lib.message.Message) -> None:
        address = str(mail["To"])
        if not address.endswith("@responder.example>") and not address.endswith("@responder.example"):
            return
        self.received[address] = self.received.get(address, 0) + 1
        style = int(address.split("box", 1)[1].split("@", 1)[0]) % len(STYLE_NAMES)
        response = auto_response(mail, style)
        self.sent.append((response.key, style))
        self.sender.send(response)


def responder_mail(box: int, number: int) -> Outgoing:
    return email(f"box{box}@responder.example", f"Order {box}-{number}", f"Customer question {number}")


def test_reply_loop_with_auto_responder_mailboxes(tmp_path: Path) -> None:
    genuine = [responder_mail(box, n) for n in range(MAILS_PER_RESPONDER) for box in range(RESPONDERS)]
    others = mixed_messages(N - len(genuine), "loop")
    messages = [m for pair in zip(genuine, others, strict=False) for m in pair]
    messages += genuine[len(others) :] + others[len(genuine) :]
    options = HubOptions(env={"HUB_AUTOREPLY_PER_HOUR": str(AUTOREPLY_PER_HOUR)})
    with HubUnderTest(tmp_path, options) as hub:
        responder = AutoResponder(hub)
        responder.start()
        log = Sender(hub.hub_url).send_all(messages)
        settled_at = wait_until_settled(hub, sorted(set(log.accepted.values())), SETTLE_TIMEOUT)
        assert settled_at is not None
        responder.quiet_for(10)
        responder.stop()
        responses = responder.sender.log
        assert wait_until_settled(hub, sorted(set(responses.accepted.values())), SETTLE_TIMEOUT) is not None
        log.accepted.update(responses.accepted)
        log.answers.update(responses.answers)
        log.rejected += responses.rejected
        ignored = frozenset(key for key, style in responder.sent if style != 4)
        result = tally(
            "reply-loop", hub, log, sent=len(messages) + len(responder.sent), expect_ignored=ignored
        )
        result.drain_s = result.time_to_recover_s = round(settled_at - log.last_sent_at, 1)
        threaded = [responses.accepted[key] for key, style in responder.sent if style == 4]
        outcomes = journal_outcomes(hub, threaded)
    result.notes.append(
        f"{RESPONDERS} auto-responder mailboxes ({', '.join(STYLE_NAMES)}), {MAILS_PER_RESPONDER} customer "
        f"mails each; they answered {len(responder.sent)} hub mails; HUB_AUTOREPLY_PER_HOUR={AUTOREPLY_PER_HOUR}"
    )
    result.save()
    assert_exactly_once(result)
    # the hub's autoreplies stopped at the per-recipient limit, so the robots had nothing more to answer
    assert responder.received == {f"box{b}@responder.example": AUTOREPLY_PER_HOUR for b in range(RESPONDERS)}
    assert result.ignored == len(ignored)  # recognised as auto-generated: no issue, no reply
    assert set(outcomes.values()) == {"comment"}  # the robot that hides it threads as a comment, no issue
