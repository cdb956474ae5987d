"""deliver() with the journal on a real PostgreSQL, as in the multi-node layout.

The tests are test_deliver.py's own, bound here so that pytest runs them again in this module, where
``settings`` points ``DATABASE_URL`` at a fresh PostgreSQL schema: a new issue, a follow-up comment, a
create whose answer was lost (no second issue), two messages of one chat at once, and a dead letter that
replay recovers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.settings import Settings
from store.db import get_engine
from tests.jobs import test_deliver as on_sqlite

test_telegram_message_becomes_an_issue_with_labels_and_link = (
    on_sqlite.test_telegram_message_becomes_an_issue_with_labels_and_link
)
test_follow_up_in_the_same_chat_is_a_comment = on_sqlite.test_follow_up_in_the_same_chat_is_a_comment
test_create_that_succeeded_but_answered_503_is_not_repeated = (
    on_sqlite.test_create_that_succeeded_but_answered_503_is_not_repeated
)
test_two_messages_of_one_chat_at_once_make_one_issue = (
    on_sqlite.test_two_messages_of_one_chat_at_once_make_one_issue
)
test_last_attempt_makes_a_dead_letter_and_replay_recovers_it = (
    on_sqlite.test_last_attempt_makes_a_dead_letter_and_replay_recovers_it
)


@pytest.fixture
def settings(settings: Settings, postgres_url: str) -> Iterator[Settings]:
    """The shared test settings with the journal on PostgreSQL."""
    yield settings.model_copy(update={"DATABASE_URL": postgres_url})
    get_engine(postgres_url).dispose()  # the process-wide engine for this URL is not used again
