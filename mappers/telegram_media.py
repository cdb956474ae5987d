"""The files of a Telegram message (photo, document, voice, sticker, ...) as :class:`Attachment` values.

Files are referenced by ``file_id`` only; the worker fetches them with ``getFile``. Each comes with a
placeholder line for a message without a caption (mappers/telegram.py).
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from mappers.errors import AnomalousPayload
from mappers.models import Attachment
from mappers.telegram_fields import (
    JsonObject,
    as_object,
    has,
    need_file_id,
    need_int,
    need_object,
    opt_bool,
    opt_int,
    opt_str,
)

_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_MAX_FILENAME_LEN = 200
# kind -> (default content type, default extension, placeholder)
_FILE_DEFAULTS: dict[str, tuple[str, str, str]] = {
    "document": ("application/octet-stream", "", "[file]"),
    "animation": ("video/mp4", ".mp4", "[animation]"),
    "audio": ("audio/mpeg", ".mp3", "[audio]"),
    "video": ("video/mp4", ".mp4", "[video]"),
    "video_note": ("video/mp4", ".mp4", "[video message]"),
    "voice": ("audio/ogg", ".ogg", "[voice message]"),
    "sticker": ("image/webp", ".webp", "[sticker]"),
}


def read_media(message: JsonObject, kind: str) -> list[tuple[Attachment, str]]:
    """Every file in the message, each with a placeholder line for caption-less messages."""
    message_id = need_int(message, "message_id", kind)
    found: list[tuple[Attachment, str]] = []
    if has(message, "photo"):
        found.append(_read_photo(message["photo"], message_id, f"{kind}.photo"))
    # An animation also fills ``document`` for backward compatibility: file it once.
    if has(message, "document") and not has(message, "animation"):
        doc = need_object(message, "document", kind)
        found.append(_read_file(doc, "document", message_id, f"{kind}.document"))
    for field in ("animation", "audio", "video", "video_note", "voice", "sticker"):
        if has(message, field):
            media = need_object(message, field, kind)
            found.append(_read_file(media, field, message_id, f"{kind}.{field}"))
    return found


def _read_photo(sizes: object, message_id: int, where: str) -> tuple[Attachment, str]:
    """The largest ``PhotoSize`` of the array, as a JPEG (the Bot API re-encodes photos)."""
    if not isinstance(sizes, list) or not sizes:
        raise AnomalousPayload(
            f"not a Telegram update: {where} is not a list of sizes", {where: "a non-empty array"}
        )
    best: tuple[int, int, JsonObject] | None = None
    for item in sizes:
        size = as_object(item, where)
        area = (opt_int(size, "width", where) or 0) * (opt_int(size, "height", where) or 0)
        rank = (area, opt_int(size, "file_size", where) or 0, size)
        if best is None or rank[:2] >= best[:2]:
            best = rank
    assert best is not None
    photo = best[2]
    stem = _file_stem(photo, "photo", message_id, where)
    attachment = Attachment(
        filename=f"{stem}.jpg",
        content_type="image/jpeg",
        size=opt_int(photo, "file_size", where),
        telegram_file_id=need_file_id(photo, where),
    )
    return attachment, "[photo]"


def _read_file(media: JsonObject, kind: str, message_id: int, where: str) -> tuple[Attachment, str]:
    """A Document-like object: ``file_id``, ``file_name?``, ``mime_type?``, ``file_size?``."""
    file_id = need_file_id(media, where)
    content_type, extension, placeholder = _FILE_DEFAULTS[kind]
    if kind == "sticker":
        content_type, extension = _sticker_format(media, where)
        emoji = opt_str(media, "emoji", where)
        placeholder = f"[sticker {emoji}]" if emoji else placeholder
    given_name = opt_str(media, "file_name", where)
    mime = opt_str(media, "mime_type", where)
    if mime and _MIME.match(mime) and mime.lower() != content_type:
        content_type = mime.lower()
        extension = mimetypes.guess_extension(content_type) or extension
    elif given_name:
        content_type = mimetypes.guess_type(given_name)[0] or content_type
    filename = _safe_filename(given_name) if given_name else ""
    if not filename:
        filename = _file_stem(media, kind, message_id, where) + extension
    if kind == "document" and given_name:
        placeholder = f"[file {filename}]"
    attachment = Attachment(
        filename=filename,
        content_type=content_type,
        size=opt_int(media, "file_size", where),
        telegram_file_id=file_id,
    )
    return attachment, placeholder


def _sticker_format(sticker: JsonObject, where: str) -> tuple[str, str]:
    """Animated stickers are TGS (gzipped Lottie), video stickers WEBM, the rest WEBP."""
    if opt_bool(sticker, "is_animated", where):
        return "application/x-tgsticker", ".tgs"
    if opt_bool(sticker, "is_video", where):
        return "video/webm", ".webm"
    return "image/webp", ".webp"


def _file_stem(media: JsonObject, kind: str, message_id: int, where: str) -> str:
    """``<kind>-<file_unique_id>``, or ``<kind>-<message_id>`` when the unique id is unusable."""
    unique = _safe_filename(opt_str(media, "file_unique_id", where) or "")
    return f"{kind}-{unique or message_id}"


def _safe_filename(name: str) -> str:
    """A bare file name: no directories, no control characters, bounded length; "" if none left."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        return ""
    if len(base) <= _MAX_FILENAME_LEN:
        return base
    stem, dot, ext = base.rpartition(".")
    if not (dot and stem and len(ext) <= 16):
        return base[:_MAX_FILENAME_LEN]
    return stem[: _MAX_FILENAME_LEN - len(ext) - 1] + "." + ext
