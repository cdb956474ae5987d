"""CSAT's texts, buttons and signed links, pure.

Telegram: the survey's buttons carry ``csat:<survey id>:<score>`` (or ``csat:<survey id>:stop``, "don't
ask me again"); the id is looked up in ``store.ratings`` and the press checked against the survey's chat,
message and customer, never trusted to name an issue or a person. After a rating the bot asks for a
comment with a ForceReply (https://core.telegram.org/bots/api#forcereply): a reply to it is the comment.

E-mail: one link per score and one to opt out, each ``HUB_PUBLIC_URL/csat/<token>`` where the token is
``[survey id, choice]`` signed with ``HUB_SECRET_KEY`` (itsdangerous, salt ``csat-link``, as the routing
links are). Opening a link only shows a page; the vote is the page's POST (``routes.csat``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired

from config.settings import Settings
from mappers.route_links import signer

PRESS = re.compile(r"csat:(?P<survey>[0-9a-f]{20}):(?P<choice>[1-5]|stop)")
PREFIX = "csat:"
STOP = "stop"
SALT = "csat-link"
MAX_AGE = 60 * 24 * 3600  # seconds a survey's links stay valid
COMMENT_LIMIT = 2000  # characters of a comment kept

TEXTS = {
    "en": {
        "ask": "How did we do with {key}? Please rate our answer, 1 (bad) to 5 (excellent).",
        "ask_faces": "How did we do with {key}? Please rate our answer.",
        "stop_button": "Don't ask me again",
        "thanks": "Thank you! You rated our answer on {key}: {shown}.",
        "comment_prompt": "Anything to add? Reply to this message with a comment (optional).",
        "comment_thanks": "Thank you, we have passed your comment on to the team.",
        "stopped": "All right: we will not ask you to rate our answers again.",
        "mail_subject": "How did we do?",
        "mail_intro": "Your request {key} was resolved. How did we do? Choose a rating:",
        "mail_stop": "Don't ask me again:",
    },
    "ru": {
        "ask": "Как мы справились с {key}? Оцените, пожалуйста, наш ответ от 1 (плохо) до 5 (отлично).",
        "ask_faces": "Как мы справились с {key}? Оцените, пожалуйста, наш ответ.",
        "stop_button": "Больше не спрашивать",
        "thanks": "Спасибо! Ваша оценка ответа по {key}: {shown}.",
        "comment_prompt": "Хотите что-то добавить? Ответьте на это сообщение комментарием (необязательно).",
        "comment_thanks": "Спасибо, мы передали ваш комментарий команде.",
        "stopped": "Хорошо: мы больше не будем просить вас оценить наши ответы.",
        "mail_subject": "Как мы справились?",
        "mail_intro": "Ваше обращение {key} решено. Как мы справились? Выберите оценку:",
        "mail_stop": "Больше не спрашивать:",
    },
}


class CsatLinkError(ValueError):
    """A CSAT link that is not the hub's, or was altered."""


class ExpiredCsatLink(CsatLinkError):
    """A genuine CSAT link older than :data:`MAX_AGE`."""


@dataclass(frozen=True)
class Choice:
    """What a button or link chose: a score, or to stop being asked (``score`` None)."""

    survey_id: str
    score: int | None

    @property
    def stop(self) -> bool:
        return self.score is None


def texts(language: str | None) -> dict[str, str]:
    return TEXTS["ru" if (language or "").startswith("ru") else "en"]


def question(key: str, scores: dict[int, str], language: str | None) -> str:
    t = texts(language)
    return (t["ask"] if list(scores) == [1, 2, 3, 4, 5] else t["ask_faces"]).format(key=key)


def keyboard(survey_id: str, scores: dict[int, str], language: str | None) -> dict[str, Any]:
    """One row of scores, then "don't ask me again"."""
    row = [
        {"text": shown, "callback_data": f"{PREFIX}{survey_id}:{score}"} for score, shown in scores.items()
    ]
    stop = [{"text": texts(language)["stop_button"], "callback_data": f"{PREFIX}{survey_id}:{STOP}"}]
    return {"inline_keyboard": [row, stop]}


def comment_prompt_markup(language: str | None) -> dict[str, Any]:
    placeholder = "Ваш комментарий" if (language or "").startswith("ru") else "Your comment"
    return {"force_reply": True, "input_field_placeholder": placeholder}


def shown_score(score: int, scores: dict[int, str]) -> str:
    """A score as the customer chose it (a face, or ``4/5``)."""
    return scores[score] if list(scores) != [1, 2, 3, 4, 5] and score in scores else f"{score}/5"


def parse_choice(data: str) -> Choice | None:
    """The survey and choice a button's ``callback_data`` names, or None for any other data."""
    found = PRESS.fullmatch(data)
    if found is None:
        return None
    choice = found.group("choice")
    return Choice(found.group("survey"), None if choice == STOP else int(choice))


def link_token(settings: Settings, choice: Choice) -> str:
    """The signed token of an e-mail link; ``NoSecretKey`` without ``HUB_SECRET_KEY``."""
    return str(signer(settings, SALT).dumps([choice.survey_id, choice.score or STOP]))


def link_url(settings: Settings, choice: Choice) -> str:
    return f"{settings.HUB_PUBLIC_URL}/csat/{link_token(settings, choice)}"


def read_link(settings: Settings, token: str) -> Choice:
    """The choice a link's token names; :class:`ExpiredCsatLink`, :class:`CsatLinkError` when it is old
    or not the hub's (``NoSecretKey`` without a key)."""
    try:
        payload = signer(settings, SALT).loads(token, max_age=MAX_AGE)
    except SignatureExpired:
        raise ExpiredCsatLink("the rating link has expired") from None
    except BadSignature:
        raise CsatLinkError("the rating link is not valid") from None
    found = (
        parse_choice(f"{PREFIX}{payload[0]}:{payload[1]}")
        if isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str | int) for p in payload)
        else None
    )
    if found is None:
        raise CsatLinkError("the rating link is not valid")
    return found


def mail_text(
    settings: Settings, survey_id: str, key: str, scores: dict[int, str], language: str | None
) -> str:
    """The survey e-mail: a link per score and one to opt out (plain text; the mail gets an HTML twin)."""
    t = texts(language)
    lines = [t["mail_intro"].format(key=key), ""]
    for score, shown in scores.items():
        lines.append(f"{shown}: {link_url(settings, Choice(survey_id, score))}")
    lines += ["", t["mail_stop"], link_url(settings, Choice(survey_id, None))]
    return "\n".join(lines)


def clean_comment(text: str) -> str:
    """A comment as kept: trimmed, at most :data:`COMMENT_LIMIT` characters."""
    return text.strip()[:COMMENT_LIMIT]


def alert_text(key: str, url: str, assignee: str | None, score: int, comment: str | None) -> str:
    """What the supervisors' (or the kudos) chat reads about a rating."""
    head = f"CSAT {score}/5 for {key}" + (f" (assignee: {assignee})" if assignee else " (no assignee)")
    lines = [head, url]
    if comment:
        lines.append(f"Comment: {comment}")
    return "\n".join(lines)


def comment_alert_text(key: str, score: int, comment: str) -> str:
    return f"Comment on the CSAT {score}/5 for {key}: {comment}"


def issue_note(score: int, channel: str, comment: str | None) -> str:
    """The internal comment on the issue (plain: the caller escapes it for the tracker)."""
    via = "Telegram" if channel == "telegram" else "e-mail"
    note = f"Customer satisfaction: {score}/5 (by {via})."
    return note + (f"\nComment: {comment}" if comment else "")
