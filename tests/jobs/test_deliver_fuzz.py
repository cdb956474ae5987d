"""Whatever the Telegram hook accepts, the worker ends in a journal status; it never raises."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings

from jobs.context import Context
from jobs.deliver import deliver_with
from routes import create_app
from tests.routes.conftest import post_telegram
from tests.routes.test_telegram_fuzz import mutated_updates


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_updates())
def test_accepted_updates_never_crash_the_worker(ctx: Context, update: dict) -> None:
    client: FlaskClient = create_app(ctx.settings, ctx.config).test_client()
    response = post_telegram(client, json.dumps(update))
    assert response.status_code in (200, 202, 400)
    if response.status_code == 202:
        assert deliver_with(ctx, response.get_json()["id"]) in ("delivered", "failed", "queued", "ignored")
