"""The ``trackerhub`` command.

``up`` runs everything on one machine for a first look or a small team (``cli/up.py``); ``web``,
``worker`` and ``scheduler`` run one production process each (``cli/processes.py``); the rest are an
operator's one-shot commands (``route``, ``automations``, ``sla``, ``staff``, ``report``, ``admin`` and
``config`` among them). Each command module registers itself on the group in ``cli/common.py``.
"""

from cli import admin, automations, configuration, node, operate, processes, report, sla, staff, up
from cli import route as route_command
from cli.common import main

__all__ = [
    "admin",
    "automations",
    "configuration",
    "main",
    "node",
    "operate",
    "processes",
    "report",
    "route_command",
    "sla",
    "staff",
    "up",
]
