"""Cast vote records (NIST SP 1500-103): written from real readings, kept at the drop, exported.

The readings come from the real reader on real rendered ballots, marked in every way
that matters: a clear vote, an overvote, "against all" with a candidate, a blank
ballot, a contest left short, a thin pencil stroke that is only marginal.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from controller.ballots.read import read_ballot
from controller.ballots.render import render_ballot
from controller.election.definition import Election
from controller.election.load import load_election
from controller.intake.ledger import cast_ballots
from controller.intake.sheets import Intake
from controller.nist import schemas
from controller.nist.cvr import (
    CastBallot,
    CvrError,
    build_cvr,
    build_report,
    check_report,
    new_cvr_id,
    records_sha256,
    report_bytes,
)
from controller.nist.export import export_cvrs
from controller.polls import adjudication
from controller.polls.closing import close_polls
from controller.polls.state import AwaitingAdjudication, open_polls
from controller.store import audit
from controller.store import database as store_module
from controller.store.database import MIGRATIONS, Store, get_meta, set_meta
from protocol import canonical
from protocol.blob import BlobSender
from shailoo.cli import main
from tests.controller.helpers import ELECTION_DOC, marked_ballot

ROOT = Path(__file__).resolve().parents[2]
NIST_EXAMPLE = ROOT / "examples" / "election.nist.json"
STATION = "ps-5101"
WHEN = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


@cache
def _election() -> Election:
    return load_election(NIST_EXAMPLE)


@cache
def _blank(style: str) -> tuple[Image.Image, dict[str, Any]]:
    return render_ballot(_election(), style, dpi=100, mode="test")


def _sheet(style: str, votes: dict[str, list[str]], marginal: tuple[str, ...] = ()) -> np.ndarray:
    """A ballot of ``style`` with ``votes`` filled and a hesitation dot on ``marginal``."""
    blank, layout = _blank(style)
    image = blank.copy()
    draw = ImageDraw.Draw(image)
    for t in layout["targets"]:
        if t["option"] in votes.get(t["contest"], []):
            draw.ellipse([t["x"], t["y"], t["x"] + t["w"], t["y"] + t["h"]], fill=20)
        if t["option"] in marginal:
            # A hesitation dot about 1 mm across (a stroke across the oval is a vote).
            cx, cy, r = t["x"] + t["w"] / 2, t["y"] + t["h"] / 2, 0.5 * 100 / 25.4
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=30)
    return np.asarray(image, dtype=np.uint8)


def _read(style: str, votes: dict[str, list[str]], marginal: tuple[str, ...] = ()) -> dict:
    return read_ballot(_sheet(style, votes, marginal), _election(), mode="test")


def _ballot(reading: dict[str, Any], device: str = "scan-1") -> CastBallot:
    assert reading["status"] == "accepted", reading
    return CastBallot(
        id=new_cvr_id(),
        device=device,
        style=reading["style"],
        image_sha256=hashlib.sha256(repr(reading).encode()).hexdigest(),
        votes=reading["votes"],
        verdicts=reading["contests"],
        marks=reading["marks"],
        thresholds=reading["thresholds"],
    )


def _contest(cvr: dict[str, Any], snapshot: str, contest: str) -> dict[str, Any]:
    snap = next(s for s in cvr["CVRSnapshot"] if s["Type"] == snapshot)
    return next(c for c in snap["CVRContest"] if c["ContestId"] == contest)


def _selections(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        s["ContestSelectionId"].split(".", 1)[1]: s["SelectionPosition"][0]
        for s in entry.get("CVRContestSelection", [])
    }


# -- one CVR per kind of ballot ---------------------------------------------------------------

KINDS = {
    "clear": ("s-d07", {"party-list": ["p-yntymak"], "smd-07": ["c07-sydykov"]}, ()),
    "overvote": (
        "s-d12",
        {"party-list": ["p-ala-too", "p-el-unu"], "smd-12": ["c12-mamytova", "against-all"]},
        (),
    ),
    "blank": ("s-d03", {}, ()),
    "marginal": ("s-d07", {"smd-07": ["against-all"]}, ("p-el-unu",)),
}


@pytest.fixture(scope="module")
def readings() -> dict[str, dict[str, Any]]:
    return {kind: _read(*KINDS[kind]) for kind in KINDS}


def test_every_kind_of_ballot_gives_a_valid_cvr(readings: dict[str, dict[str, Any]]) -> None:
    e = _election()
    ballots = {kind: _ballot(r) for kind, r in readings.items()}
    report = build_report(e, ballots.values(), STATION, "test", WHEN)
    assert schemas.validate(report, schemas.CAST_VOTE_RECORDS) == []
    assert check_report(report, e) == []
    assert report["Version"] == "1.0.0" and report["GeneratedDate"] == "2026-11-29T20:00:00Z"
    cvrs = {c["UniqueId"]: c for c in report["CVR"]}
    assert [c["UniqueId"] for c in report["CVR"]] == sorted(cvrs)
    for kind, ballot in ballots.items():
        cvr = cvrs[ballot.id]
        assert cvr["BallotStyleId"] == KINDS[kind][0]
        assert (cvr["CreatingDeviceId"], cvr["BatchId"]) == ("scan-1", f"{STATION}.scan-1")
        assert cvr["BallotStyleUnitId"] == STATION
        assert cvr["BallotImage"][0]["Hash"] == {
            "@type": "CVR.Hash",
            "Type": "sha-256",
            "Value": ballot.image_sha256,
        }
        assert cvr["CurrentSnapshotId"] == f"{ballot.id}.interpreted"
        # The original snapshot holds every target of the style with its score.
        original = {
            (c["ContestId"], s["ContestSelectionId"].split(".", 1)[1]): s["SelectionPosition"][0]
            for c in next(s for s in cvr["CVRSnapshot"] if s["Type"] == "original")["CVRContest"]
            for s in c["CVRContestSelection"]
        }
        marks = readings[kind]["marks"]
        assert set(original) == {(m["contest"], m["option"]) for m in marks}
        for m in marks:
            position = original[(m["contest"], m["option"])]
            assert position["MarkMetricValue"] == [f"{m['score']:.4f}"]
            assert position["HasIndication"] == {"marked": "yes", "marginal": "unknown"}.get(
                m["class"], "no"
            )
    clear = cvrs[ballots["clear"].id]
    smd = _contest(clear, "interpreted", "smd-07")
    assert (smd["Selections"], smd["Overvotes"], smd["Undervotes"]) == (1, 0, 0)
    assert "Status" not in smd
    assert _selections(smd) == {
        "c07-sydykov": {
            "@type": "CVR.SelectionPosition",
            "HasIndication": "yes",
            "NumberVotes": 1,
            "IsAllocable": "yes",
        }
    }
    over = cvrs[ballots["overvote"].id]
    for contest in ("party-list", "smd-12"):
        entry = _contest(over, "interpreted", contest)
        # "against all" with a candidate is an overvote although vote_for is not exceeded.
        assert (entry["Status"], entry["Overvotes"], entry["Undervotes"]) == (["overvoted"], 1, 0)
        assert entry["Selections"] == 2
        assert {p["IsAllocable"] for p in _selections(entry).values()} == {"no"}
    blank = cvrs[ballots["blank"].id]
    for contest in ("party-list", "smd-03"):
        entry = _contest(blank, "interpreted", contest)
        assert entry["Status"] == ["not-indicated", "undervoted"]
        assert (entry["Selections"], entry["Undervotes"]) == (0, 1)
        assert "CVRContestSelection" not in entry
    marginal = cvrs[ballots["marginal"].id]
    stroke = _selections(_contest(marginal, "original", "party-list"))["p-el-unu"]
    [read_stroke] = [m for m in readings["marginal"]["marks"] if m["option"] == "p-el-unu"]
    assert read_stroke["class"] == "marginal", read_stroke  # a hesitation dot
    assert stroke["HasIndication"] == "unknown"
    assert (stroke["Status"], stroke["OtherStatus"], stroke["NumberVotes"]) == (
        ["other"],
        "marginal-mark",
        0,
    )
    # A marginal mark is reported, never counted: the party list stays blank.
    assert _contest(marginal, "interpreted", "party-list")["Status"] == [
        "not-indicated",
        "undervoted",
    ]
    assert list(_selections(_contest(marginal, "interpreted", "smd-07"))) == ["against-all"]
    # Nothing in the records tells time or order: the one timestamp is the export's.
    text = json.dumps(report)
    assert re.findall(r"\d{4}-\d\d-\d\dT\d\d:", text) == ["2026-11-29T20:"]
    limits = readings["clear"]["thresholds"]
    assert report["ReportingDevice"][1]["Notes"] == [
        f"thresholds: ink {limits['ink']:.2f}, marginal {limits['marginal']:.2f}, "
        f"marked {limits['marked']:.2f}"
    ]


def test_an_undervote_counts_the_votes_lost() -> None:
    e = Election.from_dict(copy.deepcopy(ELECTION_DOC))
    image = marked_ballot(e, "s1", {"mayor": ["m-bakyt"], "council": ["c-2"]})
    reading = read_ballot(image, e, mode="test")
    assert reading["contests"] == {"mayor": "ok", "council": "undervote"}
    ballot = CastBallot(
        new_cvr_id(), "scan-2", "s1", None, reading["votes"], reading["contests"], []
    )
    report = build_report(e, [ballot], "st-0001", "official", WHEN)
    assert check_report(report, e) == []
    council = _contest(report["CVR"][0], "interpreted", "council")
    assert council["Status"] == ["undervoted"]
    assert (council["Undervotes"], council["Selections"]) == (1, 1)
    assert "BallotImage" not in report["CVR"][0] and "Notes" not in report
    # Without scores the original snapshot still lists every target, each "unknown".
    mayor = _selections(_contest(report["CVR"][0], "original", "mayor"))
    assert {p["HasIndication"] for p in mayor.values()} == {"unknown"}


def _forged(report: dict[str, Any], change: Any) -> list[str]:
    doc = copy.deepcopy(report)
    change(doc)
    return check_report(doc, _election())


def test_forged_or_broken_reports_are_caught(readings: dict[str, dict[str, Any]]) -> None:
    e = _election()
    report = build_report(e, [_ballot(readings["clear"]), _ballot(readings["blank"])], STATION)
    assert check_report(report, e) == []

    def other_contest(doc: dict[str, Any]) -> None:
        original = doc["CVR"][0]["CVRSnapshot"][0]["CVRContest"][0]
        original["CVRContestSelection"][0]["ContestSelectionId"] = "smd-12.c12-mamytova"

    problems = _forged(report, other_contest)
    assert any("'smd-12.c12-mamytova' is not a selection of contest" in p for p in problems)

    def unknown_style(doc: dict[str, Any]) -> None:
        doc["CVR"][1]["BallotStyleId"] = "s-d99"

    assert any("'s-d99' is not a ballot style" in p for p in _forged(report, unknown_style))

    def same_id(doc: dict[str, Any]) -> None:
        doc["CVR"][1]["UniqueId"] = doc["CVR"][0]["UniqueId"]

    assert any("is the id of another record too" in p for p in _forged(report, same_id))

    def foreign_snapshot(doc: dict[str, Any]) -> None:
        doc["CVR"][0]["CurrentSnapshotId"] = doc["CVR"][1]["CurrentSnapshotId"]

    assert any("not one of this record's snapshots" in p for p in _forged(report, foreign_snapshot))

    def unknown_device(doc: dict[str, Any]) -> None:
        doc["CVR"][0]["CreatingDeviceId"] = "scan-9"

    assert any(
        "CreatingDeviceId: 'scan-9' points at nothing (it must name a ReportingDevice)" in p
        for p in _forged(report, unknown_device)
    )

    def device_is_a_unit(doc: dict[str, Any]) -> None:
        doc["CVR"][0]["CreatingDeviceId"] = STATION

    problems = _forged(report, device_is_a_unit)
    assert any("'ps-5101' is a GpUnit, not a ReportingDevice" in p for p in problems)

    def new_version(doc: dict[str, Any]) -> None:
        doc["Version"] = "2.0.0"

    assert _forged(report, new_version) == ["Version: '2.0.0' is not one of ['1.0.0']"]

    def timestamp_without_zone(doc: dict[str, Any]) -> None:
        doc["GeneratedDate"] = "2026-11-29T20:00:00"

    assert _forged(report, timestamp_without_zone) == [
        "GeneratedDate: '2026-11-29T20:00:00' is not a 'date-time'"
    ]
    for junk in ([], "CVR", {"@type": "CVR.CVR"}, None):
        assert check_report(junk)  # a message, never an exception


def test_a_style_outside_the_election_is_not_written() -> None:
    ballot = CastBallot(new_cvr_id(), "scan-1", "s-nope", None, {}, {}, [])
    with pytest.raises(CvrError, match="style 's-nope' is not in the election"):
        build_cvr(_election(), ballot, STATION)


# -- kept at the drop, in one transaction --------------------------------------------------------


class Day:
    """A station's store and intake driven directly: real images, real reader, real SQLite."""

    def __init__(self, folder: Path, mode: str = "test") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.store = Store(folder / "station.db")
        self.intake = Intake(
            self.store, _election(), read_ballot, mode, STATION, keep_images=True
        )
        with self.store.tx() as conn:
            set_meta(conn, "station", STATION)
            set_meta(conn, "mode", mode)
            set_meta(conn, "election_hash", _election().hash)
        open_polls(self.store)
        self.counter = 0

    def feed(self, sheet: str, image: np.ndarray, device: str = "scan-1") -> dict[str, Any]:
        sender = BlobSender(sheet)
        height, width = image.shape
        meta = {"width": width, "height": height, "dpi": 100, "bpp": 8}
        self.intake.begin(device, sender.begin("ballot-image", meta))
        rows = max(1, 30000 // width)
        for start in range(0, height, rows):
            part = image[start : start + rows].tobytes()
            self.intake.chunk(device, sender.chunk(part), part)
        end = sender.end()
        outcome = self.intake.prepare_end(device, end, "open")
        with self.store.tx() as conn:
            return self.intake.apply_end(conn, device, outcome, sheet, "open")

    def drop(self, sheet: str, device: str = "scan-1") -> dict[str, Any]:
        self.counter += 1
        with self.store.tx() as conn:
            return self.intake.dropped(
                conn, device, {"sheet": sheet, "counter": self.counter}, "open"
            )

    def returned(self, sheet: str, device: str = "scan-1") -> dict[str, Any]:
        with self.store.tx() as conn:
            return self.intake.returned(conn, device, {"sheet": sheet, "reason": "taken"})

    def cast(self, sheet: str, image: np.ndarray) -> None:
        decision = self.feed(sheet, image)
        if decision["reason"] == "review":
            # An unclear mark: the voter is shown it and feeds the same ballot again.
            self.returned(sheet)
            sheet += "-again"
            decision = self.feed(sheet, image)
        assert decision["decision"] == "accept"
        assert self.drop(sheet)["recorded"] is True

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.store.read() as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]

    def close(self) -> dict[str, Any]:
        """Close the polls; the commission finds no vote in any unclear mark."""
        try:
            return close_polls(self.store, STATION, _election(), "test")
        except AwaitingAdjudication:
            with self.store.tx() as conn:
                for ballot in adjudication.flagged(conn):
                    marks = [{"contest": m["contest"], "option": m["option"],
                              "decision": "not_vote"} for m in ballot.unclear]
                    body = {"by": "commission", "reason": "no vote", "marks": marks}
                    adjudication.decide(conn, ballot.record, body, "closed")
            return close_polls(self.store, STATION, _election(), "test")


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Day]:
    d = Day(tmp_path / "station")
    yield d
    d.store.close()


def test_the_drop_makes_one_record_and_clears_the_sheet(
    day: Day, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _sheet(*KINDS["clear"])
    assert day.feed("scan-1-7-1", image)["decision"] == "accept"
    [(pending, text)] = day.rows("SELECT state, record FROM sheets")
    assert pending == "pending" and json.loads(text)["cvr"].startswith("cvr-")
    assert day.rows("SELECT COUNT(*) FROM cvrs") == [(0,)]

    # The drop fails half-way: nothing of it stays, the sheet keeps its reading.
    real_append = audit.append

    def failing(conn: sqlite3.Connection, kind: str, *args: Any, **detail: Any) -> str:
        if kind == "ballot.cast":
            raise RuntimeError("power cut")
        return real_append(conn, kind, *args, **detail)

    monkeypatch.setattr(audit, "append", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        day.drop("scan-1-7-1")
    monkeypatch.setattr(audit, "append", real_append)
    assert day.rows("SELECT COUNT(*) FROM cvrs") == [(0,)]
    assert day.rows("SELECT state FROM sheets") == [("pending",)]

    # The scanner sends it again (and the broker delivers it twice): one record.
    for _ in range(3):
        assert day.drop("scan-1-7-1")["recorded"] is True
    [(cvr_id, device, style, image_sha256, record)] = day.rows("SELECT * FROM cvrs")
    assert (device, style) == ("scan-1", "s-d07")
    assert cvr_id == json.loads(text)["cvr"]
    assert image_sha256 == hashlib.sha256(image.tobytes()).hexdigest()
    assert json.loads(record)["votes"] == {"party-list": ["p-yntymak"], "smd-07": ["c07-sydykov"]}
    assert len(json.loads(record)["marks"]) == 12
    # The sheet says it was cast, and nothing about how, nor which record it became.
    assert day.rows("SELECT state, record, style FROM sheets") == [("cast", None, None)]
    # Its image is kept in the database under the record's id, and in no file.
    [(png,)] = day.rows("SELECT png FROM kept_images")
    assert day.rows("SELECT name FROM kept_images") == [(cvr_id,)]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), image)
    assert not (day.folder / "images").exists()
    # The definition is kept with the records, so they can be exported from the folder.
    with day.store.read() as conn:
        kept = get_meta(conn, "election_definition")
    assert Election.from_dict(json.loads(kept)).hash == _election().hash


def test_a_voided_ballot_makes_no_record(day: Day) -> None:
    assert day.feed("scan-1-7-1", _sheet(*KINDS["clear"]))["decision"] == "accept"
    assert day.returned("scan-1-7-1")["voided"] is True
    assert day.drop("scan-1-7-1")["recorded"] is False
    official = read_ballot  # an official ballot at a test station is returned, never accepted
    blank, layout = render_ballot(_election(), "s-d03", dpi=100, mode="official")
    decision = day.feed("scan-1-7-2", np.asarray(blank, dtype=np.uint8))
    assert (decision["decision"], decision["reason"]) == ("return", "official_ballot")
    assert official is read_ballot and day.returned("scan-1-7-2")["voided"] is True
    assert day.rows("SELECT COUNT(*) FROM cvrs") == [(0,)]
    assert day.rows("SELECT id, record FROM sheets ORDER BY id") == [
        ("scan-1-7-1", None),
        ("scan-1-7-2", None),
    ]
    # The voided sheet's image goes with its reading. The returned sheet's is kept, under
    # a random name that neither its sheet nor the audit log mentions: a returned ballot
    # is often fed again and cast, and its image shows the marks.
    [(name,)] = day.rows("SELECT name FROM kept_images")
    assert re.fullmatch(r"ret-[0-9a-f]{32}", name)
    with day.store.read() as conn:
        everything = json.dumps([e["detail"] for e in audit.entries(conn)])
    assert name not in everything and "image_sha256" not in everything


def test_a_sheets_reading_does_not_linger_in_the_database_file(day: Day) -> None:
    day.cast("scan-1-7-1", _sheet(*KINDS["overvote"]))
    day.store.close()  # the last connection to close checkpoints the log into the file
    assert not (day.folder / "station.db-wal").exists()
    data = (day.folder / "station.db").read_bytes()
    # The pending record's text (with its "cvr" key) was deleted with secure_delete on.
    assert b'"cvr": "cvr-' not in data
    assert b'"votes"' in data  # the vote record itself is there
    day.store = Store(day.folder / "station.db")


def _without_ids(report: dict[str, Any]) -> list[str]:
    out = []
    for cvr in report["CVR"]:
        text = json.dumps(cvr, sort_keys=True).replace(cvr["UniqueId"], "ID")
        out.append(re.sub(r'"Value": "[0-9a-f]{64}"', "HASH", text))
    return sorted(out)


def test_the_export_does_not_depend_on_the_casting_order(tmp_path: Path) -> None:
    sheets = [_sheet(*KINDS[k]) for k in ("clear", "overvote", "blank", "marginal", "clear")]
    exports = []
    for name, order in (("a", [0, 1, 2, 3, 4]), ("b", [4, 3, 2, 1, 0])):
        d = Day(tmp_path / name)
        for n, i in enumerate(order):
            d.cast(f"scan-1-1-{n}", sheets[i])
        results = d.close()
        assert results["ballots_cast"] == 5 and results["checks"]["records_valid"]
        assert results["contests"]["party-list"]["options"]["p-yntymak"] == 2
        assert results["contests"]["party-list"]["overvotes"] == 1
        assert results["contests"]["smd-07"]["options"]["against-all"] == 1
        first = export_cvrs(d.store, generated=WHEN)
        again = export_cvrs(d.store, generated=datetime(2026, 11, 30, tzinfo=UTC))
        d.store.close()
        assert first.count == 5 and check_report(first.report, _election()) == []
        ids = [c["UniqueId"] for c in first.report["CVR"]]
        assert ids == sorted(ids)  # by random id, never by casting order
        # The records' hash is the same at every export; the report's covers its date too.
        assert first.records_sha256 == again.records_sha256
        assert first.report_sha256 != again.report_sha256
        assert first.report_sha256 == hashlib.sha256(report_bytes(first.report)).hexdigest()
        exports.append(first.report)
    assert _without_ids(exports[0]) == _without_ids(exports[1])


def test_export_waits_for_polls_to_close(day: Day) -> None:
    day.cast("scan-1-7-1", _sheet(*KINDS["clear"]))
    with pytest.raises(Exception, match="exported once polls are closed") as caught:
        export_cvrs(day.store)
    assert getattr(caught.value, "status", None) == 409


def test_export_refuses_a_damaged_record_or_another_election(day: Day) -> None:
    day.cast("scan-1-7-1", _sheet(*KINDS["clear"]))
    day.close()
    other = Election.from_dict(copy.deepcopy(ELECTION_DOC))
    with pytest.raises(CvrError, match="the records were made with election"):
        export_cvrs(day.store, other)
    with day.store.tx() as conn:
        conn.execute("UPDATE cvrs SET record = '{\"votes\": '")
    with pytest.raises(CvrError, match="cast vote record cvr-[0-9a-f]{32} is damaged"):
        export_cvrs(day.store)
    with day.store.read() as conn, pytest.raises(ValueError, match="damaged"):
        cast_ballots(conn)


# -- the command line and the API ------------------------------------------------------------


def _export(folder: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["controller", "export-cvr", "--data", str(folder), "--out", str(out), *extra]
    )
    return result.exit_code, result.output


def test_export_command_writes_the_report_and_its_hashes(day: Day, tmp_path: Path) -> None:
    day.cast("scan-1-7-1", _sheet(*KINDS["clear"]))
    day.cast("scan-1-7-2", _sheet(*KINDS["marginal"]))
    out = tmp_path / "cvr.json"
    code, text = _export(day.folder, out)
    assert code == 1 and "exported once polls are closed" in text and not out.exists()
    day.close()
    day.store.close()
    code, text = _export(day.folder, out)
    assert code == 0, text
    data = out.read_bytes()
    report = json.loads(data)
    assert data == canonical.dumps(report)
    assert check_report(report, _election()) == [] and len(report["CVR"]) == 2
    assert f"report sha256  {hashlib.sha256(data).hexdigest()}" in text
    assert f"records sha256 {records_sha256(report)}" in text
    assert "2 cast vote records" in text
    day.store = Store(day.folder / "station.db")


def test_export_command_without_ballots_needs_the_definition(tmp_path: Path) -> None:
    d = Day(tmp_path / "empty")
    d.close()
    d.store.close()
    out = tmp_path / "cvr.json"
    code, text = _export(d.folder, out)
    assert code == 1 and "no ballot was cast: give the election definition" in text
    code, text = _export(d.folder, out, "--election", str(NIST_EXAMPLE))
    assert code == 0, text
    report = json.loads(out.read_bytes())
    assert report["CVR"] == [] and check_report(report) == []
    code, text = _export(tmp_path, out)
    assert code == 1 and "no station database" in text


def test_api_serves_the_records_once_polls_close(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    image = marked_ballot(ctx.station.election, "s1", {"mayor": ["m-asel"], "council": ["c-1"]})
    assert scan.reply_to(scan.upload("scan-1-1-1", image)).body["decision"] == "accept"
    assert scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1}).body["recorded"]
    with ctx.http() as http:
        early = http.get("/api/cvr")
        assert early.status_code == 409 and "polls are closed" in early.json()["detail"]
        assert http.post("/api/polls/close").status_code == 200
        body = http.get("/api/cvr").json()
    assert body["count"] == 1
    report = body["report"]
    assert check_report(report, ctx.station.election) == []
    assert body["report_sha256"] == hashlib.sha256(canonical.dumps(report)).hexdigest()
    assert body["records_sha256"] == records_sha256(report)
    cvr = report["CVR"][0]
    assert (cvr["BallotStyleUnitId"], cvr["CreatingDeviceId"]) == (ctx.station.station, "scan-1")
    assert cvr["BallotImage"][0]["Hash"]["Value"] == hashlib.sha256(image.tobytes()).hexdigest()
    assert report["Notes"].startswith("test mode")


# -- a station database from before the records ---------------------------------------------------


def test_migration_moves_cast_votes_into_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "station.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    old = Store(path)
    reading = {"votes": {"party-list": []}, "contests": {"party-list": "blank"}}

    def stored(style: str) -> str:
        return json.dumps(dict(reading, style=style))

    with old.tx() as conn:
        rows = [
            ("scan-1-1-1", "cast", "accept", "aa" * 32, "s-d07", stored("s-d07")),
            ("scan-1-1-2", "voided", "accept", None, "s-d07", stored("s-d07")),
            ("scan-1-1-3", "pending", "accept", "bb" * 32, "s-d12", stored("s-d12")),
            ("scan-1-1-4", "rejected", "return", "cc" * 32, "s-d03", None),
        ]
        for sheet, state, decision, digest, style, record in rows:
            conn.execute(
                "INSERT INTO sheets (id, device, state, decision, message, image_sha256, style, "
                "record, created_at, updated_at) VALUES (?, 'scan-1', ?, ?, 'm', ?, ?, ?, 1, 1)",
                (sheet, state, decision, digest, style, record),
            )
    old.close()
    monkeypatch.undo()
    new = Store(path)
    assert new.schema_version() == max(version for version, _ in MIGRATIONS)
    with new.read() as conn:
        records = [tuple(r) for r in conn.execute("SELECT * FROM cvrs")]
        sheets = [tuple(r) for r in conn.execute(
            "SELECT id, record, style FROM sheets ORDER BY id"
        )]  # fmt: skip
    [(cvr_id, device, style, digest, text)] = records
    assert re.fullmatch(r"cvr-[0-9a-f]{32}", cvr_id)
    assert (device, style, digest) == ("scan-1", "s-d07", "aa" * 32)
    assert json.loads(text)["votes"] == reading["votes"]
    # The pending sheet's image hash moved into its reading (migration 5), the returned
    # sheet's is dropped.
    pending = json.loads(sheets[2][1])
    assert pending == dict(json.loads(stored("s-d12")), image_sha256="bb" * 32)
    assert [s[:1] + s[2:] for s in sheets] == [
        ("scan-1-1-1", None),
        ("scan-1-1-2", "s-d07"),
        ("scan-1-1-3", "s-d12"),
        ("scan-1-1-4", "s-d03"),
    ]
    assert [s[1] for s in sheets if s[0] != "scan-1-1-3"] == [None, None, None]
    # The sheet pending at the upgrade drops into a record like any other.
    intake = Intake(new, _election(), read_ballot, "test", STATION)
    with new.tx() as conn:
        assert intake.dropped(conn, "scan-1", {"sheet": "scan-1-1-3", "counter": 2}, "open")[
            "recorded"
        ]
    with new.read() as conn:
        assert sorted(b.style for b in cast_ballots(conn)) == ["s-d07", "s-d12"]
        assert {b.image_sha256 for b in cast_ballots(conn)} == {"aa" * 32, "bb" * 32}
    new.close()
