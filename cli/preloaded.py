"""gunicorn serving an app already built in this process: ``trackerhub node``'s web server (cli/node.py).

A module of its own so that only that command imports gunicorn.
"""

from __future__ import annotations

import gc

from flask import Flask
from gunicorn.app.base import BaseApplication


class PreloadedServer(BaseApplication):
    """gunicorn's custom application (its ``BaseApplication``) whose app is the one given, with the
    settings ``web`` passes on gunicorn's command line, after ``GUNICORN_CMD_ARGS`` as there."""

    def __init__(self, app: Flask, args: list[str]) -> None:
        self.application = app
        self.args = args
        super().__init__()

    def load_config(self) -> None:
        parser = self.cfg.parser()
        for parsed in (parser.parse_args(self.cfg.get_cmd_args_from_env()), parser.parse_args(self.args)):
            for key, value in vars(parsed).items():
                if value is not None and key != "args":
                    self.cfg.set(key.lower(), value)
        self.cfg.set("preload_app", True)  # the app is built: the arbiter hands it to its workers
        self.cfg.set("pre_fork", _freeze)

    def load(self) -> Flask:
        return self.application


def _freeze(_server: object, _worker: object) -> None:
    """Before the arbiter forks a worker: what it has built since the node's fork (its settings, logs,
    sockets) stays out of the worker's collections too, as the node's objects do."""
    gc.freeze()
