"""CSAT surveys: one per issue and round, the first rating and comment stand, opt-outs, and the summary
the weekly report reads (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from store import ratings
from store.ratings import AssigneeCsat, Survey

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def survey(key: str, round_: int = 1, assignee: str | None = "ann", contact: str = "501") -> Survey:
    return Survey(
        id=ratings.survey_id("default", key, round_),
        tracker="default",
        issue_key=key,
        round=round_,
        channel="telegram",
        contact=contact,
        customer_user_id=int(contact),
        assignee=assignee,
        message_id=None,
        status="asked",
        due_at=NOW,
        asked_at=NOW,
    )


def test_a_round_is_recorded_once_and_its_first_rating_and_comment_stand(engine: Engine) -> None:
    first, new = ratings.add(engine, survey("DEV-1"))
    again, new_again = ratings.add(engine, survey("DEV-1", assignee="bob"))
    assert (new, new_again) == (True, False)
    assert again == first and again.assignee == "ann"
    rated, did = ratings.rate(engine, first.id, 2, NOW + HOUR)
    twice, did_twice = ratings.rate(engine, first.id, 5, NOW + 2 * HOUR)
    assert (did, did_twice) == (True, False)
    assert rated is not None and twice is not None and twice.score == 2 and twice.rated_at == NOW + HOUR
    assert ratings.awaiting_comment(engine, "telegram", "501", NOW) == twice
    assert ratings.comment(engine, first.id, "slow", NOW + 2 * HOUR)[1] is True
    kept, did_comment = ratings.comment(engine, first.id, "second thoughts", NOW + 3 * HOUR)
    assert did_comment is False and kept is not None and kept.comment == "slow"
    assert ratings.awaiting_comment(engine, "telegram", "501", NOW) is None
    assert ratings.last(engine, "default", "DEV-1") == kept


def test_an_unrated_survey_takes_no_comment(engine: Engine) -> None:
    first, _ = ratings.add(engine, survey("DEV-2"))
    assert ratings.comment(engine, first.id, "hello", NOW)[1] is False


def test_opting_out_is_remembered_per_channel_and_contact(engine: Engine) -> None:
    assert ratings.opted_out(engine, "email", "a@example.com") is False
    assert ratings.opt_out(engine, "email", "a@example.com", NOW) is True
    assert ratings.opt_out(engine, "email", "a@example.com", NOW) is False
    assert ratings.opted_out(engine, "email", "a@example.com") is True
    assert ratings.opted_out(engine, "telegram", "a@example.com") is False


def test_summary_counts_the_ratings_given_in_the_period_per_assignee(engine: Engine) -> None:
    scores = [("DEV-1", "ann", 5), ("DEV-2", "ann", 2), ("DEV-3", "bob", 4), ("DEV-4", None, 1)]
    for key, assignee, score in scores:
        added, _ = ratings.add(engine, survey(key, assignee=assignee))
        ratings.rate(engine, added.id, score, NOW + HOUR)
    late, _ = ratings.add(engine, survey("DEV-5", assignee="bob"))
    ratings.rate(engine, late.id, 1, NOW + 8 * 24 * HOUR)  # after the period
    ratings.add(engine, survey("DEV-6"))  # asked, never rated
    week = ratings.summary(engine, NOW, NOW + 7 * 24 * HOUR)
    assert (week.count, week.average) == (4, 3.0)
    assert week.by_assignee == (
        AssigneeCsat("ann", 2, 3.5),
        AssigneeCsat("bob", 1, 4.0),
        AssigneeCsat(None, 1, 1.0),
    )
    empty = ratings.summary(engine, NOW - 7 * 24 * HOUR, NOW)
    assert (empty.count, empty.average, empty.by_assignee) == (0, None, ())


def test_a_resolved_issue_is_asked_once_and_again_only_after_the_pause(engine: Engine) -> None:
    day = 24 * HOUR
    pending = ratings.note_resolved(engine, survey("DEV-9", round_=0), NOW, 30 * day)
    assert pending is not None and (pending.round, pending.status) == (1, "pending")
    assert ratings.due(engine, NOW - HOUR) == []
    assert ratings.due(engine, NOW) == [pending]
    assert ratings.claim(engine, pending, NOW, HOUR) is True
    assert ratings.claim(engine, pending, NOW, HOUR) is False  # a second sender loses
    assert ratings.due(engine, NOW) == []
    assert [s.id for s in ratings.due(engine, NOW + HOUR)] == [pending.id]  # the lease ran out
    ratings.finish(engine, pending.id, "asked", NOW)
    assert ratings.due(engine, NOW + day) == []
    assert ratings.note_resolved(engine, survey("DEV-9"), NOW + day, 30 * day) is None
    again = ratings.note_resolved(engine, survey("DEV-9"), NOW + 31 * day, 30 * day)
    assert again is not None and (again.round, again.status) == (2, "pending")
    ratings.finish(engine, again.id, "cancelled", NOW + 31 * day)  # reopened before it was sent
    resumed = ratings.note_resolved(engine, survey("DEV-9"), NOW + 32 * day, 30 * day)
    assert resumed is not None and (resumed.id, resumed.status) == (again.id, "pending")
