"""CSAT: the surveys sent to customers of resolved issues, the ratings they gave, and who opted out.

One row per survey, written when the issue is resolved (``note_resolved``, status ``pending`` until
``due_at``: the resolution plus a quiet period) and claimed by the periodic job that sends it
(``sending``, a lease: a crashed sender's row is due again when it runs out; then ``asked``). A reopened
issue's pending survey is ``cancelled`` by the sender (the issue is read first) and pending again when
it is resolved again. An issue is asked once per round; once asked, a new round opens only when the
issue is resolved again after ``again_after``. A survey's id is derived from (tracker, issue, round), so
a retried job finds the row it wrote. ``rate`` sets the score only
where there is none: of two presses (or a press and a click) one rating is recorded and the first
stands; ``comment`` likewise keeps the first comment.

``summary`` is the stable reader for reports (the weekly report reads CSAT average and count here).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from store.db import aware, csat_optouts, ratings

CONTACT_MAX = 255  # characters of ``ratings.contact`` (an e-mail address may have up to 320)


@dataclass(frozen=True)
class Survey:
    """A survey sent (or about to be sent) to the customer of an issue, with what they answered."""

    id: str
    tracker: str
    issue_key: str
    round: int
    channel: str  # "telegram" or "email"
    contact: str  # the Telegram chat id, or the e-mail address
    customer_user_id: int | None  # Telegram: the only user whose presses count
    assignee: str | None
    message_id: str | None  # the journal message of the customer's conversation
    status: str  # pending / sending / asked / cancelled
    due_at: dt.datetime
    asked_at: dt.datetime | None = None
    telegram_message_id: int | None = None
    score: int | None = None
    rated_at: dt.datetime | None = None
    comment: str | None = None
    commented_at: dt.datetime | None = None
    prompt_message_id: int | None = None
    noted_at: dt.datetime | None = None
    comment_noted_at: dt.datetime | None = None


@dataclass(frozen=True)
class AssigneeCsat:
    assignee: str | None  # None: the issue had no assignee
    count: int
    average: float | None


@dataclass(frozen=True)
class Summary:
    """The ratings given in a period: all of them, and per assignee (by assignee, unassigned last)."""

    count: int
    average: float | None
    by_assignee: tuple[AssigneeCsat, ...]


def survey_id(tracker: str, issue_key: str, round_: int) -> str:
    """20 hex characters: short enough for a button's 64-byte ``callback_data`` with a score."""
    return hashlib.sha256(f"{tracker}\0{issue_key}\0{round_}".encode()).hexdigest()[:20]


def last(engine: Engine, tracker: str, issue_key: str) -> Survey | None:
    """The issue's latest survey, or None when it was never asked."""
    query = (
        sa.select(ratings)
        .where(ratings.c.tracker == tracker, ratings.c.issue_key == issue_key)
        .order_by(ratings.c.round.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _survey(row) if row is not None else None


PENDING, SENDING, ASKED, CANCELLED = "pending", "sending", "asked", "cancelled"


def note_resolved(
    engine: Engine, survey: Survey, now: dt.datetime, again_after: dt.timedelta
) -> Survey | None:
    """The issue of ``survey`` (round ignored) was resolved: its survey pending until ``survey.due_at``,
    or None when it was asked less than ``again_after`` ago (one survey per issue)."""
    latest = last(engine, survey.tracker, survey.issue_key)
    if latest is not None and latest.status in (PENDING, CANCELLED):  # not asked yet: wait afresh
        values = {"status": PENDING, "due_at": survey.due_at, "assignee": survey.assignee}
        with engine.begin() as conn:
            conn.execute(ratings.update().where(ratings.c.id == latest.id).values(**values))
        return get(engine, latest.id)
    if latest is not None and (latest.asked_at or latest.due_at) + again_after > now:
        return None
    round_ = latest.round + 1 if latest is not None else 1
    sid = survey_id(survey.tracker, survey.issue_key, round_)
    new = replace(survey, id=sid, round=round_, status=PENDING, asked_at=None, telegram_message_id=None)
    return add(engine, new)[0]


def add(engine: Engine, survey: Survey) -> tuple[Survey, bool]:
    """Record ``survey`` unless its round is recorded already: the recorded one, and whether it is new."""
    try:
        with engine.begin() as conn:
            conn.execute(ratings.insert().values(**survey.__dict__))
    except IntegrityError:  # this round exists (a retried job, or two at once): that one stands
        found = get(engine, survey.id)
        if found is None:
            raise
        return found, False
    return survey, True


def due(engine: Engine, now: dt.datetime, limit: int = 100) -> list[Survey]:
    """Surveys to send now: pending ones past their quiet period, and sends whose lease ran out."""
    query = (
        sa.select(ratings)
        .where(ratings.c.status.in_((PENDING, SENDING)), ratings.c.due_at <= now)
        .order_by(ratings.c.due_at)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_survey(row) for row in conn.execute(query)]


def claim(engine: Engine, survey: Survey, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Take a due survey to send it (one sender wins); it is due again when ``lease`` runs out."""
    with engine.begin() as conn:
        done = conn.execute(
            ratings.update()
            .where(
                ratings.c.id == survey.id,
                ratings.c.status == survey.status,
                ratings.c.due_at == survey.due_at,
            )
            .values(status=SENDING, due_at=now + lease)
        ).rowcount
    return done == 1


def finish(engine: Engine, sid: str, status: str, now: dt.datetime) -> None:
    """The survey was sent (``asked``) or will not be (``cancelled``)."""
    values: dict[str, object] = {"status": status}
    if status == ASKED:
        values["asked_at"] = now
    with engine.begin() as conn:
        conn.execute(ratings.update().where(ratings.c.id == sid).values(**values))


def get(engine: Engine, sid: str) -> Survey | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(ratings).where(ratings.c.id == sid)).first()
    return _survey(row) if row is not None else None


def sent(engine: Engine, sid: str, telegram_message_id: int) -> None:
    """The survey's Telegram message, so a press is checked against the message it came from."""
    with engine.begin() as conn:
        conn.execute(
            ratings.update().where(ratings.c.id == sid).values(telegram_message_id=telegram_message_id)
        )


def rate(engine: Engine, sid: str, score: int, now: dt.datetime) -> tuple[Survey | None, bool]:
    """Record ``score`` unless the survey has one: the survey after, and whether this call rated it."""
    with engine.begin() as conn:
        done = conn.execute(
            ratings.update()
            .where(ratings.c.id == sid, ratings.c.score.is_(None))
            .values(score=score, rated_at=now)
        ).rowcount
        row = conn.execute(sa.select(ratings).where(ratings.c.id == sid)).first()
    return (_survey(row) if row is not None else None), done == 1


def comment(engine: Engine, sid: str, text: str, now: dt.datetime) -> tuple[Survey | None, bool]:
    """Record the comment of a rated survey unless it has one: the survey after, and whether this call
    recorded it."""
    with engine.begin() as conn:
        done = conn.execute(
            ratings.update()
            .where(ratings.c.id == sid, ratings.c.score.is_not(None), ratings.c.comment.is_(None))
            .values(comment=text, commented_at=now)
        ).rowcount
        row = conn.execute(sa.select(ratings).where(ratings.c.id == sid)).first()
    return (_survey(row) if row is not None else None), done == 1


def prompted(engine: Engine, sid: str, prompt_message_id: int) -> None:
    """The Telegram message asking for a comment: a reply to it is the comment."""
    with engine.begin() as conn:
        conn.execute(ratings.update().where(ratings.c.id == sid).values(prompt_message_id=prompt_message_id))


def on_telegram_message(engine: Engine, chat_id: int, message_id: int) -> Survey | None:
    """The survey whose question or comment prompt is ``message_id`` in the chat ``chat_id``."""
    query = sa.select(ratings).where(
        ratings.c.channel == "telegram",
        ratings.c.contact == str(chat_id),
        sa.or_(ratings.c.telegram_message_id == message_id, ratings.c.prompt_message_id == message_id),
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _survey(row) if row is not None else None


def noted(engine: Engine, sid: str, what: str, now: dt.datetime) -> None:
    """The rating's (``what="rating"``) or the comment's (``"comment"``) effects are all done."""
    column = "noted_at" if what == "rating" else "comment_noted_at"
    with engine.begin() as conn:
        conn.execute(ratings.update().where(ratings.c.id == sid).values({column: now}))


def unnoted(engine: Engine, before: dt.datetime, limit: int = 100) -> list[Survey]:
    """Ratings and comments given before ``before`` whose effects are not done (their job was lost)."""
    query = (
        sa.select(ratings)
        .where(
            sa.or_(
                sa.and_(ratings.c.rated_at < before, ratings.c.noted_at.is_(None)),
                sa.and_(ratings.c.commented_at < before, ratings.c.comment_noted_at.is_(None)),
            )
        )
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_survey(row) for row in conn.execute(query)]


def awaiting_comment(engine: Engine, channel: str, contact: str, since: dt.datetime) -> Survey | None:
    """The survey this contact rated at or after ``since`` and has not commented on yet, the latest."""
    query = (
        sa.select(ratings)
        .where(
            ratings.c.channel == channel,
            ratings.c.contact == contact,
            ratings.c.rated_at >= since,
            ratings.c.comment.is_(None),
        )
        .order_by(ratings.c.rated_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _survey(row) if row is not None else None


def opt_out(engine: Engine, channel: str, contact: str, now: dt.datetime) -> bool:
    """Never survey this contact again; whether they had not opted out before."""
    try:
        with engine.begin() as conn:
            conn.execute(csat_optouts.insert().values(channel=channel, contact=contact, created_at=now))
    except IntegrityError:
        return False
    return True


def opted_out(engine: Engine, channel: str, contact: str) -> bool:
    query = sa.select(csat_optouts.c.contact).where(
        csat_optouts.c.channel == channel, csat_optouts.c.contact == contact
    )
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def summary(engine: Engine, since: dt.datetime, until: dt.datetime) -> Summary:
    """The ratings given in ``[since, until)``: count, average score (1–5), and the same per assignee."""
    rated = sa.and_(ratings.c.score.is_not(None), ratings.c.rated_at >= since, ratings.c.rated_at < until)
    per = (
        sa.select(ratings.c.assignee, sa.func.count(), sa.func.sum(ratings.c.score))
        .where(rated)
        .group_by(ratings.c.assignee)
    )
    with engine.connect() as conn:
        rows = [(r[0], int(r[1]), int(r[2] or 0)) for r in conn.execute(per)]
    rows.sort(key=lambda r: (r[0] is None, r[0] or ""))
    count = sum(r[1] for r in rows)
    total = sum(r[2] for r in rows)
    return Summary(
        count=count,
        average=total / count if count else None,
        by_assignee=tuple(AssigneeCsat(a, n, s / n) for a, n, s in rows),
    )


def _survey(row: sa.Row[tuple[object, ...]]) -> Survey:
    return Survey(
        id=str(row.id),
        tracker=str(row.tracker),
        issue_key=str(row.issue_key),
        round=int(row.round),
        channel=str(row.channel),
        contact=str(row.contact),
        customer_user_id=row.customer_user_id,
        assignee=row.assignee,
        message_id=row.message_id,
        status=str(row.status),
        due_at=aware(row.due_at),
        asked_at=aware(row.asked_at),
        telegram_message_id=row.telegram_message_id,
        score=row.score,
        rated_at=aware(row.rated_at),
        comment=row.comment,
        commented_at=aware(row.commented_at),
        prompt_message_id=row.prompt_message_id,
        noted_at=aware(row.noted_at),
        comment_noted_at=aware(row.comment_noted_at),
    )
