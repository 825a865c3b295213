"""Tamper evidence on a real station day: each change made to the records afterwards is
found by ``shailoo controller verify-audit`` with the public key only, and by
``/api/audit/verify``, naming what changed and where.

One short day runs once for the module (real broker, real ballots read by the real
reader, polls closed through the API, the protocol printed to a file); every test
tampers with its own copy of the day's data folder, as someone with the disk would.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.integrity.station_key import public_hex
from controller.printing.config import parse_settings
from controller.station.app import Station
from controller.store import audit
from hil.broker import Broker
from protocol.canonical import dumps
from shailoo.cli import main
from tests.controller.conftest import default_devices
from tests.controller.helpers import (
    WireDevice,
    load_test_election,
    login,
    make_voters,
    marked_ballot,
    station_id,
    station_login,
    wait_until,
    write_station,
)

BALLOTS = [
    {"style": "s1", "votes": {"mayor": ["m-asel"], "council": ["c-1", "c-2"]}},
    {"style": "s1", "votes": {"mayor": ["m-asel"], "council": ["c-3"]}},
    {"style": "s2", "votes": {"mayor": ["m-chyngyz"]}},
    {"style": "s1", "votes": {"mayor": ["m-bakyt"], "council": ["c-2"]}},
]


@dataclass(frozen=True)
class Day:
    """A closed station day: its setup folder, data folder, public key and paper code."""

    folder: Path
    setup: Path
    data: Path
    public: str
    code: str
    results: dict[str, Any]
    printed: bytes


@pytest.fixture(scope="module")
def day(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Day:
    folder = tmp_path_factory.mktemp("day")
    sid = station_id()
    devices = default_devices()
    voters = make_voters(6)
    setup = write_station(folder, sid, devices, voters)
    made = CliRunner().invoke(main, ["controller", "keygen", "--out", str(folder / "station.key")])
    assert made.exit_code == 0, made.output
    public = made.output.strip().splitlines()[-1]
    printer = parse_settings({"printer": f"file:{folder / 'lp0'}", "language": "en"})
    station = Station(
        setup, folder / "data", broker.host, broker.port,
        election_loader=load_test_election, printer=printer,
        broker_login=station_login(broker, setup),
    ).start()
    keys = {d.id: d.key for d in devices}
    term = WireDevice(broker, sid, "term-1", keys["term-1"])
    scan = WireDevice(broker, sid, "scan-1", keys["scan-1"])
    try:
        for i, voter in enumerate(voters[: len(BALLOTS)]):
            reply = term.request("checkin.request", {"txn": f"t{i}", "mrz": voter.mrz()})
            assert reply.body["status"] == "issued"
        for i, ballot in enumerate(BALLOTS, start=1):
            image = marked_ballot(station.election, ballot["style"], ballot["votes"])
            sheet = f"scan-1-1-{i}"
            assert scan.reply_to(scan.upload(sheet, image)).body["decision"] == "accept"
            scan.request("ballot.dropped", {"sheet": sheet, "counter": i})
        with login(station.url) as http:
            closed = http.post("/api/polls/close")
            assert closed.status_code == 200, closed.text
            wait_until(lambda: (station.printer_status(False).get("job") or {}).get("state")
                       == "printed", what="the protocol printed")
            verdict = http.get("/api/audit/verify").json()
        assert verdict["intact"] is True, verdict["problems"]
        code = station.paper_code()
        assert code is not None and verdict["paper_code"] == code
    finally:
        term.close()
        scan.close()
        station.stop()
    return Day(folder, setup, folder / "data", public, code, closed.json(),
               (folder / "lp0").read_bytes())


@pytest.fixture
def data(day: Day, tmp_path: Path) -> Path:
    """A copy of the day's data folder to tamper with."""
    return Path(shutil.copytree(day.data, tmp_path / "data"))


@pytest.fixture
def db(data: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(data / "station.db", isolation_level=None)
    conn.row_factory = sqlite3.Row  # as the store reads it
    yield conn
    conn.close()


def verify(data: Path, public: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["controller", "verify-audit", "--data", str(data), "--public-key", public, *extra]
    )
    return result.exit_code, result.output


def rehash(conn: sqlite3.Connection, start: int) -> None:
    """Recompute the chain from entry ``start`` on, as a forger without the key would."""
    prev = audit.GENESIS if start == 1 else conn.execute(
        "SELECT hash FROM audit WHERE id = ?", (start - 1,)).fetchone()[0]
    rows = conn.execute(
        "SELECT id, ts, kind, device, detail FROM audit WHERE id >= ? ORDER BY id", (start,)
    ).fetchall()
    for entry_id, ts, kind, device, detail in rows:
        entry = {"id": entry_id, "ts": ts, "kind": kind, "device": device,
                 "detail": json.loads(detail)}
        digest = audit.digest_of(entry, prev)
        conn.execute("UPDATE audit SET prev = ?, hash = ? WHERE id = ?", (prev, digest, entry_id))
        prev = digest


def entry_of(conn: sqlite3.Connection, kind: str) -> int:
    return conn.execute("SELECT MIN(id) FROM audit WHERE kind = ?", (kind,)).fetchone()[0]


def last_entry(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT MAX(id) FROM audit").fetchone()[0]


# -- the day as it was -----------------------------------------------------------------------


def test_the_untouched_day_verifies(day: Day, data: Path) -> None:
    code, out = verify(data, day.public, "--paper", day.code)
    assert code == 0, out
    assert "audit log intact" in out and f"closing seal {day.code}" in out
    assert "recount of the cast vote records matches the results" in out
    # The public key file written by keygen serves as well as the hex digits.
    assert verify(data, str(day.folder / "station.pub"))[0] == 0


def test_the_printed_protocol_carries_the_closing_seal(day: Day) -> None:
    assert re.fullmatch(r"([0-9a-f]{4} ){4}[0-9a-f]{4}", day.code)
    assert day.code.encode() in day.printed
    assert b"Audit log seal" in day.printed


def test_ballot_entries_keep_no_time_finer_than_the_hour(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT kind, ts FROM audit").fetchall()
    ballots = [ts for kind, ts in rows if kind.startswith(("ballot.", "sheet."))]
    assert len(ballots) == 2 * len(BALLOTS)  # accepted, then cast
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\dZ", ts) for ts in ballots), ballots
    # State changes keep their time.
    opened = next(ts for kind, ts in rows if kind == "polls.opened")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", opened)


# -- the audit log ---------------------------------------------------------------------------


def test_an_edited_entry_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    cast = entry_of(db, "ballot.cast")
    db.execute("UPDATE audit SET detail = ? WHERE id = ?",
               (json.dumps({"sheet": "scan-1-1-9", "counter": 1}), cast))
    code, out = verify(data, day.public)
    assert code == 1
    assert f"audit entry {cast} (ballot.cast): its content does not match its hash" in out


def test_a_recomputed_chain_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    cast = entry_of(db, "ballot.cast")
    db.execute("UPDATE audit SET detail = ? WHERE id = ?",
               (json.dumps({"sheet": "scan-1-1-9", "counter": 1}), cast))
    rehash(db, cast)
    assert audit.verify(db) == (True, None)  # the plain chain is fooled
    code, out = verify(data, day.public)
    assert code == 1
    # Located between the last checkpoint that still matches and the first that does not.
    opened = entry_of(db, "polls.opened")
    assert f"not the one the station signed: rewritten after entry {opened}" in out
    assert "head seal" in out


def test_a_deleted_entry_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    cast = entry_of(db, "ballot.cast")
    db.execute("DELETE FROM audit WHERE id = ?", (cast,))
    code, out = verify(data, day.public)
    assert code == 1
    missing = f"entries {cast}..{cast} are missing (entry {cast + 1} follows entry {cast - 1})"
    assert f"audit: {missing}" in out
    # One cast fewer in the log than in the sheets and the records: named too.
    assert f"the audit log records {len(BALLOTS) - 1} cast ballots" in out


def test_a_deleted_entry_with_the_chain_renumbered_is_found(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    cast = entry_of(db, "ballot.cast")
    db.execute("DELETE FROM audit WHERE id = ?", (cast,))
    db.execute("UPDATE audit SET id = id - 1 WHERE id > ?", (cast,))
    rehash(db, cast)
    code, out = verify(data, day.public)
    assert code == 1
    last = last_entry(db)
    assert f"entries {last + 1}..{last + 1} were cut off" in out
    assert "rewritten after entry" in out


def test_an_inserted_entry_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    at = entry_of(db, "ballot.cast")
    db.execute("UPDATE audit SET id = -id WHERE id >= ?", (at,))
    db.execute("UPDATE audit SET id = -id + 1 WHERE id < 0")
    db.execute(
        "INSERT INTO audit (id, ts, kind, device, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, "2026-11-29T14Z", "ballot.cast", "scan-1",
         json.dumps({"sheet": "scan-1-1-99", "counter": 5}), "", ""),
    )
    rehash(db, at)
    code, out = verify(data, day.public)
    assert code == 1
    last = last_entry(db)
    assert f"audit: entries {last}..{last} were added after the last entry the station signed" \
        in out
    assert "rewritten after entry" in out
    assert f"the audit log records {len(BALLOTS) + 1} cast ballots" in out


def test_an_entry_added_at_the_end_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    last = last_entry(db)
    prev = db.execute("SELECT hash FROM audit WHERE id = ?", (last,)).fetchone()[0]
    entry = {"id": last + 1, "ts": "2026-11-29T21Z", "kind": "ballot.voided", "device": "scan-1",
             "detail": {"sheet": "scan-1-1-2", "reason": None}}
    db.execute(
        "INSERT INTO audit (id, ts, kind, device, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (last + 1, entry["ts"], entry["kind"], entry["device"], json.dumps(entry["detail"]), prev,
         audit.digest_of(entry, prev)),
    )
    code, out = verify(data, day.public)
    assert code == 1
    assert f"entries {last + 1}..{last + 1} were added after the last entry the station signed" \
        in out


def test_a_cut_tail_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    closed = entry_of(db, "polls.closed")
    last = last_entry(db)
    db.execute("DELETE FROM audit WHERE id >= ?", (closed,))
    code, out = verify(data, day.public)
    assert code == 1
    assert f"entries {closed}..{last} were cut off" in out


def test_a_cut_tail_with_its_closing_removed_is_found(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    """The forger also removes the results, the closing seal and its checkpoints, and puts
    the polls back to open: the head seal still names the entries cut off."""
    closed = entry_of(db, "polls.closed")
    last = last_entry(db)
    db.execute("DELETE FROM audit WHERE id >= ?", (closed,))
    db.execute("DELETE FROM results")
    db.execute("DELETE FROM meta WHERE key LIKE 'seal:0%' AND CAST(substr(key, 6) AS INTEGER) >= ?",
               (closed,))
    db.execute("UPDATE meta SET value = 'open' WHERE key = 'polls'")
    code, out = verify(data, day.public)
    assert code == 1
    assert f"the station signed entry {last}, but the log ends at entry {closed - 1}" in out
    # The paper the commission signed names a closing this store no longer has.
    code, out = verify(data, day.public, "--paper", day.code)
    assert "paper: the store holds no closing seal" in out


def test_seals_signed_with_another_key_are_found(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    """A forger rewrites the chain and signs every seal again, with a key of their own."""
    cast = entry_of(db, "ballot.cast")
    db.execute("UPDATE audit SET detail = ? WHERE id = ?",
               (json.dumps({"sheet": "scan-1-1-9", "counter": 1}), cast))
    rehash(db, cast)
    forger = Ed25519PrivateKey.generate()
    hashes = dict(db.execute("SELECT id, hash FROM audit"))
    for name, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'seal:%'").fetchall():
        statement = json.loads(value)["statement"]
        statement["head"] = hashes[statement["entry"]]
        forged = {"statement": statement, "signature": forger.sign(dumps(statement)).hex()}
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(forged), name))
    db.execute("UPDATE meta SET value = ? WHERE key = 'station_public_key'",
               (public_hex(forger.public_key()),))
    code, out = verify(data, day.public)
    assert code == 1
    assert "head seal (entry" in out and "not signed by the station key" in out
    assert "seal of entry" in out and "(polls.closed): not signed by the station key" in out
    # With the forger's public key everything but the paper agrees: the paper is the anchor.
    assert verify(data, public_hex(forger.public_key()))[0] == 0
    code, out = verify(data, public_hex(forger.public_key()), "--paper", day.code)
    assert code == 1 and "paper: the protocol's audit seal" in out


def test_a_wrong_paper_code_is_found(day: Day, data: Path) -> None:
    code, out = verify(data, day.public, "--paper", "0000 0000 0000 0000 0000")
    assert code == 1 and f"is not the closing seal of this store ({day.code})" in out
    # Too short to mean anything, or far too long: refused, and echoed short.
    assert verify(data, day.public, "--paper", day.code[:4])[0] == 1
    code, out = verify(data, day.public, "--paper", day.code + "f" * 100_000)
    assert code == 1 and len(out) < 1000
    # The code as read off the paper: spaces and case do not matter.
    assert verify(data, day.public, "--paper", day.code.replace(" ", "").upper())[0] == 0


def test_an_unreadable_seal_is_reported(day: Day, data: Path, db: sqlite3.Connection) -> None:
    db.execute("UPDATE meta SET value = ? WHERE key = 'seal:head'", ('{"statement": [' * 50,))
    code, out = verify(data, day.public)
    assert code == 1
    assert "seal seal:head: not a seal of format shailoo-audit-seal/1" in out
    assert "the log's head is not signed by the station" in out


# -- the votes and the results ---------------------------------------------------------------


def _a_record(db: sqlite3.Connection, contest: str, option: str) -> tuple[str, dict[str, Any]]:
    for cvr_id, text in db.execute("SELECT id, record FROM cvrs ORDER BY id"):
        record = json.loads(text)
        if record["votes"].get(contest) == [option]:
            return cvr_id, record
    raise AssertionError(f"no record with a vote for {option}")


def test_a_changed_vote_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    cvr_id, record = _a_record(db, "mayor", "m-chyngyz")
    record["votes"]["mayor"] = ["m-asel"]
    db.execute("UPDATE cvrs SET record = ? WHERE id = ?", (json.dumps(record), cvr_id))
    code, out = verify(data, day.public)
    assert code == 1
    assert f"cvrs: record {cvr_id} was changed after closing" in out
    assert "results: mayor / m-asel: the results say 2, the cast vote records count 3" in out
    assert "results: mayor / m-chyngyz: the results say 1, the cast vote records count 0" in out


def test_a_changed_vote_with_a_matching_manifest_is_found(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    """The forger also rewrites the kept list of record hashes: its digest is signed."""
    from controller.integrity import cvr_set

    cvr_id, record = _a_record(db, "mayor", "m-chyngyz")
    record["votes"]["mayor"] = ["m-asel"]
    db.execute("UPDATE cvrs SET record = ? WHERE id = ?", (json.dumps(record), cvr_id))
    cvr_set.keep(db, cvr_set.manifest(db))
    code, out = verify(data, day.public)
    assert code == 1
    assert "cvrs: the list of record hashes kept at closing was changed" in out
    assert "cvrs: the cast vote records are not the set signed at closing" in out


def test_an_added_and_a_removed_record_are_found(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    gone, _ = _a_record(db, "mayor", "m-bakyt")
    copied, record = _a_record(db, "mayor", "m-chyngyz")
    db.execute("DELETE FROM cvrs WHERE id = ?", (gone,))
    extra = "cvr-" + "ab" * 16
    db.execute("INSERT INTO cvrs (id, device, style, image_sha256, record) "
               "SELECT ?, device, style, image_sha256, record FROM cvrs WHERE id = ?",
               (extra, copied))
    code, out = verify(data, day.public)
    assert code == 1
    assert f"cvrs: record {gone} was removed after closing" in out
    assert f"cvrs: record {extra} was added after closing" in out


def test_an_altered_result_is_found(day: Day, data: Path, db: sqlite3.Connection) -> None:
    results = json.loads(db.execute("SELECT body FROM results").fetchone()[0])
    results["contests"]["mayor"]["options"]["m-bakyt"] += 5
    db.execute("UPDATE results SET body = ?", (json.dumps(results),))
    code, out = verify(data, day.public)
    assert code == 1
    assert "results: the stored results are not those signed at closing" in out
    assert "results: the stored results differ from those recorded in audit entry" in out
    assert "results: mayor / m-bakyt: the results say 6, the cast vote records count 1" in out


def test_votes_and_results_changed_together_are_found(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    """Records and results changed to agree with each other: the signatures still differ."""
    cvr_id, record = _a_record(db, "mayor", "m-chyngyz")
    record["votes"]["mayor"] = ["m-asel"]
    db.execute("UPDATE cvrs SET record = ? WHERE id = ?", (json.dumps(record), cvr_id))
    results = json.loads(db.execute("SELECT body FROM results").fetchone()[0])
    results["contests"]["mayor"]["options"].update({"m-asel": 3, "m-chyngyz": 0})
    db.execute("UPDATE results SET body = ?", (json.dumps(results),))
    code, out = verify(data, day.public)
    assert code == 1
    assert "recount" not in out and "the results say" not in out  # they agree now
    assert f"cvrs: record {cvr_id} was changed after closing" in out
    assert "results: the stored results are not those signed at closing" in out


# -- the same through the API of a station started on the records ----------------------------


def test_the_api_reports_the_same(day: Day, data: Path, db: sqlite3.Connection) -> None:
    cvr_id, record = _a_record(db, "mayor", "m-chyngyz")
    record["votes"]["mayor"] = ["m-bakyt"]
    db.execute("UPDATE cvrs SET record = ? WHERE id = ?", (json.dumps(record), cvr_id))
    db.close()
    station = Station(day.setup, data, election_loader=load_test_election).start(mqtt=False)
    try:
        with login(station.url) as http:
            verdict = http.get("/api/audit/verify").json()
            assert verdict["intact"] is False
            assert f"cvrs: record {cvr_id} was changed after closing" in verdict["problems"][0]
            assert verdict["paper_code"] == day.code
            # The tail cut while the station runs: the head it signed last is gone.
            with station.store.tx() as conn:
                last = conn.execute("SELECT MAX(id) FROM audit").fetchone()[0]
                conn.execute("DELETE FROM audit WHERE id = ?", (last,))
            verdict = http.get("/api/audit/verify").json()
            assert f"entries {last}..{last} were cut off" in " ".join(verdict["problems"])
            assert verdict["first_bad_entry"] == last
        # The technician checks the records too (the changed record is still found),
        # but is not told what the problems are: they name vote counts.
        with login(station.url, "technician") as http:
            verdict = http.get("/api/audit/verify").json()
            assert verdict["intact"] is False
            assert verdict["problems"] == [] and verdict["problems_withheld"] >= 1
            assert verdict["recounted"] is None
    finally:
        station.stop()


# -- an export file, checked against the closing seal ----------------------------------------


def _export(data: Path, out: Path) -> dict[str, Any]:
    made = CliRunner().invoke(main, ["controller", "export-cvr", "--data", str(data),
                                     "--out", str(out)])
    assert made.exit_code == 0, made.output
    return json.loads(out.read_bytes())


def test_an_export_file_is_checked_record_by_record(
    day: Day, data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cvr.json"
    report = _export(data, out)
    code, text = verify(data, day.public, "--cvr", str(out))
    assert code == 0 and f"{out}: the cast vote records signed at closing" in text
    # One vote changed in the file, one record dropped from it.
    changed = next(c for c in report["CVR"] if "m-asel" in json.dumps(c))
    changed_text = json.dumps(changed).replace("m-asel", "m-bakyt")
    report["CVR"][report["CVR"].index(changed)] = json.loads(changed_text)
    dropped = next(c for c in report["CVR"] if c is not report["CVR"][0] and
                   c["UniqueId"] != changed["UniqueId"])
    report["CVR"].remove(dropped)
    out.write_text(json.dumps(report))
    code, text = verify(data, day.public, "--cvr", str(out))
    assert code == 1
    assert f"cvr export {out}: its records are not those signed at closing" in text
    assert f"cvr export {out}: record {changed['UniqueId']} differs from the station's" in text
    assert f"cvr export {out}: record {dropped['UniqueId']} is missing" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{\"CVR\": [", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"{\"CVR\": 7}", "not a CastVoteRecordReport (no CVR list)"),
        (b"[1, 2]", "not a CastVoteRecordReport (no CVR list)"),
    ],
    ids=["cut", "deeply-nested", "binary", "cvr-not-a-list", "not-an-object"],
)
def test_a_broken_export_file_is_reported(
    day: Day, data: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    out = tmp_path / "cvr.json"
    out.write_bytes(content)
    code, text = verify(data, day.public, "--cvr", str(out))
    assert code == 1 and f"cvr export {out}: {message}" in text


def test_an_oversized_export_file_is_not_read(day: Day, data: Path, tmp_path: Path) -> None:
    from controller.integrity.verify import MAX_CVR_FILE

    out = tmp_path / "cvr.json"
    with out.open("wb") as f:
        f.truncate(MAX_CVR_FILE + 1)  # sparse: no disk used, and never read
    code, text = verify(data, day.public, "--cvr", str(out))
    assert code == 1 and "more than an export can be" in text


def test_an_emptied_log_and_another_public_key_are_reported(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    other = public_hex(Ed25519PrivateKey.generate().public_key())
    code, out = verify(data, other)
    assert code == 1
    assert f"the store names station key {day.public[:16]}…, not the key given ({other[:16]}…)" \
        in out
    db.execute("DELETE FROM audit")
    db.execute("DELETE FROM meta WHERE key LIKE 'seal:%'")
    code, out = verify(data, day.public)
    assert code == 1 and "audit: the log is empty" in out
    assert f"sheets: {len(BALLOTS)} sheets are cast, the audit log records 0 cast ballots" in out


def test_a_checkpoint_put_back_as_the_head_is_found(
    day: Day, data: Path, db: sqlite3.Connection
) -> None:
    """Cut back to the polls.opened checkpoint, later checkpoints and the results removed,
    the checkpoint's seal copied to the head: its signed role says it is no head."""
    opened = entry_of(db, "polls.opened")
    db.execute("DELETE FROM audit WHERE id > ?", (opened,))
    db.execute("DELETE FROM results")
    db.execute("DELETE FROM meta WHERE key LIKE 'seal:0%' AND CAST(substr(key, 6) AS INTEGER) > ?",
               (opened,))
    checkpoint = db.execute("SELECT value FROM meta WHERE key = ?",
                            (f"seal:{opened:09d}",)).fetchone()[0]
    db.execute("UPDATE meta SET value = ? WHERE key = 'seal:head'", (checkpoint,))
    code, out = verify(data, day.public)
    assert code == 1
    assert "seal seal:head: a 'checkpoint' seal kept as a head (put in place of another)" in out
    assert "audit: the log's head is not signed by the station" in out
