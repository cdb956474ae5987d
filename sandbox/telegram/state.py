"""What the stand-in remembers, in memory: messages sent, the chats as both sides see them, button
presses waiting for their answer, registered files, queued faults, blocked chats, the webhook."""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StoredFile:
    file_id: str
    file_path: str
    size: int
    content: bytes | None = None
    source: Path | None = None

    def read(self) -> bytes:
        if self.content is not None:
            return self.content
        return self.source.read_bytes() if self.source else b""


@dataclass
class Fault:
    status: int
    count: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0
    after: bool = False  # the call is done, then answered ``delay`` seconds late: an answer lost in transit


@dataclass
class ChatMessage:
    """A message in a chat as its reader sees it now: the bot's (``side="bot"``) or a user's."""

    chat_id: int | str
    message_id: int
    side: str  # "bot" | "user"
    text: str
    date: int
    sender: dict[str, Any]
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    edited: bool = False


@dataclass
class Press:
    """A ``callback_query`` sent to the bot: answered at most once, and only in time."""

    id: str
    chat_id: int | str
    message_id: int
    data: str
    sender: dict[str, Any]
    at: float
    answer: dict[str, Any] | None = None


@dataclass
class BotState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, StoredFile] = field(default_factory=dict)  # by file_id
    paths: dict[str, str] = field(default_factory=dict)  # file_path -> file_id
    faults: list[Fault] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    messages: dict[tuple[str, int], ChatMessage] = field(default_factory=dict)  # (chat id, message id)
    presses: dict[str, Press] = field(default_factory=dict)  # by callback_query id
    update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    answer_window: float = 15.0  # seconds a press can be answered in (the cloud's is undocumented)
    file_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def remember(state: BotState, message: ChatMessage) -> None:
    """Keep ``message`` as its chat shows it (caller holds the lock)."""
    state.messages[(str(message.chat_id), message.message_id)] = message


def chat_of(state: BotState, chat_id: int | str) -> list[ChatMessage]:
    """The chat's messages, oldest first (caller holds the lock)."""
    found = [m for (chat, _), m in state.messages.items() if chat == str(chat_id)]
    return sorted(found, key=lambda m: m.message_id)


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def take_fault(state: BotState) -> Fault | None:
    """Raise the next queued fault's error; a fault that comes ``after`` the call is returned instead."""
    with state.lock:
        if not state.faults:
            return None
        fault = state.faults[0]
        fault.count -= 1
        if fault.count <= 0:
            state.faults.pop(0)
    if fault.after:
        return fault
    if fault.delay:
        time.sleep(fault.delay)
    parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
    raise ApiError(fault.status, fault.description, parameters)


def store_file(
    state: BotState, file_id: str, content: bytes | None, size: int | None, name: str | None
) -> StoredFile:
    """Register a file (caller holds the lock); re-registering a file_id replaces it."""
    old = state.files.get(file_id)
    if old is not None:
        state.paths.pop(old.file_path, None)
    suffix = Path(name).suffix if name else ""
    suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""
    file_path = f"documents/file_{next(state.file_numbers)}{suffix}"
    stored = StoredFile(file_id, file_path, size if size is not None else len(content or b""), content)
    state.files[file_id] = stored
    state.paths[file_path] = file_id
    return stored


def preload_files(state: BotState, files_dir: Path) -> None:
    with state.lock:
        for path in sorted(files_dir.iterdir()):
            if path.is_file():
                stored = store_file(state, path.name, None, path.stat().st_size, path.name)
                stored.source = path
