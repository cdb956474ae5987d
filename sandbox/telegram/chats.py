"""The chats as both sides see them: JSON for tests and an HTML page where a newcomer writes as a
customer or a staff member, opens a ``/start`` link and presses the bot's buttons (``GET
/_sandbox/chats``; the control token's cookie from ``/_sandbox/login`` lets a browser in).

Every text on the page is escaped by Jinja's autoescape; the page's forms post only to this site, and
the cookie they carry is ``SameSite=Strict``, so another site cannot press a button through them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Flask, Response, redirect, render_template, request
from werkzeug.wrappers.response import Response as Redirect

from sandbox.app import html_response
from sandbox.telegram import users
from sandbox.telegram.keyboards import callback_buttons
from sandbox.telegram.state import ApiError, BotState, ChatMessage, Press, chat_of
from sandbox.webhooks import WebhookSender

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:48rem;color:#222}"
    ".msg{margin:.5rem 0;padding:.5rem .8rem;border-radius:.6rem;max-width:80%;white-space:pre-wrap}"
    ".bot{background:#eef3ff}.user{background:#e7f7e7;margin-left:auto}.meta{color:#666;font-size:.85em}"
    ".keys button{margin:.2rem .2rem 0 0}.error{color:#b00}form.inline{display:inline}"
    "input,textarea{font:inherit}textarea{width:100%}"
)


def message_view(message: ChatMessage) -> dict[str, Any]:
    """One message for JSON and the page: who, what, its buttons, whether it was edited."""
    return {
        "message_id": message.message_id,
        "side": message.side,
        "from": message.sender,
        "text": message.text,
        "reply_to_message_id": message.reply_to,
        "reply_markup": message.reply_markup,
        "buttons": callback_buttons(message.reply_markup),
        "edited": message.edited,
    }


def chat_json(state: BotState, chat_id: str) -> list[dict[str, Any]]:
    """The chat's messages, oldest first (caller holds the lock)."""
    return [message_view(message) for message in chat_of(state, chat_id)]


def press_json(press: Press) -> dict[str, Any]:
    return {
        "id": press.id,
        "chat_id": press.chat_id,
        "message_id": press.message_id,
        "data": press.data,
        "from": press.sender,
        "answer": press.answer,
    }


def add_pages(app: Flask, state: BotState, sender: WebhookSender) -> None:
    """The HTML pages and the forms they post."""

    def page(template: str, **context: Any) -> Response:
        return html_response(render_template(template, style=PAGE_STYLE, **context), 200, PAGE_CSP)

    def back(chat_id: int | str | None, error: str | None = None, actor: int | None = None) -> Redirect:
        target = f"/_sandbox/chats/{quote(str(chat_id))}" if chat_id is not None else "/_sandbox/chats"
        query = [f"error={quote(error)}"] if error else []
        query += [f"as={actor}"] if actor is not None else []
        return redirect(target + ("?" + "&".join(query) if query else ""), code=303)

    def acting(form: dict[str, str], chat_id: int) -> dict[str, Any]:
        user_id = int(form.get("user_id") or chat_id)
        return users.person(user_id, form.get("first_name") or None, form.get("username") or None)

    @app.get("/_sandbox/chats")
    def chats_page() -> Response:
        with state.lock:
            chats = sorted({str(chat) for chat, _ in state.messages})
            webhook = state.webhook.get("url")
        return page("chats.html", chats=chats, webhook=webhook, error=request.args.get("error"))

    @app.get("/_sandbox/chats/<chat_id>")
    def chat_page(chat_id: str) -> Response:
        with state.lock:
            messages = chat_json(state, chat_id)
        people = {m["from"]["id"]: m["from"] for m in messages if m["side"] == "user"}
        acting_id = request.args.get("as", type=int) or next(iter(people), None) or _int_or_none(chat_id)
        actor = people.get(acting_id) or users.person(acting_id or 0)
        return page(
            "chat.html",
            chat_id=chat_id,
            messages=messages,
            people=list(people.values()),
            actor=actor,
            error=request.args.get("error"),
        )

    @app.post("/_sandbox/chats/write")
    def write_form() -> Redirect:
        form = request.form.to_dict()
        try:
            chat_id = int(form.get("chat_id") or "")
            reply_to = int(form["reply_to"]) if form.get("reply_to") else None
            update = users.write(state, chat_id, acting(form, chat_id), form.get("text") or "", reply_to)
        except (ValueError, ApiError) as exc:
            return back(form.get("chat_id") or None, str(exc) or "chat_id must be a number")
        users.deliver(state, sender, update)
        return back(chat_id, actor=int(form["user_id"]) if form.get("user_id") else None)

    @app.post("/_sandbox/chats/start")
    def start_form() -> Redirect:
        form = request.form.to_dict()
        try:
            user_id = int(form.get("user_id") or "")
            update = users.start(state, acting(form, user_id), form.get("payload") or "")
        except (ValueError, ApiError) as exc:
            return back(None, str(exc) or "user_id must be a number")
        users.deliver(state, sender, update)
        return back(user_id)

    @app.post("/_sandbox/chats/press")
    def press_form() -> Redirect:
        form = request.form.to_dict()
        try:
            chat_id = int(form.get("chat_id") or "")
            message_id = int(form.get("message_id") or "")
            update = users.press(state, chat_id, message_id, acting(form, chat_id), form.get("data") or "")
        except (ValueError, ApiError) as exc:
            return back(form.get("chat_id") or None, str(exc) or "chat_id and message_id must be numbers")
        users.deliver(state, sender, update)
        return back(chat_id, actor=int(form["user_id"]) if form.get("user_id") else None)


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
