"""Invites link a Telegram user to a tracker account once, before they expire (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy.engine import Engine

from store import staff
from store.staff import Redeemed

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_an_invite_links_once_and_the_same_person_may_open_it_again(engine: Engine) -> None:
    code = staff.create_invite(engine, "default", "ann.lee", DAY, NOW)
    assert len(code) == 24
    outcome, linked = staff.redeem(engine, code, 501, "Ann Lee", "ann", NOW)
    assert outcome is Redeemed.LINKED and linked is not None
    assert staff.find(engine, 501) == linked
    assert (linked.tracker, linked.account, linked.name) == ("default", "ann.lee", "Ann Lee")
    again, same = staff.redeem(engine, code, 501, "Ann Lee", "ann", NOW + dt.timedelta(minutes=5))
    assert again is Redeemed.ALREADY and same == linked
    stolen, nobody = staff.redeem(engine, code, 666, "Mallory", None, NOW)
    assert (stolen, nobody) == (Redeemed.USED, None)
    assert staff.find(engine, 666) is None


def test_an_expired_or_unknown_code_links_nobody(engine: Engine) -> None:
    code = staff.create_invite(engine, "default", "ann.lee", DAY, NOW)
    assert staff.redeem(engine, code, 501, "Ann", None, NOW + DAY) == (Redeemed.EXPIRED, None)
    assert staff.redeem(engine, "x" * 24, 501, "Ann", None, NOW) == (Redeemed.UNKNOWN, None)
    assert staff.members(engine) == []


def test_only_the_codes_hash_is_stored(engine: Engine) -> None:
    code = staff.create_invite(engine, "default", "ann.lee", DAY, NOW)
    with engine.connect() as conn:
        stored = [tuple(row) for row in conn.exec_driver_sql("SELECT * FROM staff_invites")]
    assert code not in repr(stored) and staff.code_hash(code) in repr(stored)


def test_a_new_link_replaces_the_old_one_for_the_account_and_the_person(engine: Engine) -> None:
    first = staff.create_invite(engine, "default", "ann.lee", DAY, NOW)
    staff.redeem(engine, first, 501, "Ann", None, NOW)
    phone = staff.create_invite(engine, "default", "ann.lee", DAY, NOW)  # Ann's new phone
    staff.redeem(engine, phone, 777, "Ann (new phone)", None, NOW)
    assert [(m.telegram_user_id, m.account) for m in staff.members(engine)] == [(777, "ann.lee")]
    other = staff.create_invite(engine, "default", "bob", DAY, NOW)
    staff.redeem(engine, other, 777, "Ann", None, NOW)  # the same person now links as bob
    assert [(m.telegram_user_id, m.account) for m in staff.members(engine)] == [(777, "bob")]


def test_two_people_opening_one_link_at_once_link_one(engine: Engine) -> None:
    code = staff.create_invite(engine, "default", "ann.lee", DAY, NOW)
    outcomes: list[Redeemed] = []
    barrier = threading.Barrier(4)

    def open_link(user_id: int) -> None:
        barrier.wait()
        outcomes.append(staff.redeem(engine, code, user_id, f"user {user_id}", None, NOW)[0])

    threads = [threading.Thread(target=open_link, args=(501 + n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([Redeemed.LINKED, Redeemed.USED, Redeemed.USED, Redeemed.USED])
    assert len(staff.members(engine)) == 1


def test_open_invites_and_remove(engine: Engine) -> None:
    used = staff.create_invite(engine, "default", "ann.lee", DAY, NOW)
    staff.redeem(engine, used, 501, "Ann", None, NOW)
    staff.create_invite(engine, "default", "bob", DAY, NOW)
    staff.create_invite(engine, "default", "old", dt.timedelta(minutes=1), NOW - DAY)
    assert [(i.account, i.expires_at) for i in staff.open_invites(engine, NOW)] == [("bob", NOW + DAY)]
    assert staff.remove(engine, "bob") == 0  # not linked; the open invite is voided all the same
    assert staff.open_invites(engine, NOW) == []
    assert staff.remove(engine, "501") == 1  # by Telegram id when no account is called so
    assert staff.members(engine) == []
