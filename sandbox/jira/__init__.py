"""A Jira Data Center (or, with ``cloud=True``, ``--cloud``, Jira Cloud) look-alike: the sandbox tracker of
``trackerhub up``, the end-to-end tests and bench.

It speaks enough of the Jira Server/Data Center REST API v2 for the ``jira`` library (3.10) to work
against it unchanged. Shapes follow Atlassian's references:

- Jira Data Center REST API 9.12: https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/
- Jira Cloud platform REST API v2 where Cloud and Data Center agree:
  https://developer.atlassian.com/cloud/jira/platform/rest/v2/ (saved under
  ``../shared/fixtures/jira/``), and what ``jira/client.py`` and ``jira/resources.py`` parse.

What it serves (``/rest/api/2/...``, and the same under ``/rest/api/latest/...``):

- metadata: ``serverInfo`` (anonymous, deploymentType "Server"), ``field``, ``project[/{key}]``,
  ``issuetype``, ``priority``, ``status``, ``resolution``, ``issueLinkType``, ``myself``,
  ``user``, ``user/search``; createmeta in the Data Center 8.4+ shape
  (``issue/createmeta/{project}/issuetypes[/{id}]`` answering ``{"values": [...]}`` pages);
- issues: create (single and bulk, validated the way Jira answers: 400
  ``{"errorMessages": [], "errors": {field: message}}``), get, edit, delete, comments,
  transitions (To Do → In Progress → Waiting for customer → Done), assignee, issue links,
  remote links (upsert by ``globalId``), attachments (multipart ``file``, ``X-Atlassian-Token:
  no-check``), ``search`` with a small JQL subset compiled to SQL (anything else is a 400, not a guess:
  ``project``, ``key``, ``status``, ``statusCategory``, ``issuetype``, ``priority``, ``labels``,
  ``assignee``/``reporter`` incl. ``is EMPTY``, ``resolution``, ``created``/``updated``/``duedate``
  absolute or relative, custom fields by ``cf[N]`` or name, ``status CHANGED`` with ``AFTER``,
  ``BEFORE``, ``FROM`` and ``TO`` (from the changelog); ``ORDER BY``), and the
  ``statuscategorychangedate`` field;
- HTML: ``GET /`` lists issues newest first, ``GET /browse/{key}`` shows one (customer text escaped).

Cloud mode answers as Jira Cloud does where the hub can tell: ``serverInfo`` says ``deploymentType``
"Cloud"; users are named by ``accountId`` only (in answers, in what it takes, in JQL); ``/search`` is
gone (410) and ``/search/jql`` pages by ``nextPageToken`` and refuses an unbounded query; createmeta
answers Cloud's page shapes; comments carry ``jsdPublic``; ``/rest/api/3/bulk/issues/move`` and
``/rest/api/3/bulk/queue/{taskId}`` move issues between projects (see ``move``).

Auth: ``Authorization: Bearer <token>`` (user "hub") or Basic (that user); missing → 401.

Test controls under ``/_sandbox`` (each needs the control token, see ``sandbox.server``):
``POST /_sandbox/faults`` adds a fault rule (see ``FaultBook.add``; only when started with
``faults=True``, ``--faults``), ``DELETE /_sandbox/faults`` clears them, ``GET /_sandbox/faults`` lists them,
``GET /_sandbox/stats`` counts requests per method and URL rule, ``POST /_sandbox/reset`` wipes the
issues and the registered webhooks (the seeded projects, types and users stay, and so does the
start-up webhook) and clears faults, stats and webhook delivery records.

Webhooks, sent the way Data Center sends them (see ``webhooks``): registered with the
admin REST API (``POST``/``GET /rest/webhooks/1.0/webhook``, ``GET``/``PUT``/``DELETE
/rest/webhooks/1.0/webhook/{id}``) or at start-up (``webhook_url``, ``--webhook-url``). After a change
is committed: ``jira:issue_created``; ``comment_created``/``comment_updated``/``comment_deleted``,
each followed by ``jira:issue_updated`` with ``issue_event_type_name`` ``issue_commented``/
``issue_comment_edited``/``issue_comment_deleted`` and the comment (Data Center's double report);
``jira:issue_updated`` with a ``changelog`` for transitions (``issue_generic``), edits
(``issue_updated``) and assignments (``issue_assigned``); ``jira:issue_deleted``. Each delivery has
its own ``X-Atlassian-Webhook-Identifier`` and, with a secret, ``X-Hub-Signature: sha256=<HMAC>``;
one daemon thread posts them (timeout 5 s) and retries a connection error, 5xx or 429 after 0.5 s
and 1 s with the same identifier. ``GET /_sandbox/webhook-deliveries`` lists deliveries,
``POST /_sandbox/webhooks/flush`` waits until none is pending.

Storage is one SQLite file (WAL), one connection per request, so data survives restarts.

Modules: ``app`` (the app, auth, ``main``; ``python -m sandbox.jira``), ``catalogue`` (the seeded
projects, types, statuses, fields, users), ``store`` (schema and shared writes), ``fields`` (field
checks), ``jql`` and ``jql_sql`` (the query language), ``render`` (JSON shapes), ``meta``, ``issues``,
``search``, ``move``, ``comments``, ``links``, ``attachments`` (REST views), ``changelog`` and
``webhooks`` (what an edit records and sends), ``views`` and ``templates/`` (HTML).
"""
