"""A message's files: fetched for delivery (journal blobs, Telegram downloads) and attached to its issue."""

from __future__ import annotations

import logging
import re

from connector.base import Tracker
from connector.errors import ChannelRejected, TrackerRejected
from connector.telegram import FileTooLarge
from connector.types import FileUpload
from jobs.context import Context
from mappers.markup import markup_for
from mappers.models import Attachment, InboundMessage
from store import journal

log = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the cloud Bot API's getFile limit


def collect_files(ctx: Context, message: InboundMessage) -> tuple[list[FileUpload], list[str]]:
    """The message's files as uploads, and notes about the ones that could not be fetched."""
    uploads: list[FileUpload] = []
    notes: list[str] = []
    for attachment in message.attachments:
        content = _attachment_bytes(ctx, attachment, notes)
        if content is not None:
            uploads.append(FileUpload(_safe_filename(attachment.filename), content, attachment.content_type))
    return uploads, notes


def attach_files(tracker: Tracker, entry: journal.Entry, key: str, files: list[FileUpload]) -> None:
    """Upload the files one by one; one the tracker refuses (too big, a banned type) becomes a note on
    the issue instead of failing a message whose text is already there."""
    if not files:
        return
    try:
        tracker.attach_files(key, files)  # one listing of the files for all of them
        return
    except TrackerRejected:
        pass  # find out which: one upload at a time (those already attached are skipped)
    refused: list[str] = []
    for upload in files:
        try:
            tracker.attach_files(key, [upload])
        except TrackerRejected as exc:
            log.warning("deliver.attachment-refused message_id=%s key=%s reason=%s", entry.id, key, exc)
            refused.append(f"{upload.filename}: {exc}")
    if not refused:
        return
    marker = f"files-refused-{entry.id}"
    if entry.attempts > 0 and tracker.find_comment(key, marker):
        return
    markup = markup_for(tracker.kind)
    lines = [markup.escape(f"The tracker refused an attachment of this message ({why}).") for why in refused]
    lines.append(markup.italic(markup.escape("Ask the customer to send it another way.")))
    lines.append(markup.marker(marker))
    tracker.add_comment(key, "\n".join(lines), marker)


def _attachment_bytes(ctx: Context, attachment: Attachment, notes: list[str]) -> bytes | None:
    if attachment.blob_id:
        content = journal.get_blob(ctx.engine, attachment.blob_id)
        if content is None:
            notes.append(f"Attachment {attachment.filename} was lost before delivery.")
        return content
    if attachment.telegram_file_id is None:
        return None
    if attachment.size and attachment.size > TELEGRAM_DOWNLOAD_LIMIT:
        notes.append(_too_large(attachment))
        return None
    client = ctx.telegram
    if client is None:
        notes.append(
            f"Attachment {attachment.filename} was not fetched: no Telegram bot token is configured."
        )
        return None
    try:
        file = client.get_file(attachment.telegram_file_id)
        return client.download(file.file_path, max_bytes=TELEGRAM_DOWNLOAD_LIMIT)
    except FileTooLarge:
        notes.append(_too_large(attachment))
    except ChannelRejected as exc:
        notes.append(f"Attachment {attachment.filename} could not be fetched from Telegram: {exc}")
    return None


def _too_large(attachment: Attachment) -> str:
    size = f" ({attachment.size / 1024 / 1024:.1f} MB)" if attachment.size else ""
    return (
        f"Attachment {attachment.filename}{size} is over the Telegram Bot API's 20 MB download limit; "
        "ask the customer to send it another way."
    )


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r'[\x00-\x1f/\\:*?"<>|]+', "_", name).strip(" .") or "attachment"
    return cleaned[:200]
