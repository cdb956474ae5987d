"""The CSAT e-mail links: ``GET /csat/<signed>`` shows a page, its ``POST`` records the vote.

A survey mail carries one link per score and one to opt out (``mappers.csat``: the survey id and the
choice, signed with ``HUB_SECRET_KEY``). Mail scanners and link previewers open every link in a mail, so
opening one only shows a confirmation page (with an optional comment field) and records nothing; the
vote is the page's form POST, which a scanner does not send. The signed token in the URL is the only
credential: there is no session, so no CSRF token either (a forged POST would need the token itself).

The first rating stands (``store.ratings.rate``); a comment may follow on a later POST. The rating is
written in the request, and its effects (the issue's note and label, the supervisors' alert) go to the
``jobs.csat.note`` job; when Redis cannot take it, the scheduler's ``csat`` entry finds the rating
undone and runs them. A tampered link is 403, an expired one 410, no secret key 404.
"""

from __future__ import annotations

import logging

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from jobs.clock import utcnow
from jobs.queues import enqueue_once
from mappers import csat
from mappers.csat import Choice, CsatLinkError, ExpiredCsatLink
from mappers.route_links import NoSecretKey
from routes.i18n import request_language
from routes.state import hub
from store import ratings
from store.ratings import Survey

log = logging.getLogger(__name__)

bp = Blueprint("csat", __name__, template_folder="templates")

UI = {
    "en": {
        "title": "How did we do?",
        "question": "Rate our answer on {key}: {shown}?",
        "comment": "Anything to add? (optional)",
        "send": "Send my rating",
        "stop_question": "Stop asking me to rate your answers?",
        "stop_button": "Don't ask me again",
        "thanks": "Thank you! Your rating is recorded.",
        "thanks_comment": "Thank you! Your comment is recorded.",
        "already": "Thank you, you rated this already.",
        "stopped": "All right: we will not ask you again.",
        "link_invalid": "This link is not valid.",
        "link_expired": "This link has expired.",
        "links_off": "Ratings by link are off.",
    },
    "ru": {
        "title": "Как мы справились?",
        "question": "Оценить наш ответ по {key}: {shown}?",
        "comment": "Хотите что-то добавить? (необязательно)",
        "send": "Отправить оценку",
        "stop_question": "Больше не просить вас оценивать наши ответы?",
        "stop_button": "Больше не спрашивать",
        "thanks": "Спасибо! Ваша оценка записана.",
        "thanks_comment": "Спасибо! Ваш комментарий записан.",
        "already": "Спасибо, вы уже оценили этот ответ.",
        "stopped": "Хорошо: мы больше не будем спрашивать.",
        "link_invalid": "Эта ссылка недействительна.",
        "link_expired": "Срок действия ссылки истёк.",
        "links_off": "Оценки по ссылке отключены.",
    },
}


@bp.get("/csat/<token>")
def show(token: str) -> ResponseReturnValue:
    """The confirmation page of a link; records nothing (mail scanners open links)."""
    choice, survey = _open(token)
    if choice.stop:
        return _page(form=True, stop=True, action=request.path)
    if survey.score is not None and survey.comment is not None:
        return _page(message=_ui()["already"])
    assert choice.score is not None
    shown = csat.shown_score(choice.score, hub().config.csat.scores())
    return _page(form=True, key=survey.issue_key, shown=shown, action=request.path, limit=csat.COMMENT_LIMIT)


@bp.post("/csat/<token>")
def vote(token: str) -> ResponseReturnValue:
    """Record the link's choice (the first rating stands) and the comment, then queue their effects."""
    choice, survey = _open(token)
    engine, now = hub().engine, utcnow()
    if choice.score is None:
        ratings.opt_out(engine, survey.channel, survey.contact, now)
        log.info("csat.opted-out survey=%s via=mail", survey.id)
        return _page(message=_ui()["stopped"])
    _, rated = ratings.rate(engine, survey.id, choice.score, now)
    comment = csat.clean_comment(request.form.get("comment", ""))
    commented = bool(comment) and ratings.comment(engine, survey.id, comment, now)[1]
    log.info("csat.mail-vote survey=%s rated=%s commented=%s", survey.id, rated, commented)
    if rated or commented:
        _queue_effects(survey.id)
    if rated:
        return _page(message=_ui()["thanks"])
    return _page(message=_ui()["thanks_comment" if commented else "already"])


class LinkRefused(Exception):
    """The link is not honoured: the page says ``reason`` with ``status``."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@bp.errorhandler(LinkRefused)
def _refused(exc: LinkRefused) -> ResponseReturnValue:
    return _page(message=_ui()[exc.reason], refused=True), exc.status


def _open(token: str) -> tuple[Choice, Survey]:
    """The link's choice and survey; :class:`LinkRefused` when the link is not honoured."""
    try:
        choice = csat.read_link(hub().settings, token)
    except ExpiredCsatLink:
        raise LinkRefused("link_expired", 410) from None
    except CsatLinkError:
        raise LinkRefused("link_invalid", 403) from None
    except NoSecretKey:
        raise LinkRefused("links_off", 404) from None
    survey = ratings.get(hub().engine, choice.survey_id)
    if survey is None or survey.channel != "email":
        raise LinkRefused("link_invalid", 403)
    return choice, survey


def _queue_effects(survey_id: str) -> None:
    redis = hub().redis
    try:
        if redis is not None:
            enqueue_once(redis, "jobs.csat.note", survey_id, job_id=f"csat-note-{survey_id}")
    except RedisError as exc:  # the rating is written: the scheduler's csat entry runs its effects
        log.warning("csat.note-not-queued survey=%s error=%s", survey_id, type(exc).__name__)


def _ui() -> dict[str, str]:
    return UI[request_language()]


def _page(**values: object) -> str:
    return render_template("csat.html", ui=_ui(), lang=request_language(), **values)
