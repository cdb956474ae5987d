"""``python -m sandbox.kaiten``: the Kaiten look-alike as a process (``trackerhub up`` runs it so)."""

from sandbox.kaiten.app import main

raise SystemExit(main())
