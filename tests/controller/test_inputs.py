"""Setup file, voter list, store and audit chain: bad input gets a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.checkin.voter_list import VoterListError, load_voters, parse_csv, parse_json
from controller.station.app import Station, StationError
from controller.station.setup import SetupError, load_setup
from controller.store import audit
from controller.store.database import MIGRATIONS, Store
from tests.controller.helpers import (
    DeviceKey,
    load_test_election,
    make_voters,
    station_id,
    station_login,
    voters_csv,
    write_station,
)

HEADER = (
    "row,voter_id,surname,given_names,birth_date,sex,document_type,document_number,"
    "personal_number,style"
)


def test_csv_voter_list_is_read() -> None:
    voters = parse_csv(voters_csv(make_voters(12)), styles={"s1", "s2"})
    assert len(voters) == 12 and voters[4].document_type == "P"
    assert voters[0].name == f"{voters[0].surname} {voters[0].given_names}"
    # Column order is free, a byte-order mark and trailing blank lines are fine.
    reordered = (
        "\ufeffstyle,row,voter_id,surname,given_names,birth_date,sex,document_type,"
        "document_number,personal_number\ns1,1,v1,ASANOVA,AIDA,1990-02-03,F,ID,id0000001,\n\n"
    )
    (only,) = parse_csv(reordered)
    assert (only.document_number, only.personal_number) == ("ID0000001", "")


def test_csv_problems_are_all_reported_with_line_numbers() -> None:
    text = (
        "\n".join(
            [
                HEADER,
                "1,v1,ASANOVA,AIDA,1990-02-03,F,ID,ID0000001,,s1",
                "2,v2,,BOLOT,1990-13-03,Q,DL,ID 0000002,,s9",
                "1,v3,CHUI,CHOLPON,1985-01-01,F,P,ID0000001,,s1",
                "4,v4,DOOLOT",
                "5,v5,ESEN,ERKIN,2999-01-01,M,ID,ID0000005,,s1",
            ]
        )
        + "\n"
    )
    with pytest.raises(VoterListError) as caught:
        parse_csv(text, "list.csv", styles={"s1", "s2"})
    errors = caught.value.errors
    line3 = [e for e in errors if e.startswith("list.csv line 3:")]
    assert any("surname is empty" in e for e in line3)
    assert any("birth_date '1990-13-03' is not a date" in e for e in line3)
    assert any("sex 'Q'" in e for e in line3)
    assert any("document_type 'DL'" in e for e in line3)
    assert any("document_number 'ID 0000002'" in e for e in line3)
    assert any("style 's9'" in e for e in line3)
    assert "list.csv line 4: row 1 duplicates list.csv line 2" in errors
    assert "list.csv line 4: document_number 'ID0000001' duplicates list.csv line 2" in errors
    assert "list.csv line 5: 3 cells, expected 10" in errors
    assert any(
        e.startswith("list.csv line 6: birth_date 2999-01-01 is in the future") for e in errors
    )
    assert "list.csv line 3" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("row,voter_id,surname\n1,v1,A\n", "missing given_names"),
        (HEADER + ",extra\n", "unknown extra"),
    ],
    ids=["empty", "missing-columns", "extra-column"],
)
def test_csv_header_problems(text: str, message: str) -> None:
    with pytest.raises(VoterListError, match=message):
        parse_csv(text)


def test_json_voter_list(tmp_path: Path) -> None:
    people = [dict(v.__dict__) for v in make_voters(3)]
    path = tmp_path / "voters.json"
    path.write_text(json.dumps(people))
    assert [v.row for v in load_voters(path)] == [1, 2, 3]
    people[1]["voter_id"] = people[0]["voter_id"]
    people[2]["row"] = "three"
    del people[0]["style"]
    with pytest.raises(VoterListError) as caught:
        parse_json(json.dumps(people + ["not an object"]), "v.json")
    assert caught.value.errors == [
        "v.json item 1: missing field(s) style",
        "v.json item 3: row 'three' must be a positive whole number",
        "v.json item 4: expected an object",
    ]
    for bad, message in (("{", "not valid JSON"), ("{}", "expected a list")):
        with pytest.raises(VoterListError, match=message):
            parse_json(bad)
    (tmp_path / "latin1.csv").write_bytes(
        HEADER.encode() + b"\n1,v1,\xc9,A,1990-01-01,F,ID,X1,,s1\n"
    )
    with pytest.raises(VoterListError, match="not UTF-8"):
        load_voters(tmp_path / "latin1.csv")


def _setup(tmp_path: Path, **changes) -> Path:
    sid = station_id()
    path = write_station(tmp_path, sid, [DeviceKey("term-1", "idterminal")], make_voters(2))
    data = json.loads(path.read_text())
    data.update(changes)
    for key, value in list(data.items()):
        if value is None:
            del data[key]
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"station": "Bad Station"}, "station 'Bad Station'"),
        ({"mode": "live"}, "mode must be"),
        ({"polls": "closed"}, "polls must be"),
        ({"election": "missing.json"}, "election file"),
        ({"voters": None}, "voters must be a path"),
        ({"devices": {}}, "devices must be a list"),
        ({"devices": [{"id": "t1", "role": "printer", "key": "00" * 32}]}, "role must be"),
        ({"devices": [{"id": "t1", "role": "scanner", "key": "00" * 16}]}, "key must be 32 bytes"),
        ({"devices": [{"id": "t1", "role": "scanner", "key": "zz" * 32}]}, "key must be 32 bytes"),
        ({"devices": [{"id": "t1", "role": "scanner", "key": "00" * 32}] * 2}, "appears twice"),
        ({"devices": [{"id": "T1", "role": "scanner", "key": "00" * 32}]}, "devices\\[0\\]: id"),
        ({"firmware": ["abc"]}, "firmware must be"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_setup_file_errors(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_setup(_setup(tmp_path, **changes))


def test_setup_file_not_json(tmp_path: Path) -> None:
    (tmp_path / "station.json").write_text("{nope")
    with pytest.raises(SetupError, match="not valid JSON"):
        load_setup(tmp_path / "station.json")
    with pytest.raises(SetupError, match="cannot read"):
        load_setup(tmp_path / "absent.json")


def test_migrations_run_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.schema_version() == MIGRATIONS[-1][0]
    assert store.migrate() == []
    store.close()
    again = Store(tmp_path / "s.db")
    assert again.migrate() == [] and again.schema_version() == MIGRATIONS[-1][0]
    with again.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


def test_audit_chain_detects_edits_and_deletions(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with store.tx() as conn:
        for i in range(5):
            audit.append(conn, "test.event", "dev-1", n=i, text="π")
    with store.read() as conn:
        assert audit.verify(conn) == (True, None)
        assert [e["detail"]["n"] for e in audit.entries(conn)] == [0, 1, 2, 3, 4]
    with store.tx() as conn:
        conn.execute("DELETE FROM audit WHERE id = 3")
    with store.read() as conn:
        assert audit.verify(conn) == (False, 4)
    with store.tx() as conn:
        conn.execute("UPDATE audit SET kind = 'other' WHERE id = 1")
    with store.read() as conn:
        assert audit.verify(conn) == (False, 1)
    store.close()


def _station(setup: Path, data: Path, broker) -> Station:
    return Station(
        setup,
        data,
        broker.host,
        broker.port,
        reader=None,
        election_loader=load_test_election,
        broker_login=station_login(broker, setup),
    )


def test_station_refuses_foreign_or_changed_data(tmp_path: Path, broker) -> None:
    sid = station_id()
    devices = [DeviceKey("term-1", "idterminal")]
    setup = write_station(tmp_path / "a", sid, devices, make_voters(5))
    data = tmp_path / "data"
    station = _station(setup, data, broker).start(http=False)
    with station.store.tx() as conn:
        conn.execute(
            "INSERT INTO issuances (voter_row, device, txn) VALUES (1, 'term-1', 't')"
        )
    station.stop()
    # Another station's setup on this data directory.
    other = write_station(tmp_path / "b", station_id(), devices, make_voters(5))
    with pytest.raises(StationError, match="holds the data of station"):
        _station(other, data, broker).start(http=False)
    # The same station with a different voter list after ballots were issued.
    write_station(tmp_path / "a", sid, devices, make_voters(6))
    with pytest.raises(StationError, match="changed since polls opened"):
        _station(setup, data, broker).start(http=False)
    # A broken voter list is refused before anything is touched.
    (tmp_path / "a" / "voters.csv").write_text(HEADER + "\n1,v1\n")
    with pytest.raises(StationError, match="line 2"):
        _station(setup, data, broker).start(http=False)
    # Back to the original list: the station starts and has kept its records.
    write_station(tmp_path / "a", sid, devices, make_voters(5))
    station = _station(setup, data, broker).start(http=False)
    assert station.status()["checked_in"] == 1
    station.stop()
