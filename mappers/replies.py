"""Customer-facing texts and outbound mail, built without I/O.

Texts are Jinja2 templates in ``config/templates`` rendered in the sandbox (an admin-edited template
cannot reach Python internals), in the sender's language when it is one we have (ru, en), with strict
undefined variables so a typo fails loudly instead of sending half a sentence.

An autoreply goes to an address nobody has verified (a form's e-mail field, a mail's From), so it
carries only the issue key and the hub's own text: never the sender's name or subject, in the body, the
subject line or the To header. Otherwise anyone could make the hub mail their text to anyone. Its
templates are rendered with ``key`` and ``url`` only, so an edited template cannot echo more.
"""

from __future__ import annotations

import functools
import re
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from mappers.subjects import clean_subject

TEMPLATES = Path(__file__).resolve().parent.parent / "config" / "templates"
LANGUAGES = ("en", "ru")
# Recipients that are machines: never answered (Zammad's send_no_auto_response_reg_exp, paraphrased).
_NO_REPLY = re.compile(
    r"^(mailer-daemon|postmaster|abuse|root|no[-_.]?reply[^@]*|do[-_.]?not[-_.]?reply[^@]*|bounces?[^@]*)@",
    re.IGNORECASE,
)


@functools.cache
def _environment(folder: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


def pick_language(language: str | None, default: str) -> str:
    """The template language for a sender: their language if we have it, else ``default``."""
    primary = (language or "").split("-")[0].lower()
    return primary if primary in LANGUAGES else default


def render(template: str, language: str, folder: Path = TEMPLATES, **context: object) -> str:
    """Render ``<template>.<language>.j2`` in the sandbox."""
    return _environment(folder).get_template(f"{template}.{language}.j2").render(**context).strip() + "\n"


def may_autoreply_to(address: str | None) -> bool:
    """Whether an address may get an automatic reply (not empty, not a daemon or no-reply box)."""
    return bool(address) and "@" in (address or "") and not _NO_REPLY.match(address or "")


def subject_tag(key: str) -> str:
    """How an issue key is written in subjects: ``[SUP-12]``, or ``[#12345]`` for a numeric card id."""
    return f"[#{key}]" if key.isdigit() else f"[{key}]"


def reply_subject(key: str, subject: str) -> str:
    """``[KEY] Re: <subject>`` for the team's messages, without stacking prefixes the subject has."""
    clean = clean_subject(subject)
    return f"{subject_tag(key)} Re: {clean}" if clean else subject_tag(key)


def autoreply_subject(key: str, *, language: str, folder: Path = TEMPLATES) -> str:
    """``[KEY] <the hub's own words>``: the customer's subject is never repeated (see above)."""
    return f"{subject_tag(key)} {render('autoreply_email_subject', language, folder).strip()}"


def build_autoreply_mail(
    *,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    domain: str,
    in_reply_to: str | None,
    references: list[str],
    date: object = None,
    html: str | None = None,
    recipient_name: str = "",
) -> EmailMessage:
    """An auto-reply that threads with the customer's mail and cannot start a loop.

    ``Auto-Submitted: auto-replied`` (RFC 3834) and ``X-Auto-Response-Suppress`` tell other robots not to
    answer; ``Precedence: auto_reply`` covers older ones. ``recipient_name`` is for the team's own
    messages; an autoreply leaves it empty, as the name is text the sender chose.
    """
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = formataddr((recipient_name, recipient)) if recipient_name else recipient
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain=domain)
    if date is not None:
        mail["Date"] = format_datetime(date)  # type: ignore[arg-type]
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    refs = [*references, *([in_reply_to] if in_reply_to and in_reply_to not in references else [])]
    if refs:
        mail["References"] = " ".join(refs[-20:])
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"
    mail["Precedence"] = "auto_reply"
    mail.set_content(body)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail
