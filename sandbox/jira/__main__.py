"""``python -m sandbox.jira``: the Jira look-alike as a process (``trackerhub up`` runs it so)."""

from sandbox.jira.app import main

raise SystemExit(main())
