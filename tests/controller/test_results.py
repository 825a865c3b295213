"""Polls and results: a day's ballots tallied at closing, with the control checks."""

from __future__ import annotations

from tests.controller.helpers import marked_ballot

BALLOTS = [
    {"style": "s1", "votes": {"mayor": ["m-asel"], "council": ["c-1", "c-2"]}},
    {"style": "s1", "votes": {"mayor": ["m-asel"], "council": ["c-3"]}},  # council undervote
    {"style": "s1", "votes": {"mayor": ["m-bakyt", "m-asel"], "council": ["c-1", "c-3"]}},  # over
    {"style": "s2", "votes": {"mayor": ["m-chyngyz"]}},
    {"style": "s2", "votes": {"mayor": []}},  # blank
    {"style": "s1", "votes": {"mayor": ["m-bakyt"], "council": ["c-1", "c-2", "c-3"]}},  # over
]
EXPECTED = {
    "mayor": {
        "options": {"m-asel": 2, "m-bakyt": 1, "m-chyngyz": 1},
        "undervotes": 0,
        "overvotes": 1,
        "blank": 1,
    },
    "council": {
        "options": {"c-1": 2, "c-2": 1, "c-3": 2},
        "undervotes": 1,
        "overvotes": 1,
        "blank": 0,
    },
}


def _day(ctx, ballots=BALLOTS, drop: bool = True) -> None:
    term, scan = ctx.device("term-1"), ctx.device("scan-1")
    for i, _ in enumerate(ballots):
        voter = ctx.voters[i]
        reply = term.request("checkin.request", {"txn": f"t{i}", "mrz": voter.mrz()})
        assert reply.body["status"] == "issued"
    for i, ballot in enumerate(ballots, start=1):
        sheet = f"scan-1-1-{i}"
        image = marked_ballot(ctx.station.election, ballot["style"], ballot["votes"])
        assert scan.reply_to(scan.upload(sheet, image)).body["decision"] == "accept"
        if drop:
            scan.request("ballot.dropped", {"sheet": sheet, "counter": i})


def test_close_polls_tallies_the_day(make_station) -> None:
    ctx = make_station()
    _day(ctx)
    with ctx.http() as http:
        assert http.get("/api/results").status_code == 409  # no tally while polls are open
        closed = http.post("/api/polls/close")
        assert closed.status_code == 200, closed.text
        results = closed.json()
        assert results["contests"] == EXPECTED
        assert (results["ballots_issued"], results["ballots_cast"]) == (6, 6)
        assert results["scanner_counters"] == {"scan-1": 6}
        assert all(results["checks"].values()), results["checks"]
        assert results["station"] == ctx.station.station and results["mode"] == "test"
        assert results["election"] == "e-2026-test"
        assert results["election_hash"] == ctx.station.election.hash
        assert set(results) == {
            "station",
            "election",
            "election_hash",
            "mode",
            "closed_at",
            "ballots_issued",
            "ballots_cast",
            "contests",
            "checks",
            "scanner_counters",
            "adjudication",
        }
        # No mark was unclear: nothing flagged, nothing waited for the commission.
        assert results["adjudication"] == {
            "flagged": 0, "adjudicated": 0, "undecided": 0, "marks": 0, "marks_counted": 0
        }
        assert http.get("/api/results").json() == results
        assert http.post("/api/polls/close").json() == results  # closing again changes nothing
        reopen = http.post("/api/polls/open")
        assert reopen.status_code == 409 and "reopen" in reopen.json()["detail"]
    term = ctx.clients[0]
    late = term.request("checkin.request", {"txn": "late", "mrz": ctx.voters[10].mrz()})
    assert late.body["status"] == "polls_closed"
    ctx.restart()
    assert ctx.station.results() == results


def test_pending_sheet_blocks_closing_unless_forced(make_station) -> None:
    ctx = make_station()
    _day(ctx, BALLOTS[:2], drop=False)
    scan = ctx.clients[1]
    scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1})
    with ctx.http() as http:
        refused = http.post("/api/polls/close")
        assert refused.status_code == 409 and "not dropped" in refused.json()["detail"]
        assert ctx.station.status()["polls"] == "open"
        results = http.post("/api/polls/close", params={"force": "true"}).json()
    assert results["ballots_cast"] == 1
    assert results["checks"]["no_pending_sheets"] is False
    # The held sheet drops after closing: on record, never counted.
    late = scan.request("ballot.dropped", {"sheet": "scan-1-1-2", "counter": 2})
    assert late.body["recorded"] is False
    assert ctx.station.results()["ballots_cast"] == 1


def test_failed_checks_are_reported(make_station) -> None:
    ctx = make_station()
    _day(ctx, BALLOTS[:1])
    # The scanner's own counter says more than the records.
    ctx.clients[1].request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 3})
    with ctx.station.store.tx() as conn:  # someone edits the audit log behind the station's back
        conn.execute("UPDATE audit SET detail = '{}' WHERE id = 2")
    with ctx.http() as http:
        verdict = http.get("/api/audit/verify").json()
        assert (verdict["intact"], verdict["first_bad_entry"]) == (False, 2)
        assert "audit entry 2 (polls.opened): its content does not match" in verdict["problems"][0]
        checks = http.post("/api/polls/close").json()["checks"]
    assert checks["scanner_counters_match_records"] is False
    assert checks["audit_chain_intact"] is False
    assert checks["issued_ge_cast"] is True


def test_open_polls_from_setup(make_station) -> None:
    ctx = make_station(polls="setup")
    with ctx.http() as http:
        assert http.get("/api/status").json()["polls"] == "setup"
        assert http.post("/api/polls/close").status_code == 409  # never opened
        assert http.post("/api/polls/open").json() == {"polls": "open"}
        assert http.post("/api/polls/open").json() == {"polls": "open"}
        assert http.get("/api/audit/verify").json()["intact"] is True
    term = ctx.device("term-1")
    assert (
        term.request("checkin.request", {"txn": "a", "mrz": ctx.voters[0].mrz()}).body["status"]
        == "issued"
    )
