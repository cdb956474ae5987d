"""CSAT: ask the customer of a resolved issue how it went, record the answer, tell whom it concerns.

- **Resolved** (``note_resolved``, from the transition webhook's job): unless the rule file's ``csat:`` is
  off, the issue carries a skip label (spam), the hub itself resolved it (an automation's auto-close) or
  the customer opted out, a survey row is written, pending for the quiet period. One survey per issue; a
  reopened issue resolved again is asked again only ``ask_again_after_days`` after the last survey.
- **Asking** (``send_survey``, one job per due survey, enqueued by the scheduler's ``csat`` entry): the
  issue is read again (reopened meanwhile: not asked), then Telegram gets the question with 1–5 (or three
  faces) and "don't ask me again" buttons, e-mail a mail with one signed link per score
  (``mappers.csat``).
- **A press** (``handle_press_with``, from the team bot's press job): answered with answerCallbackQuery;
  checked against the survey's chat, message and customer; the first rating stands (a double press
  records one). Then a ForceReply asks for an optional comment: a reply to it, within the comment
  window, is the comment (``handle_comment``). An e-mail vote is the POST of the link's page
  (``routes.csat``).
- **Effects** (``note_with``): an internal comment on the issue and a ``csat-<score>`` label (or a
  mapped field), and at once a message to the supervisors' chat for a negative rating, or to the kudos
  chat for a positive one; the comment follows the same way. Each is done once: the comment's marker,
  the outbound ledger's key ``csat:<survey>:…``, the row's ``noted_at``. The scheduler's entry re-runs
  effects a lost job left undone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from config.csat import Csat
from connector.base import Tracker
from connector.errors import ChannelRejected, ChannelUnavailable, DeliveryUncertain, TrackerRejected
from connector.types import IssueState
from jobs.clock import utcnow
from jobs.context import Context, get_context
from jobs.intake import accept, accept_unparsed, received_now
from jobs.presses import answer_press
from jobs.queues import enqueue_once
from jobs.replies import send_to_customer
from mappers import csat
from mappers.errors import UnsupportedEvent
from mappers.models import Channel
from mappers.route_links import NoSecretKey
from mappers.team_cards import Press, StaffReply, parse_reply
from mappers.telegram import parse_update
from mappers.tracker_events import TrackerEvent, is_own_event
from store import links, outbound, ratings
from store.links import Link
from store.outbound import Outbound
from store.ratings import Survey

log = logging.getLogger(__name__)

SEND_LEASE = dt.timedelta(minutes=10)  # a sender that died: its survey is due again after this
NOTE_GRACE = dt.timedelta(minutes=2)  # effects not done this long after a rating: their job was lost
STALE = "This survey is no longer open."
NOT_YOURS = "Only the customer who was asked can answer this survey."


# --- resolved ------------------------------------------------------------------------------------


def note_resolved(
    ctx: Context,
    tracker: Tracker,
    event: TrackerEvent,
    state: IssueState,
    link: Link | None,
    now: dt.datetime,
) -> Survey | None:
    """The issue was resolved: its survey, pending for the quiet period; None when it is not asked."""
    config = ctx.config.csat
    if not config.enabled or link is None:
        return None
    reason = _skipped(ctx, tracker, event, state, link)
    if reason is not None:
        log.info("csat.skipped key=%s reason=%s", link.issue_key, reason)
        return None
    channel, contact = contact_of(link)
    assert contact is not None  # _skipped checked
    survey = Survey(
        id="",
        tracker=link.tracker,
        issue_key=link.issue_key,
        round=0,
        channel=channel,
        contact=contact,
        customer_user_id=link.telegram_chat_id if channel == "telegram" else None,
        assignee=state.assignee,
        message_id=link.message_id,
        status=ratings.PENDING,
        due_at=now + config.quiet,
    )
    noted = ratings.note_resolved(ctx.engine, survey, now, config.again_after)
    log.info("csat.resolved key=%s survey=%s", link.issue_key, noted.id if noted else "-")
    return noted


def contact_of(link: Link) -> tuple[str, str | None]:
    """Where the customer is asked: their private Telegram chat (a group's customer cannot be told from
    its other members: not asked), else their e-mail address."""
    if link.channel == "telegram":
        chat = link.telegram_chat_id
        return "telegram", str(chat) if chat is not None and chat > 0 else None
    return "email", (link.requester_email or "").lower() or None


def _skipped(
    ctx: Context, tracker: Tracker, event: TrackerEvent, state: IssueState, link: Link
) -> str | None:
    config = ctx.config.csat
    channel, contact = contact_of(link)
    if contact is None:
        return "no customer to ask"
    if len(contact) > ratings.CONTACT_MAX:  # an address the mail standard allows (320) but ours does not keep
        return "address too long to keep"
    if ratings.opted_out(ctx.engine, channel, contact):
        return "opted out"
    if set(state.labels) & set(config.skip_labels):
        return "skip label"
    if config.skip_hub_resolved and is_own_event(event, [tracker.own_user()]):
        return "resolved by the hub"
    return None


# --- asking --------------------------------------------------------------------------------------


def enqueue_due(ctx: Context, now: dt.datetime) -> int:
    """The scheduler's entry: a job per survey due now, and per rating whose effects a lost job left
    undone; how many were enqueued."""
    count = 0
    for survey in ratings.due(ctx.engine, now):
        count += _enqueue_again(ctx, "jobs.csat.send_survey", survey.id, f"csat-ask-{survey.id}")
    for survey in ratings.unnoted(ctx.engine, now - NOTE_GRACE):
        count += _enqueue_again(ctx, "jobs.csat.note", survey.id, f"csat-note-{survey.id}")
    return count


def _enqueue_again(ctx: Context, func: str, survey_id: str, job_id: str) -> bool:
    """Enqueue the job unless it is queued or running; one that failed its retries (a tracker down for
    an hour) is kept by RQ for a week under the same id, so it is removed first, or nothing would run."""
    try:
        job = Job.fetch(job_id, connection=ctx.redis)
    except NoSuchJobError:
        pass
    else:
        if job.get_status() == JobStatus.FAILED:
            job.delete()
    return enqueue_once(ctx.redis, func, survey_id, job_id=job_id)


def send_survey(survey_id: str) -> str:
    """The RQ job: send one due survey; what came of it."""
    return send_survey_with(get_context(), survey_id, utcnow())


def send_survey_with(ctx: Context, survey_id: str, now: dt.datetime) -> str:
    survey = ratings.get(ctx.engine, survey_id)
    if survey is None or survey.status not in (ratings.PENDING, ratings.SENDING) or survey.due_at > now:
        return "not-due"
    if not ratings.claim(ctx.engine, survey, now, SEND_LEASE):
        return "taken"
    outcome = _ask(ctx, survey)
    log.info("csat.ask outcome=%s key=%s survey=%s", outcome, survey.issue_key, survey.id)
    if outcome in ("asked", "reopened", "opted-out", "unreachable"):
        ratings.finish(ctx.engine, survey.id, ratings.ASKED if outcome == "asked" else ratings.CANCELLED, now)
    return outcome  # "retry": left to the lease, due again when it runs out


def _ask(ctx: Context, survey: Survey) -> str:
    if not ctx.tracker(survey.tracker).get_state(survey.issue_key).done:
        return "reopened"  # a new resolution writes the survey pending again
    if ratings.opted_out(ctx.engine, survey.channel, survey.contact):
        return "opted-out"
    link = links.link_for_issue(ctx.engine, survey.issue_key)
    if link is None:
        return "unreachable"
    scores = ctx.config.csat.scores()
    try:
        if survey.channel == "telegram":
            _ask_telegram(ctx, survey, link, scores)
        else:
            text = csat.mail_text(ctx.settings, survey.id, survey.issue_key, scores, link.language)
            subject = csat.texts(link.language)["mail_subject"]
            send_to_customer(
                ctx, link, text, key=f"csat:{survey.id}:ask", message_id=link.message_id, hub_subject=subject
            )
    except (ChannelRejected, NoSecretKey) as exc:
        log.warning("csat.unreachable survey=%s error=%s", survey.id, exc)
        return "unreachable"
    except DeliveryUncertain as exc:  # asking twice is worse than a survey that may not have arrived
        log.warning("csat.maybe-asked survey=%s error=%s", survey.id, exc)
        return "asked"
    except ChannelUnavailable:
        return "retry"
    return "asked"


def _ask_telegram(ctx: Context, survey: Survey, link: Link, scores: dict[int, str]) -> None:
    if survey.telegram_message_id is not None:
        return  # sent by an earlier try
    client = ctx.telegram
    if client is None:
        raise ChannelRejected("TELEGRAM_BOT_TOKEN is not set")
    sent = client.send_message(
        int(survey.contact),
        csat.question(survey.issue_key, scores, link.language),
        reply_markup=csat.keyboard(survey.id, scores, link.language),
    )
    ratings.sent(ctx.engine, survey.id, sent)


# --- answers -------------------------------------------------------------------------------------


def handle_press_with(ctx: Context, press: Press, now: dt.datetime) -> str:
    """A press on a survey's button (the team bot's press job hands it here): carried out, answered."""
    return answer_press(ctx, press, "csat", *_press(ctx, press, now))


def _press(ctx: Context, press: Press, now: dt.datetime) -> tuple[str, str]:
    choice = csat.parse_choice(press.data)
    survey = ratings.get(ctx.engine, choice.survey_id) if choice else None
    if (
        choice is None
        or survey is None
        or survey.channel != "telegram"
        or survey.contact != str(press.chat_id)
        or survey.telegram_message_id not in (press.message_id, None)  # None: its answer was lost
    ):
        return "stale", STALE
    if press.user_id != survey.customer_user_id:
        return "refused", NOT_YOURS
    link = links.link_for_issue(ctx.engine, survey.issue_key)
    language = link.language if link else None
    texts = csat.texts(language)
    client = ctx.telegram
    if choice.score is None:
        ratings.opt_out(ctx.engine, survey.channel, survey.contact, now)
        if client is not None:
            client.edit_message_text(press.chat_id, press.message_id, texts["stopped"])
        return "opted-out", texts["stopped"]
    after, rated = ratings.rate(ctx.engine, survey.id, choice.score, now)
    assert after is not None and after.score is not None
    shown = csat.shown_score(after.score, ctx.config.csat.scores())
    thanks = texts["thanks"].format(key=survey.issue_key, shown=shown)
    if not rated:
        return "again", thanks
    if client is not None:
        client.edit_message_text(press.chat_id, press.message_id, thanks)
        prompt = client.send_message(
            press.chat_id, texts["comment_prompt"], reply_markup=csat.comment_prompt_markup(language)
        )
        ratings.prompted(ctx.engine, survey.id, prompt)
    queue_note(ctx, survey.id)
    return "rated", thanks


NOT_A_COMMENT = ("not-a-survey", "out-of-window", "again")


def handle_comment(update: dict[str, Any]) -> str:
    """The RQ job: a customer's reply to a survey's message is its comment. A reply that turns out not
    to be one (a second comment, one past the window) is the customer's message like any other: it is
    journaled and delivered, never dropped."""
    return handle_comment_update(get_context(), update, utcnow())


def handle_comment_update(ctx: Context, update: dict[str, Any], now: dt.datetime) -> str:
    reply = parse_reply(update)
    outcome = "malformed" if reply is None else handle_comment_with(ctx, reply, now)
    if outcome == "malformed" or outcome in NOT_A_COMMENT:
        accept_update(ctx, update)
    return outcome


def accept_update(ctx: Context, update: dict[str, Any]) -> None:
    """Journal a Telegram update as the hook would have (a parser failure as a dead letter with its bytes)."""
    raw = json.dumps(update, ensure_ascii=False).encode("utf-8", "surrogatepass")
    update_id = update.get("update_id")
    try:
        message = parse_update(update, received_at=received_now(), bot_id=ctx.settings.telegram_bot_id)
    except UnsupportedEvent as exc:  # answered 200 and ignored at the hook too
        log.info("csat.not-a-comment unsupported=%s update_id=%s", exc, update_id)
        return
    except Exception as exc:  # bad input or a parser bug: kept for `trackerhub replay`, never lost
        accept_unparsed(ctx.engine, ctx.redis, Channel.TELEGRAM, raw, f"tg:{update_id}", type(exc).__name__)
        return
    accepted = accept(ctx.engine, ctx.redis, message, raw)
    log.info("csat.not-a-comment message_id=%s duplicate=%s", accepted.id, accepted.duplicate)


def handle_comment_with(ctx: Context, reply: StaffReply, now: dt.datetime) -> str:
    survey = ratings.on_telegram_message(ctx.engine, reply.chat_id, reply.reply_to)
    if survey is None or reply.user_id != survey.customer_user_id:
        return "not-a-survey"
    if survey.rated_at is None or now - survey.rated_at > ctx.config.csat.comment_window:
        return "out-of-window"
    _, added = ratings.comment(ctx.engine, survey.id, csat.clean_comment(reply.text), now)
    if not added:
        return "again"
    link = links.link_for_issue(ctx.engine, survey.issue_key)
    client = ctx.telegram
    if client is not None:
        thanks = csat.texts(link.language if link else None)["comment_thanks"]
        client.send_message(reply.chat_id, thanks, reply_to_message_id=reply.message_id)
    queue_note(ctx, survey.id)
    return "commented"


# --- effects -------------------------------------------------------------------------------------


def queue_note(ctx: Context, survey_id: str) -> None:
    """The effects of a new rating or comment, in their own job: a press is answered without waiting
    for the tracker, and a tracker that is down delays the effects, not the answer."""
    enqueue_once(ctx.redis, "jobs.csat.note", survey_id, job_id=f"csat-note-{survey_id}")


def note(survey_id: str) -> str:
    """The RQ job: the effects of a rating and its comment that are not done yet."""
    return note_with(get_context(), survey_id, utcnow())


def note_with(ctx: Context, survey_id: str, now: dt.datetime) -> str:
    survey = ratings.get(ctx.engine, survey_id)
    if survey is None or survey.score is None:
        return "unrated"
    done = "nothing"
    if survey.noted_at is None:
        _note_rating(ctx, survey)
        ratings.noted(ctx.engine, survey.id, "rating", now)
        done = "rating"
    if survey.comment is not None and survey.comment_noted_at is None:
        _note_comment(ctx, survey)
        ratings.noted(ctx.engine, survey.id, "comment", now)
        done = "comment" if done == "nothing" else "both"
    return done


def _note_rating(ctx: Context, survey: Survey) -> None:
    assert survey.score is not None
    config = ctx.config.csat
    tracker = ctx.tracker(survey.tracker)
    chat = _alert_chat(config, survey.score)
    if chat is not None:  # first: the supervisors hear of it whatever the tracker then refuses
        url = tracker.issue_url(survey.issue_key)
        text = csat.alert_text(survey.issue_key, url, survey.assignee, survey.score, survey.comment)
        _tell(ctx, survey, chat, text, "alert")
    _internal_note(ctx, survey, "rating", csat.issue_note(survey.score, survey.channel, survey.comment))
    label = config.label.format(score=survey.score) if config.label else None
    others = [config.label.format(score=s) for s in range(1, 6) if s != survey.score] if label else []
    fields = {config.field: survey.score} if config.field else {}
    if label or fields:
        try:
            tracker.update_fields(
                survey.issue_key, fields, add_labels=[label] if label else [], remove_labels=others
            )
        except TrackerRejected as exc:  # a field or label the issue's screen refuses: noted, not retried
            log.warning("csat.fields-refused key=%s survey=%s error=%s", survey.issue_key, survey.id, exc)
    log.info("csat.rated key=%s score=%s survey=%s", survey.issue_key, survey.score, survey.id)


def _note_comment(ctx: Context, survey: Survey) -> None:
    assert survey.score is not None and survey.comment is not None
    if survey.noted_at is not None:  # the rating's note went out before the comment: add the comment
        _internal_note(ctx, survey, "comment", f"Customer's comment on the rating: {survey.comment}")
    chat = _alert_chat(ctx.config.csat, survey.score)
    if chat is not None and survey.noted_at is not None:
        _tell(
            ctx,
            survey,
            chat,
            csat.comment_alert_text(survey.issue_key, survey.score, survey.comment),
            "comment",
        )


def _alert_chat(config: Csat, score: int) -> int | str | None:
    if score <= config.negative_at_most:
        return config.supervisors_chat
    if score >= config.positive_at_least:
        return config.kudos_chat
    return None


def _internal_note(ctx: Context, survey: Survey, what: str, text: str) -> None:
    tracker, markup = ctx.tracker(survey.tracker), ctx.markup(survey.tracker)
    marker = f"hub-csat-{survey.id}-{what}"
    if tracker.find_comment(survey.issue_key, marker) is None:
        tracker.add_internal_comment(
            survey.issue_key, f"{markup.escape(text)}\n\n{markup.marker(marker)}", marker
        )


def _tell(ctx: Context, survey: Survey, chat: int | str, text: str, what: str) -> None:
    """Send ``text`` to a team chat once per survey and ``what`` (the outbound ledger's key)."""
    key = f"csat:{survey.id}:{what}"
    done = outbound.find_kind(ctx.engine, key)
    client = ctx.telegram
    if (done is not None and done.status == "sent") or client is None:
        return
    sent = client.send_message(chat, text)
    record = Outbound(survey.message_id or survey.id, key, "telegram", str(chat), "sent", None, str(sent))
    outbound.record(ctx.engine, record)
