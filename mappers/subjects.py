"""Subject lines: strip reply and forward prefixes, find tracker issue keys.

``clean_subject`` is what threading compares and what an issue title shows. Zammad strips only
two-letter prefixes (``^(..(\\[\\d+\\])?:\\s+)+``), which leaves Russian ``Отв:`` and ``Ответ:`` in place;
this list covers the English, German, Nordic, French and Russian prefixes that mail clients write, with
the counters some add ("Re[2]:", "Re(3):", "Re^2:"). "Автоматический ответ:" is deliberately not a prefix:
it marks an out-of-office reply, which ``mappers.autoreply`` detects.
"""

from __future__ import annotations

import re

_PREFIX = re.compile(
    r"^\s*(?:re|aw|wg|fwd?|fw|tr|sv|vs|antw|antwort|réf|rif|odp|отв|ответ|пересл|переслано)"
    r"\s*(?:\[\d{1,4}\]|\(\d{1,4}\)|\^\d{1,4})?\s*[:：]\s*",
    re.IGNORECASE,
)
_TAG = re.compile(r"\s*\[(?:ticket#\s*\d+|#\d+|[A-Z][A-Z0-9_]+-\d+)\]\s*", re.IGNORECASE)
# A Kaiten card has a numeric id; the hub writes it into subjects as "[#12345]".
_CARD_TAG = re.compile(r"\[#(\d{1,18})\]")
_ISSUE_KEY = re.compile(r"(?<![A-Za-z0-9_\-])([A-Z][A-Z0-9_]+-\d+)(?![0-9])")
_SPACES = re.compile(r"\s+")
_FORWARD = re.compile(
    r"^\s*(?:(?:re|aw|sv|отв|ответ)\s*:\s*)*(?:fwd?|fw|wg|w\.|tr|пересл|переслано)\s*:", re.IGNORECASE
)


def _strip_prefixes(subject: str) -> str:
    while True:
        stripped = _PREFIX.sub("", subject, count=1)
        stripped = _TAG.sub(" ", stripped, count=1) if _TAG.match(stripped) else stripped
        if stripped == subject:
            return subject
        subject = stripped.lstrip()


def clean_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and ticket tags, whitespace collapsed."""
    cleaned = _strip_prefixes(_SPACES.sub(" ", subject).strip())
    cleaned = _TAG.sub(" ", cleaned)
    return _SPACES.sub(" ", cleaned).strip()


def find_issue_keys(subject: str) -> list[str]:
    """Issue keys in a subject: Jira's ("[SUP-123]" or bare "SUP-123"), then Kaiten card ids ("[#123]")."""
    keys: list[str] = []
    for key in [*_ISSUE_KEY.findall(subject), *_CARD_TAG.findall(subject)]:
        if key not in keys:
            keys.append(key)
    return keys


def is_forward(subject: str) -> bool:
    """Whether the subject says the mail forwards another one (whose content is then the request)."""
    return _FORWARD.match(subject) is not None
