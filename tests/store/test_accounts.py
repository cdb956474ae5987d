"""Console accounts: scrypt hashes that verify only their own password, names taken once, and the
rules a new account must meet (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from store import accounts


def test_a_password_is_stored_as_a_salted_scrypt_hash_that_verifies_only_itself() -> None:
    first, second = accounts.hash_password("correct horse"), accounts.hash_password("correct horse")
    assert first.startswith("scrypt$8192$8$10$") and "correct horse" not in first
    assert first != second  # salted
    assert accounts.verify_password("correct horse", first)
    assert not accounts.verify_password("correct horsE", first)
    assert not accounts.verify_password("correct horse", "scrypt$garbage")
    assert not accounts.verify_password("correct horse", "md5$1$2$3$abc$def")


def test_an_account_logs_in_with_its_password_only(engine: Engine) -> None:
    assert not accounts.any_user(engine)
    made = accounts.add_user(engine, "ada", "admin", "ada-admin-pass")
    assert accounts.any_user(engine)
    assert accounts.authenticate(engine, "ada", "ada-admin-pass") == made
    assert accounts.authenticate(engine, "ada", "wrong-password") is None
    assert accounts.authenticate(engine, "nobody", "ada-admin-pass") is None
    assert accounts.get_user(engine, made.id) == made


@pytest.mark.parametrize(
    ("name", "role", "password", "says"),
    [
        ("ada", "admin", "short", "at least 10"),
        ("ada", "root", "long-enough-pass", "the role is one of"),
        ("<script>", "viewer", "long-enough-pass", "a user name is"),
        ("ada", "viewer", "x" * 1025, "more than 1024"),
    ],
)
def test_a_bad_new_account_is_refused_saying_why(name: str, role: str, password: str, says: str) -> None:
    with pytest.raises(accounts.AccountError, match=says):
        accounts.check_new_account(name, role, password)


def test_a_name_is_taken_once(engine: Engine) -> None:
    accounts.add_user(engine, "ada", "admin", "ada-admin-pass")
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.add_user(engine, "ada", "viewer", "another-password")
