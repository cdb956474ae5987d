"""``trackerhub web`` preloads the app (gunicorn ``--preload``): its workers are forks of a master that
built it, so each must answer with connections of its own, never the master's, and its own random state."""

from __future__ import annotations

import random

import sqlalchemy as sa
from flask import Flask

from routes.state import Hub
from tests.forking import in_child
from tests.routes.conftest import post_telegram, text_update


def test_a_worker_forked_from_the_preloaded_app_answers_on_connections_of_its_own(app: Flask) -> None:
    hub: Hub = app.extensions["hub"]
    assert hub.redis is not None
    with hub.engine.connect() as conn:  # the master's pooled connection, marked
        conn.execute(sa.text("CREATE TEMP TABLE opened_by_master (x INTEGER)"))
        conn.commit()
    hub.redis.client_setname("master")
    master_random = random.getstate()

    def serve_one() -> dict[str, object]:
        answer = post_telegram(app.test_client(), text_update(update_id=7))
        with hub.engine.connect() as conn:
            inherited = conn.execute(
                sa.text("SELECT count(*) FROM sqlite_temp_master WHERE name = 'opened_by_master'")
            ).scalar()
        return {
            "status": answer.status_code,
            "inherited_db_connection": bool(inherited),
            "redis_name": hub.redis.client_getname(),
            "same_random": random.getstate() == master_random,
        }

    answer = in_child(serve_one)

    assert answer == {
        "ok": {"status": 202, "inherited_db_connection": False, "redis_name": None, "same_random": False}
    }
    assert hub.redis.client_getname() == "master"  # the master's connection was left alone
