"""``python -m sandbox.telegram``: the Bot API stand-in as a process (``trackerhub up`` runs it so)."""

from sandbox.telegram.app import main

raise SystemExit(main())
