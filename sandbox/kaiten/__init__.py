"""A Kaiten look-alike: the stand-in for tests, ``trackerhub up`` with ``HUB_SANDBOX=kaiten`` and bench.

Kaiten has no self-hosted edition, so this app is built from Kaiten's documented request and response
shapes: https://developers.kaiten.ru/ (create-new-card, update-card, retrieve-card, card tags,
members, comments, files, spaces, boards, columns, lanes, card types, custom properties, users) and
the OpenAPI file extracted from those pages, ``shared/fixtures/kaiten/spec/
kaiten-openapi.AllDmeat-kaiten-sdk.yaml``, whose ``DOC_MISMATCH`` notes record live answers. The
sanitized live payloads beside it (``card_list_item``, ``custom_property_select``, ``card_type``,
``custom_property_select_values``) fixed the field names and types used below.

What it serves, under ``/api/latest`` and ``/api/v1`` (JSON, ``Authorization: Bearer <token>``):

- cards: ``GET|POST /cards`` (filters ``board_id, column_id, column_ids, lane_id, space_id, type_id,
  type_ids, tag, tag_ids, responsible_ids, external_id, condition, states, archived, query, created_ /
  updated_ / due_date_ before|after`` (times compared in UTC however they are written),
  ``limit ≤ 100, offset``;
  each item carries its ``members``, ``column``, ``lane``, ``board``, ``type`` and ``owner``, and its
  tags only as ``tag_ids``, as the documented card list does), ``GET|PATCH|DELETE /cards/{id}`` (move
  with ``board_id/column_id/lane_id``, archive with ``condition`` 2; delete is soft), tags, members
  (type 2 = responsible, one per card; ``PATCH`` type 1 makes a member plain again), comments (with
  their ``author`` and ``created``), files (``PUT`` multipart ``file``; ``POST`` JSON ``{url, name,
  type}`` adds a link to a file elsewhere, as kaiten-mcp does: types 1–6, ``external`` unless the type
  is 1, which is the sandbox's guess), children, checklists and their items (``checklists``; the list
  endpoints answer 405 as live Kaiten does), external links (``links``);
- catalogue: ``/spaces``, ``/spaces/{id}/boards``, ``/boards/{id}`` (+ ``/columns``, ``/lanes``),
  ``/card-types``, ``/company/custom-properties`` (+ ``/select-values``), ``/users``,
  ``/users/current``, ``/tags``.

It checks what Kaiten checks and answers 400 ``{"message": ...}``: a missing or over-long title, an
unknown board, column, lane or card type, a column or lane of another board, an unknown user, a
custom property id that does not exist, a value of the wrong type, a select value that is not one of
the property's values (select values are arrays of select-value ids), a card of a type that requires a
custom property without it (on create, and on a change of type or properties: the sandbox's
assumption, as Kaiten's web app refuses it and the API reference does not say). Kaiten's exact message
texts are not documented; these are the sandbox's own. Bad or missing token: 401.

Seed: space 1 "Support" with board 10 "Support desk" (columns 101 To do / 102 In progress /
103 Done of types 1/2/3, and 104 Waiting for customer, type 2, between In progress and Done; lanes 111
"Customers" and 112 "Partners") and board 20 "Development"
(columns 201-203, lane 211); card types 1 Card, 2 Bug, 3 Request, 4 Incident (requires Severity, in
``card_properties``, so routing has a field to ask for); custom properties 501 Severity
(select), 502 Customer (string), 503 Channel (multi-select), 504 Order number (number), 505 Contract
end (date); users 1 (the token's user, "Trackerhub") and 2-5 (for round-robin).

Test controls under ``/_sandbox`` (each needs the control token, see ``sandbox.server``):
``POST /_sandbox/faults`` (``FaultBook.add``; only when started with ``faults=True``, ``--faults``),
``GET|DELETE /_sandbox/faults``, ``GET /_sandbox/stats``, ``POST /_sandbox/reset`` (wipes cards,
tags, comments, files; the seed stays). With ``rate_limit=True`` it also enforces Kaiten's
5 requests/s per token, answering 429 with ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset``.
``GET|POST /_sandbox/settings`` reads and sets ``{"author_only_comment_edits": true|false}``
(start-up: ``author_only_comment_edits=True``, ``--author-only-comment-edits``): Kaiten may let only
a comment's author edit it (``PATCH /cards/{id}/comments/{comment_id}``, "author only" in the API
reference), and in that mode anyone else's edit is answered 403. Off by default, as the sandbox
has always let the hub edit an engineer's comment.

Webhooks: with ``webhook_url`` (``--webhook-url``, env ``SANDBOX_KAITEN_WEBHOOK_URL``) it sends
Kaiten's outgoing webhooks there after each change (``card:add``, ``card:update``, ``comment:add``,
``comment:update``, ``comment:remove``, ``card_member:*``; see ``webhooks``), and
``/_sandbox/webhook-deliveries`` and ``/_sandbox/webhooks/flush`` show and wait for them.

HTML: ``GET /`` lists cards; ``GET /{id}`` (Kaiten's short card link) and
``/space/{space}/boards/card/{id}`` show one. Everything is escaped by Jinja's autoescape.

Storage: one SQLite file (WAL), one connection per request; a temporary file when no path is given.

Modules: ``app`` (the app, auth, rate limit, ``main``; ``python -m sandbox.kaiten``), ``catalogue``
(the seed), ``store`` (schema), ``fields`` (card checks), ``render`` (JSON shapes), ``cards``,
``tags``, ``members``, ``comments``, ``files``, ``checklists``, ``links``, ``meta`` (REST views),
``webhooks`` (what a change sends), ``views`` and ``templates/`` (HTML).
"""
