"""Marks the reader is unsure of: back to the voter, then flagged for the commission,
decided after closing, counted as decided — on a real broker with the real reader."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import FormatChecker, validators

from controller.election.definition import Election
from controller.intake.decision import review_message, review_warnings
from controller.nist import schemas
from controller.nist.cvr import CastBallot, build_report, new_cvr_id
from controller.nist.export import export_cvrs
from controller.polls import adjudication
from controller.polls.state import AwaitingAdjudication, PollsError
from controller.store import audit
from tests.conftest import SHARED
from tests.controller.conftest import StationCtx
from tests.controller.helpers import ELECTION_DOC, marked_ballot
from tests.controller.unclear import unclear_ballot, unclear_reader

VOTES = {"mayor": ["m-asel"], "council": ["c-1"]}
UNCLEAR = [("council", "c-2")]
PUBLISHED_CVR = SHARED / "standards" / "NIST_V0_cast_vote_records.json"


def _election() -> Election:
    return Election.from_dict(copy.deepcopy(ELECTION_DOC))


def _station(make_station, **kw: Any) -> StationCtx:
    return make_station(reader=unclear_reader(_election()), **kw)


def _feed(scan, sheet: str, image) -> dict[str, Any]:
    return scan.reply_to(scan.upload(sheet, image)).body


def _drop(scan, sheet: str, counter: int) -> dict[str, Any]:
    return scan.request("ballot.dropped", {"sheet": sheet, "counter": counter}).body


def _cast_flagged(ctx: StationCtx, votes=VOTES, unclear=UNCLEAR, first: int = 1) -> None:
    """A voter checks in; the ballot, with an unclear mark, is sent back, fed again as it
    is and cast."""
    term, scan = _clients(ctx)
    voter = ctx.voters[ctx.station.status()["checked_in"]]
    issued = term.request("checkin.request", {"txn": f"t{first}", "mrz": voter.mrz()})
    assert issued.body["status"] == "issued", issued.body
    image = unclear_ballot(ctx.station.election, "s1", votes, unclear)
    back = _feed(scan, f"scan-1-1-{first}", image)
    assert (back["decision"], back["reason"]) == ("return", "review"), back
    scan.request("ballot.returned", {"sheet": f"scan-1-1-{first}", "reason": "review"})
    again = _feed(scan, f"scan-1-1-{first + 1}", image)
    assert again["decision"] == "accept", again
    counter = ctx.station.status()["cast"] + 1
    assert _drop(scan, f"scan-1-1-{first + 1}", counter)["recorded"] is True


def _clients(ctx: StationCtx) -> tuple[Any, Any]:
    """The station's terminal and scanner clients, made once per station."""
    made = {c.device: c for c in ctx.clients}
    return tuple(made.get(d) or ctx.device(d) for d in ("term-1", "scan-1"))


def _rows(ctx: StationCtx, sql: str) -> list[tuple]:
    with ctx.station.store.read() as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def test_an_unclear_mark_goes_back_naming_the_contest_whatever_the_rules(make_station) -> None:
    ctx = _station(make_station)
    assert ctx.station.election.warn_voter == ()  # the election warns about nothing
    scan = ctx.device("scan-1")
    image = unclear_ballot(ctx.station.election, "s1", VOTES, UNCLEAR)
    first = _feed(scan, "scan-1-1-1", image)
    assert (first["decision"], first["reason"]) == ("return", "review")
    assert first["message"] == (
        "Council: unclear mark, may not count. Insert it again to cast it as it "
        "is, or ask for a new one."
    )
    assert len(first["message"]) <= 120
    # What was unclear, and where, stays out of everything with a time.
    stored = _rows(ctx, "SELECT reason, message, style FROM sheets")
    assert stored[0][0] == "review" and "Council" not in stored[0][1]
    assert stored[0][2:] == (None,)
    assert "Council" not in json.dumps([e["detail"] for e in _audit(ctx)])
    # A clean ballot is not sent back: there is nothing unsure about it.
    clean = marked_ballot(ctx.station.election, "s1", VOTES)
    assert _feed(scan, "scan-1-1-2", clean)["decision"] == "accept"


def _audit(ctx: StationCtx, kind: str | None = None) -> list[dict[str, Any]]:
    with ctx.station.store.read() as conn:
        return audit.entries(conn, kind)


def test_the_unclear_mark_is_warned_about_in_every_language() -> None:
    e = _election()
    marks = [{"contest": "council", "option": "c-2", "score": 0.1, "class": "marginal"},
             {"contest": "mayor", "option": "m-asel", "score": 1.0, "class": "marked"}]
    verdicts = {"mayor": "ok", "council": "undervote"}
    warnings = review_warnings(e, VOTES, verdicts, marks)
    assert warnings == [{"kind": "marginal", "contests": ["council"]}]
    assert review_message(warnings, e, "ru", None).startswith("Совет: нечёткая отметка")
    assert review_message(warnings, e, "ky", None).startswith("Кеңеш: белги так эмес")
    # With rules as well, the unclear mark comes first; a ballot whose only mark is
    # unclear is not called one "without a mark".
    both = Election.from_dict(copy.deepcopy(ELECTION_DOC) | {"warn_voter": ["blank"]})
    only_unclear = review_warnings(both, {"mayor": [], "council": []},
                                   {"mayor": "blank", "council": "blank"}, marks[:1])
    assert only_unclear == [{"kind": "marginal", "contests": ["council"]}]


def test_fed_again_it_is_cast_and_flagged_for_after_closing(make_station) -> None:
    ctx = _station(make_station)
    _cast_flagged(ctx)
    # While voters vote, nothing says that a flagged ballot went in.
    status = ctx.station.status()
    assert status["cast"] == 1 and "adjudication" not in status
    with pytest.raises(adjudication.AdjudicationError) as err:
        ctx.station.flagged_ballots()
    assert err.value.status == 409
    with ctx.http() as http:
        assert http.get("/api/adjudication").status_code == 409
        [record] = _rows(ctx, "SELECT id FROM cvrs")
        assert http.get(f"/api/adjudication/{record[0]}/image").status_code == 404
        # Closing closes, but the results wait for the commission.
        closed = http.post("/api/polls/close")
        assert closed.status_code == 409 and "flagged" in closed.json()["detail"]
        assert ctx.station.status()["polls"] == "closed"
        assert http.get("/api/results").status_code == 409
        assert http.get("/api/cvr").status_code == 409
        listed = http.get("/api/adjudication").json()
        assert listed["summary"] == {"flagged": 1, "adjudicated": 0, "undecided": 1,
                                     "marks": 1, "marks_counted": 0}
        [ballot] = listed["ballots"]
        assert ballot["record"] == record[0] and ballot["decided"] is False
        unclear = [m for m in ballot["marks"] if m["class"] == "marginal"]
        assert [(m["contest"], m["option"]) for m in unclear] == UNCLEAR
        assert set(ballot["thresholds"]) >= {"marked", "marginal"}
        image = http.get(f"/api/adjudication/{record[0]}/image")
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert ctx.station.status()["adjudication"]["undecided"] == 1
    closing = _audit(ctx, "polls.closed")
    assert closing[-1]["detail"]["awaiting_adjudication"] == 1


def _decide(http: httpx.Client, record: str, decision: str, **extra: Any) -> httpx.Response:
    body = {"by": "A. Chair", "reason": "a clear tick inside the oval",
            "marks": [{"contest": "council", "option": "c-2", "decision": decision}]}
    return http.post(f"/api/adjudication/{record}", json=body | extra)


@pytest.mark.parametrize("decision", ["vote", "not_vote"])
def test_the_commission_decides_and_the_results_count_it(make_station, decision: str) -> None:
    ctx = _station(make_station)
    _cast_flagged(ctx)
    with ctx.http() as http:
        assert http.post("/api/polls/close").status_code == 409
        [(record,)] = _rows(ctx, "SELECT id FROM cvrs")
        decided = _decide(http, record, decision)
        assert decided.status_code == 200, decided.text
        assert decided.json()["decided"] is True
        # Until the results are produced a decision may be changed, and is audited again.
        other = "not_vote" if decision == "vote" else "vote"
        assert _decide(http, record, other).status_code == 200
        assert _decide(http, record, decision).status_code == 200
        results = http.post("/api/polls/close")
        assert results.status_code == 200, results.text
        counts = results.json()
        assert http.get("/api/results").json() == counts
        # Final now: no more changes.
        late = _decide(http, record, other)
        assert late.status_code == 409 and "final" in late.json()["detail"]
        export = http.get("/api/cvr").json()
    counted = decision == "vote"
    assert counts["contests"]["council"]["options"]["c-2"] == int(counted)
    assert counts["contests"]["council"]["options"]["c-1"] == 1
    assert counts["contests"]["council"]["undervotes"] == int(not counted)
    assert counts["adjudication"] == {"flagged": 1, "adjudicated": 1, "undecided": 0,
                                      "marks": 1, "marks_counted": int(counted)}
    assert all(counts["checks"].values()), counts["checks"]
    # The audit log says who decided, how many marks and how many counted, and commits
    # to the decision by its hash: never which option.
    entries = _audit(ctx, "ballot.adjudicated")
    assert len(entries) == 3
    last = entries[-1]["detail"]
    assert (last["record"], last["marks"], last["counted"], last["by"]) == (
        record, 1, int(counted), "A. Chair")
    assert last["decision_sha256"] == adjudication.decision_digest(
        record, {("council", "c-2"): decision}, "A. Chair", "a clear tick inside the oval")
    logged = json.dumps([e["detail"] for e in _audit(ctx)])
    assert "c-2" not in logged and "c-1" not in logged and "m-asel" not in logged
    assert _audit(ctx, "results.final")
    # The printed protocol carries the same line.
    from controller.dashboard.i18n import TEXTS
    from controller.printing.config import parse_settings
    from controller.printing.protocol_layout import protocol_sections

    settings = parse_settings({"printer": "file:/x", "language": "en"})
    sections = protocol_sections(counts, ctx.station.election, settings)
    [control] = [sec for sec in sections if sec.name == "control"]
    printed = " ".join(line.text for line in control.lines)  # labels wrap on narrow paper
    for label, value in (("adj_flagged", "1"), ("adj_adjudicated", "1"),
                         ("adj_marks_counted", f"{int(decision == 'vote')} / 1")):
        assert re.search(re.escape(TEXTS["en"][label]) + r" \.+ " + re.escape(value), printed), (
            label, printed)
    # The cast vote record: the reader's snapshot says it needs adjudication, the
    # modified one counts the decision and is current.
    [cvr] = export["report"]["CVR"]
    snapshots = {s["Type"]: s for s in cvr["CVRSnapshot"]}
    assert snapshots["interpreted"]["Status"] == ["needs-adjudication"]
    assert cvr["CurrentSnapshotId"] == snapshots["modified"]["@id"]
    assert snapshots["modified"]["Annotation"][0]["AdjudicatorName"] == ["A. Chair"]
    council = next(c for c in snapshots["modified"]["CVRContest"] if c["ContestId"] == "council")
    chosen = {s["ContestSelectionId"]: s["SelectionPosition"][0]
              for s in council["CVRContestSelection"]}
    assert chosen["council.c-2"]["Status"] == ["adjudicated"]
    assert chosen["council.c-2"]["NumberVotes"] == int(counted)
    assert council["Selections"] == 1 + int(counted)
    # The closing seal (results.final) signs the decisions with the records: a decision
    # changed in the store afterwards is named, and the recount differs.
    verdict = ctx.station.verify_audit()
    assert verdict.ok and verdict.paper_code and verdict.recounted, verdict.problems
    with ctx.station.store.tx() as conn:
        conn.execute("UPDATE adjudications SET decision = ? WHERE cvr = ?", (other, record))
    problems = ctx.station.verify_audit().problems
    assert f"cvrs: record {record} was changed after closing (votes, reading or decisions)" \
        in problems
    assert any(p.startswith("results: council / c-2: the results say") for p in problems)


def test_an_adjudicated_vote_can_make_an_overvote() -> None:
    e = _election()
    votes = {"mayor": ["m-asel"], "council": []}
    verdicts = {"mayor": "ok", "council": "blank"}
    made = {("mayor", "m-bakyt"): adjudication.Decision("vote", "x", "y")}
    after_votes, after = adjudication.apply(e, votes, verdicts, made)
    assert after_votes["mayor"] == ["m-asel", "m-bakyt"] and after["mayor"] == "overvote"
    assert votes["mayor"] == ["m-asel"]  # the reading itself is left as it was
    not_vote = {("council", "c-1"): adjudication.Decision("not_vote", "x", "y")}
    assert adjudication.apply(e, votes, verdicts, not_vote) == (votes, verdicts)


def test_a_station_that_does_not_return_flags_at_once(make_station, tmp_path: Path) -> None:
    ctx = _station(make_station)
    ctx.station.dispatcher.intake.return_marginal = False
    scan = _clients(ctx)[1]
    image = unclear_ballot(ctx.station.election, "s1", VOTES, UNCLEAR)
    assert _feed(scan, "scan-1-1-1", image)["decision"] == "accept"
    _drop(scan, "scan-1-1-1", 1)
    with pytest.raises(AwaitingAdjudication):
        ctx.station.close_polls()
    assert ctx.station.flagged_ballots()["summary"]["flagged"] == 1


def test_the_setup_file_can_say_not_to_return(tmp_path: Path) -> None:
    from controller.station.setup import SetupError, parse_setup

    (tmp_path / "e.json").write_text("{}")
    (tmp_path / "v.csv").write_text("")
    base = {"station": "s-1", "mode": "test", "election": "e.json", "voters": "v.csv",
            "devices": []}
    assert parse_setup(base, tmp_path).return_marginal is True
    assert parse_setup(base | {"return_marginal": False}, tmp_path).return_marginal is False
    with pytest.raises(SetupError, match="return_marginal"):
        parse_setup(base | {"return_marginal": "no"}, tmp_path)


BAD_BODIES: list[tuple[Any, int, str]] = [
    ({"by": "A", "reason": "r", "marks": []}, 422, "marks"),
    ({"by": "", "reason": "r", "marks": [{"contest": "council", "option": "c-2",
                                          "decision": "vote"}]}, 422, "by"),
    ({"by": "A", "reason": "r", "marks": [{"contest": "council", "option": "c-2",
                                           "decision": "maybe"}]}, 422, "decision"),
    ({"by": "A", "reason": "r", "marks": [{"contest": "council", "option": "c-1",
                                           "decision": "vote"}]}, 422, "not marginal"),
    ({"by": "A", "reason": "r", "marks": [{"contest": "council", "option": "c-2",
                                           "decision": "vote"}] * 2}, 422, "twice"),
    ({"by": "A", "reason": "r", "marks": [{"contest": "council", "option": "c-2",
                                           "decision": "vote", "extra": 1}]}, 422, "marks[0]"),
    ({"by": "A\x07", "reason": "r", "marks": [{"contest": "council", "option": "c-2",
                                               "decision": "vote"}]}, 422, "control"),
    ({"by": "A" * 81, "reason": "r", "marks": [{"contest": "council", "option": "c-2",
                                                "decision": "vote"}]}, 422, "longer"),
    ({"by": "A", "reason": "r" * 401, "marks": [{"contest": "council", "option": "c-2",
                                                 "decision": "vote"}]}, 422, "longer"),
    ({"by": "A", "reason": "r", "votes": {}, "marks": [1]}, 422, "unknown field"),
    (["not", "an", "object"], 422, "object"),
]


def test_forged_broken_and_oversized_decisions_change_nothing(make_station) -> None:
    ctx = _station(make_station)
    _cast_flagged(ctx)
    [(record,)] = _rows(ctx, "SELECT id FROM cvrs")
    # A ballot without an unclear mark, cast beside it, is nobody's to decide.
    term, scan = _clients(ctx)
    assert term.request("checkin.request", {"txn": "clean", "mrz": ctx.voters[1].mrz()}
                        ).body["status"] == "issued"
    assert _feed(scan, "scan-1-1-9", marked_ballot(ctx.station.election, "s1", VOTES)
                 )["decision"] == "accept"
    assert _drop(scan, "scan-1-1-9", 2)["recorded"] is True
    [(clean,)] = _rows(ctx, f"SELECT id FROM cvrs WHERE id != '{record}'")
    with ctx.http() as http:
        # Before closing: refused, the list is not even shown.
        assert _decide(http, record, "vote").status_code == 409
        http.post("/api/polls/close")
        before = len(_audit(ctx))
        for body, status, words in BAD_BODIES:
            answer = http.post(f"/api/adjudication/{record}", json=body)
            assert answer.status_code == status, (body, answer.text)
            assert words in answer.json()["detail"], (body, answer.json())
        # Ids that are no flagged ballot: unknown, forged, of the wrong form.
        for bad in (clean, "cvr-" + "0" * 32, new_cvr_id(), "cvr-XYZ", "scan-1-1-2",
                    "..%2Fstation.db", "cvr-" + "a" * 300):
            answer = _decide(http, bad, "vote")
            assert answer.status_code == 404, (bad, answer.text)
            assert http.get(f"/api/adjudication/{bad}/image").status_code == 404
        broken = http.post(f"/api/adjudication/{record}", content=b"{not json",
                           headers={"content-type": "application/json"})
        assert broken.status_code == 400 and "JSON" in broken.json()["detail"]
        huge = {"by": "A", "reason": "r", "marks": [{"contest": "x" * 40, "option": "y" * 40,
                                                     "decision": "vote"}] * 400}
        oversized = http.post(f"/api/adjudication/{record}", json=huge)
        assert oversized.status_code == 413
        chunked = http.post(f"/api/adjudication/{record}",
                            content=iter([b"[" + b"1," * 10_000 + b"1]"]),
                            headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        listed = http.get("/api/adjudication").json()
        assert [b["record"] for b in listed["ballots"]] == [record]  # the clean one is not
        assert listed["summary"]["undecided"] == 1
    assert _rows(ctx, "SELECT * FROM adjudications") == []
    assert len(_audit(ctx)) == before
    assert ctx.station.verify_audit().ok


def _ballot(record_id: str, adjudicated: dict) -> CastBallot:
    marks = [
        {"contest": "mayor", "option": "m-asel", "score": 1.0, "class": "marked"},
        {"contest": "mayor", "option": "m-bakyt", "score": 0.3, "class": "marginal"},
        {"contest": "mayor", "option": "m-chyngyz", "score": 0.0, "class": "unmarked"},
        {"contest": "council", "option": "c-1", "score": 0.3, "class": "marginal"},
        {"contest": "council", "option": "c-2", "score": 0.0, "class": "unmarked"},
        {"contest": "council", "option": "c-3", "score": 0.0, "class": "unmarked"},
    ]
    return CastBallot(record_id, "scan-1", "s1", "ab" * 32, {"mayor": ["m-asel"], "council": []},
                      {"mayor": "ok", "council": "blank"}, marks,
                      {"marked": 0.5, "marginal": 0.2}, adjudicated)


def test_adjudicated_records_are_valid_cast_vote_records() -> None:
    e = _election()
    ballots = [
        _ballot(new_cvr_id(), {}),  # flagged, not decided
        _ballot(new_cvr_id(), {("mayor", "m-bakyt"): ("vote", "A", "tick"),  # now an overvote
                               ("council", "c-1"): ("not_vote", "B", "a speck")}),
        _ballot(new_cvr_id(), {("council", "c-1"): ("vote", "A", "line")}),  # one of two
    ]
    report = build_report(e, ballots, "st-1", "test")
    assert schemas.validate(report, schemas.CAST_VOTE_RECORDS) == []
    by_id = {c["UniqueId"]: c for c in report["CVR"]}
    over = by_id[ballots[1].id]
    modified = over["CVRSnapshot"][-1]
    mayor = next(c for c in modified["CVRContest"] if c["ContestId"] == "mayor")
    assert mayor["Status"] == ["overvoted"] and mayor["Overvotes"] == 1
    assert "Status" not in modified  # every mark decided
    partly = by_id[ballots[2].id]["CVRSnapshot"][-1]
    assert partly["Status"] == ["needs-adjudication"]  # m-bakyt is still open
    assert len(by_id[ballots[0].id]["CVRSnapshot"]) == 2
    if not PUBLISHED_CVR.is_file():
        pytest.skip(f"the published schema is not beside the checkout ({PUBLISHED_CVR})")
    schema = json.loads(PUBLISHED_CVR.read_text(encoding="utf-8"))
    validator = validators.validator_for(schema)(schema, format_checker=FormatChecker())
    assert [err.message for err in validator.iter_errors(report)] == []


def test_export_waits_for_the_results(make_station) -> None:
    ctx = _station(make_station)
    _cast_flagged(ctx)
    with pytest.raises(AwaitingAdjudication):
        ctx.station.close_polls()
    with pytest.raises(PollsError):
        export_cvrs(ctx.station.store)
    [(record,)] = _rows(ctx, "SELECT id FROM cvrs")
    ctx.station.adjudicate(record, {"by": "A", "reason": "r", "marks": [
        {"contest": "council", "option": "c-2", "decision": "vote"}]})
    assert ctx.station.flagged_ballots()["summary"]["undecided"] == 0
    results = ctx.station.close_polls()
    assert results["adjudication"]["marks_counted"] == 1
    assert export_cvrs(ctx.station.store, schema_check=True).count == 1


def test_a_decision_edited_in_the_store_fails_a_check(make_station) -> None:
    ctx = _station(make_station)
    _cast_flagged(ctx, unclear=[("mayor", "m-bakyt"), ("council", "c-2")])
    with pytest.raises(AwaitingAdjudication):
        ctx.station.close_polls()
    [(record,)] = _rows(ctx, "SELECT id FROM cvrs")
    # A decision must cover every unclear mark of the ballot at once.
    with pytest.raises(adjudication.AdjudicationError, match="at once"):
        with ctx.station.store.tx() as conn:
            adjudication.decide(conn, record, {"by": "A", "reason": "r", "marks": [
                {"contest": "mayor", "option": "m-bakyt", "decision": "vote"}]}, "closed")
    ctx.station.adjudicate(record, {"by": "A", "reason": "r", "marks": [
        {"contest": "council", "option": "c-2", "decision": "not_vote"},
        {"contest": "mayor", "option": "m-bakyt", "decision": "not_vote"}]})
    with ctx.station.store.tx() as conn:
        assert adjudication.audited(conn) == []
        conn.execute(  # behind the log's back
            "UPDATE adjudications SET decision = 'vote' WHERE contest = 'council'"
        )
        assert adjudication.audited(conn) == [record]
    results = ctx.station.close_polls()
    assert results["checks"]["adjudications_audited"] is False
    assert results["adjudication"]["marks_counted"] == 1
    assert results["adjudication"]["marks"] == 2
