"""A Telegram Bot API stand-in for tests and ``trackerhub up``: in memory, no network, any token.

It answers the calls the hub makes the way the cloud Bot API does (https://core.telegram.org/bots/api,
"Making requests": parameters as query string, form or JSON; replies ``{"ok": true, "result": ...}``
or ``{"ok": false, "error_code", "description", "parameters"?}``):

- ``/bot<token>/sendMessage``: checks ``parse_mode=HTML`` text the way Telegram does ("can't parse
  entities" for a stray ``<`` or ``&``, "message is too long" past 4096 characters after parsing),
  records the call and answers a ``Message``;
- ``/bot<token>/getFile`` and ``GET /file/bot<token>/<file_path>``: files registered through
  ``POST /_sandbox/files``; a registered size over 20 MB answers "Bad Request: file is too big";
- ``/bot<token>/getMe``, ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo``;
- ``reply_markup`` on ``sendMessage`` (inline keyboards checked as Telegram does: one action per
  button, ``callback_data`` 1–64 bytes), ``editMessageText``, ``editMessageReplyMarkup`` and
  ``answerCallbackQuery`` (once per press, within ``answer_window`` seconds).

The other side of the chats (``users``): what people write, the ``/start`` deep links they open and the
buttons they press are sent to the webhook (``setWebhook``'s, or ``webhook_url`` / ``--webhook-url``
given at start, ``trackerhub up``'s hub) as ``Update`` objects with the ``secret_token`` header:
``POST /_sandbox/users/write {chat_id, text, from?, reply_to_message_id?}``, ``POST
/_sandbox/users/start {from, payload}``, ``POST /_sandbox/users/press {chat_id, message_id, data,
from?}`` (only a button the message has now); ``GET /_sandbox/presses`` (with the bot's answers),
``GET /_sandbox/chats/<chat_id>.json``, ``GET /_sandbox/webhook-deliveries``, ``POST
/_sandbox/webhooks/flush``; and the HTML chat page ``GET /_sandbox/chats`` (``chats``) that does the same
from a browser.

Test controls under ``/_sandbox`` (each needs the control token, see ``sandbox.server``):

- ``POST /_sandbox/files``: JSON ``{file_id, content_base64, file_size?, file_name?}`` or multipart
  (``file`` part plus form fields ``file_id``, ``file_size?``); answers ``{file_id, file_path, file_size}``;
- ``GET /_sandbox/sent[?chat_id=]`` lists recorded ``sendMessage`` calls, ``DELETE`` clears them;
- ``POST /_sandbox/faults {"status": 429, "retry_after": 2, "count": N, "description"?, "delay"?}``:
  the next N Bot API calls (file downloads included) answer that error (``delay`` seconds late); with
  ``"after_delivery": true`` they are done and answered with success ``delay`` seconds late instead; only
  when started with ``faults=True`` (``--faults``), else 403; ``DELETE /_sandbox/faults`` clears them;
- ``POST /_sandbox/blocked {"chat_id"}``: sends to that chat answer 403 "bot was blocked by the user";
- ``GET /_sandbox/webhook``: the last ``setWebhook`` call; ``POST /_sandbox/reset``: forget everything.

``files_dir``, when given, pre-registers every regular file in it under ``file_id`` = its name.

Modules: ``app`` (the app, its controls, ``main``; ``python -m sandbox.telegram``), ``methods`` (the Bot
API methods and Telegram's HTML check), ``edits`` (answers and edits after a press), ``keyboards``
(``reply_markup``'s check), ``users`` (the people's updates and their delivery), ``chats`` (the chat
page), ``state`` (what it remembers).
"""
