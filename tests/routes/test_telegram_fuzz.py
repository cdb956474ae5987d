"""No JSON sent to /hooks/telegram produces a 5xx, and no journaled one crashes the worker."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.routes.conftest import post_telegram, text_update

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
# updates that look real, with any value swapped in somewhere
message_keys = st.sampled_from(
    ["text", "caption", "chat", "from", "photo", "document", "message_thread_id", "date", "message_id"]
)


@st.composite
def mutated_updates(draw: st.DrawFn) -> dict:
    update = text_update(draw(st.integers(min_value=1, max_value=10**9)))
    update["message"][draw(message_keys)] = draw(json_values)
    if draw(st.booleans()):
        update["edited_message"] = update.pop("message")
    return update


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values | mutated_updates())
def test_no_json_makes_a_5xx(client: FlaskClient, value: object) -> None:
    response = post_telegram(client, json.dumps(value))
    assert response.status_code in (200, 202, 400), response.get_data()
