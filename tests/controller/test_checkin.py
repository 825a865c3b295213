"""Check-in: one voter, one ballot, whatever two terminals do at once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from controller.checkin.check_in import check_in
from controller.checkin.voter_list import Voter, store_voters
from controller.store.database import Store
from protocol.errors import ProtocolError
from tests.controller.helpers import make_voters


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "station.db")
    voters = make_voters(30)
    with s.tx() as conn:
        store_voters(conn, [Voter(**v.__dict__) for v in voters])
    s.voters = voters
    yield s
    s.close()


def _body(voter, txn: str) -> dict:
    return {"txn": txn, "mrz": voter.mrz(), "doc": {}}


def test_two_threads_one_voter_one_ballot(store: Store) -> None:
    for voter in store.voters:
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def terminal(device: str, voter=voter, barrier=barrier, results=results) -> None:
            barrier.wait()
            with store.tx() as conn:
                results[device] = check_in(conn, device, _body(voter, f"x{voter.row}"), "open")[
                    "status"
                ]

        threads = [threading.Thread(target=terminal, args=(d,)) for d in ("term-1", "term-2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results.values()) == ["already_issued", "issued"], voter.row
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0] == len(store.voters)


def test_unique_constraint_is_the_backstop(store: Store) -> None:
    voter = store.voters[0]
    with store.tx() as conn:
        conn.execute(
            "INSERT INTO issuances (voter_row, device, txn) "
            "VALUES (?, 'term-9', 'z')",
            (voter.row,),
        )
    with store.tx() as conn:
        result = check_in(conn, "term-1", _body(voter, "a"), "open")
    assert result["status"] == "already_issued"
    assert result["voter"] == {"row": voter.row, "name": f"{voter.surname} {voter.given_names}"}
    assert result["style"] is None
    with store.tx() as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO issuances (voter_row, device, txn) "
            "VALUES (?, 'term-8', 'y')",
            (voter.row,),
        )


def test_a_repeated_transaction_is_answered_issued_again(store: Store) -> None:
    voter = store.voters[4]  # a passport holder: TD3
    with store.tx() as conn:
        first = check_in(conn, "term-1", _body(voter, "txn-7"), "open")
    with store.tx() as conn:
        again = check_in(conn, "term-1", _body(voter, "txn-7"), "open")
    assert first == again and first["status"] == "issued" and first["style"] == voter.style
    with store.tx() as conn:
        other_terminal = check_in(conn, "term-2", _body(voter, "txn-7"), "open")
    assert other_terminal["status"] == "already_issued"
    # The same transaction id for another document is a terminal bug, not a check-in.
    with store.tx() as conn, pytest.raises(ProtocolError, match="another document"):
        check_in(conn, "term-1", _body(store.voters[5], "txn-7"), "open")
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0] == 1


def test_refusals_issue_nothing(store: Store) -> None:
    voter = store.voters[0]
    lines = voter.mrz()
    bad_digit = [lines[0][:14] + str((int(lines[0][14]) + 1) % 10) + lines[0][15:]] + lines[1:]
    stranger = make_voters(40)[35]
    older = voter.__class__(**{**voter.__dict__, "birth_date": "1950-01-01"})
    cases = [
        ({"txn": "a", "mrz": bad_digit}, "invalid_document", "check digit"),
        ({"txn": "b", "mrz": ["SHORT", "LINES"]}, "invalid_document", "unreadable"),
        ({"txn": "c", "mrz": stranger.mrz()}, "not_on_list", None),
        ({"txn": "d", "mrz": older.mrz()}, "invalid_document", "birth date"),
    ]
    for body, status, reason in cases:
        with store.tx() as conn:
            result = check_in(conn, "term-1", body, "open")
        assert result["status"] == status, body
        assert result["style"] is None
        if reason:
            assert reason in result["reason"]
    with store.tx() as conn:
        assert check_in(conn, "term-1", _body(voter, "e"), "setup")["status"] == "polls_closed"
        assert check_in(conn, "term-1", _body(voter, "f"), "closed")["status"] == "polls_closed"
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"txn": "", "mrz": ["X"]},
        {"txn": "t" * 65, "mrz": ["X"]},
        {"txn": "t", "mrz": "line"},
        {"txn": "t", "mrz": ["A" * 200]},
        {"txn": 5, "mrz": ["X"]},
    ],
    ids=["empty", "empty-txn", "long-txn", "mrz-not-list", "long-line", "txn-not-text"],
)
def test_malformed_requests_raise(store: Store, body: dict) -> None:
    with store.tx() as conn, pytest.raises(ProtocolError):
        check_in(conn, "term-1", body, "open")


def test_two_terminals_on_the_broker_at_the_same_moment(make_station) -> None:
    ctx = make_station(voters=10)
    t1, t2 = ctx.device("term-1"), ctx.device("term-2")
    for voter in ctx.voters:
        _, p1 = t1.seal("checkin.request", _body(voter, f"a{voter.row}"))
        _, p2 = t2.seal("checkin.request", _body(voter, f"b{voter.row}"))
        i1 = t1.client.publish(f"shailoo/v1/{ctx.station.station}/dev/term-1/up", p1, 1)
        i2 = t2.client.publish(f"shailoo/v1/{ctx.station.station}/dev/term-2/up", p2, 1)
        i1.wait_for_publish(10)
        i2.wait_for_publish(10)
    statuses = []
    for voter in ctx.voters:
        statuses.append(
            sorted([t1.reply_to(voter.row).body["status"], t2.reply_to(voter.row).body["status"]])
        )
    assert statuses == [["already_issued", "issued"]] * len(ctx.voters)
    assert ctx.station.status()["checked_in"] == len(ctx.voters)
