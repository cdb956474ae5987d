"""A web-form submission → ``InboundMessage``, validated against the form declared in the rule file.

Validation errors are collected per field (one message each) and raised together as
:class:`InvalidFields`, which the route answers with 422. Unknown fields are rejected too, so a typo in a
site's integration shows up at once instead of silently losing data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from config.rules import Form, FormField
from mappers.errors import InvalidFields
from mappers.markup import clean_text
from mappers.models import Attachment, Channel, InboundMessage, Sender

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
META_FIELDS = frozenset({"submission_id", "language", "csrf_token"})


@dataclass(frozen=True)
class UploadedFile:
    """A file from a multipart form, read into memory within the size limit."""

    filename: str
    content_type: str
    data: bytes


def is_spam(form: Form, values: Mapping[str, str]) -> bool:
    """True when the honeypot field (hidden from people) was filled in."""
    return bool(str(values.get(form.honeypot, "")).strip())


def parse_submission(
    form_name: str,
    form: Form,
    values: Mapping[str, object],
    files: Sequence[UploadedFile],
    *,
    received_at: dt.datetime,
) -> InboundMessage:
    """Validate a submission and build the message; raise :class:`InvalidFields` listing every problem."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    allowed = {f.name for f in form.fields} | META_FIELDS | {form.honeypot}
    for name in values:
        if name not in allowed:
            errors[name] = "unknown field"
    for field in form.fields:
        if field.type == "file":
            continue
        value, error = _validate(field, values.get(field.name))
        if error:
            errors[field.name] = error
        elif value:
            clean[field.name] = value
    attachments = _attachments(form, files, errors)
    submission_id = str(values.get("submission_id") or "")
    if submission_id and not SUBMISSION_ID.match(submission_id):
        errors["submission_id"] = "must be 8–64 letters, digits, '-' or '_'"
    if errors:
        raise InvalidFields(errors)
    external_id = submission_id or _content_id(form_name, clean, received_at)
    extra = {k: v for k, v in clean.items() if k not in {"name", "email", "subject", "message", "category"}}
    language = str(values.get("language") or "")[:8] or None
    return InboundMessage(
        channel=Channel.FORM,
        external_id=f"form:{form_name}:{external_id}",
        conversation_key=f"form:{form_name}:{external_id}",
        sender=Sender(name=clean.get("name", ""), email=clean.get("email"), language=language),
        subject=clean.get("subject", ""),
        text=clean.get("message", ""),
        attachments=attachments,
        received_at=received_at,
        form=form_name,
        category=clean.get("category"),
        fields=extra,
    )


def _validate(field: FormField, raw: object) -> tuple[str, str | None]:
    if isinstance(raw, list):
        return "", "expected one value"
    if raw is not None and not isinstance(raw, str | int | float):
        return "", "expected text"
    value = clean_text(str(raw)).strip() if raw is not None else ""
    if not value:
        return "", "this field is required" if field.required else None
    if len(value) > field.max_length:
        return "", f"at most {field.max_length} characters"
    if field.type != "textarea" and "\n" in value:
        return "", "must be a single line"
    if field.type == "email":
        if not _EMAIL.match(value):
            return "", "not a valid e-mail address"
        local, _, domain = value.rpartition("@")
        value = f"{local}@{domain.lower()}"
    if field.type == "select" and value not in {o.value for o in field.options}:
        return "", "not one of the choices"
    return value, None


def _attachments(form: Form, files: Sequence[UploadedFile], errors: dict[str, str]) -> list[Attachment]:
    if not files:
        return []
    field = next((f for f in form.fields if f.type == "file"), None)
    if field is None:
        errors["attachments"] = "this form takes no files"
        return []
    if len(files) > field.max_files:
        errors[field.name] = f"at most {field.max_files} files"
        return []
    too_big = [f.filename for f in files if len(f.data) > field.max_file_bytes]
    if too_big:
        errors[field.name] = f"files over {field.max_file_bytes // (1024 * 1024)} MB: {', '.join(too_big)}"
        return []
    return [
        Attachment(
            filename=f.filename or "attachment", content_type=f.content_type, size=len(f.data), data=f.data
        )
        for f in files
        if f.data
    ]


def _content_id(form_name: str, values: Mapping[str, str], received_at: dt.datetime) -> str:
    """Without a submission id, identical submissions on the same day count as one (double clicks)."""
    canonical = json.dumps(
        [form_name, sorted(values.items()), received_at.date().isoformat()], ensure_ascii=False
    )
    return "h" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
