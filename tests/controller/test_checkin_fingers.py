"""Check-in with fingers: match, mismatch held for the chair, retry, document alone, 1:N.

Fingers are synthetic (``hil.fingerprints``) and go through the real extractor and
matcher: enrolled references as ISO/IEC 19794-2 records, probes as the 4-bit images a
ZhianTec sensor uploads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from controller.biometrics import iso19794_2
from controller.biometrics.extract import extract
from controller.biometrics.template import FingerRecord, FingerView
from controller.checkin import finger_references as references
from controller.checkin.check_in import OverrideError, check_in, held, override
from controller.checkin.finger_samples import IMAGE, ISO, FingerSample
from controller.checkin.voter_list import Voter, store_voters
from controller.store.database import Store, set_meta
from hil.fingerprints import make_impression, make_master
from protocol.errors import ProtocolError
from tests.controller.helpers import make_voters

VOTERS = 6
ENROLLED = 4  # the last two voters have no finger reference


def _pack(gray: np.ndarray) -> bytes:
    levels = (gray.astype(np.uint16) // 17).astype(np.uint8)
    return bytes((levels[:, 0::2] << 4) | levels[:, 1::2])


def _probe(finger: int, seed: int, condition: str = "good") -> FingerSample:
    image = make_impression(make_master(500 + finger), seed, condition=condition).image
    return FingerSample(IMAGE, 256, 288, 4, _pack(image))


def _record(finger: int) -> bytes:
    master = make_master(500 + finger)
    views = []
    for seed in (1, 2):
        found = extract(make_impression(master, seed, condition="good").image)
        assert found.usable
        views.append(FingerView(found.minutiae, finger=2, view=seed - 1, quality=found.quality))
    return iso19794_2.encode(FingerRecord(256, 288, views))


@pytest.fixture(scope="module")
def enrolled_records() -> dict[int, bytes]:
    return {i: _record(i) for i in range(ENROLLED)}


@pytest.fixture
def store(tmp_path: Path, enrolled_records: dict[int, bytes]):
    voters = make_voters(VOTERS)
    folder = tmp_path / "fingers"
    folder.mkdir()
    for i, data in enrolled_records.items():
        (folder / f"{voters[i].voter_id}.iso").write_bytes(data)
    plain = [Voter(**v.__dict__) for v in voters]
    refs = references.load_references(folder, plain)
    s = Store(tmp_path / "station.db")
    with s.tx() as conn:
        store_voters(conn, plain)
        references.store_references(conn, refs)
        set_meta(conn, "fingers_sha256", references.references_digest(refs))
    s.voters = voters
    yield s
    s.close()


def _check(store: Store, voter, txn: str, finger=None, status=None, device="term-1") -> dict:
    body = {"txn": txn, "mrz": voter.mrz() if voter else [], "doc": {}}
    with store.tx() as conn:
        return check_in(conn, device, body, "open", finger=finger, finger_status=status)


def _audit(store: Store, kind: str) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute("SELECT detail FROM audit WHERE kind = ? ORDER BY id", (kind,))
        return [json.loads(r[0]) for r in rows]


def test_the_voters_own_finger_issues_the_ballot(store: Store) -> None:
    result = _check(store, store.voters[0], "t1", _probe(0, 7))
    assert result["status"] == "issued"
    entry = _audit(store, "checkin.issued")[0]
    assert entry["finger"] == "match" and entry["score"] > 0


def test_another_persons_finger_is_held_for_the_chair(store: Store) -> None:
    voter = store.voters[1]
    result = _check(store, voter, "t2", _probe(2, 7))
    assert result["status"] == "finger_mismatch" and result["style"] is None
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0] == 0
        assert [h["txn"] for h in held(conn)] == ["t2"]
    with store.tx() as conn, pytest.raises(OverrideError, match="reason"):
        override(conn, "t2", "  ", "open")
    with store.tx() as conn:
        assert override(conn, "t2", "finger scarred; identity checked by photo", "open")[
            "status"
        ] == "issued"
    with store.tx() as conn, pytest.raises(OverrideError, match="already overridden"):
        override(conn, "t2", "again", "open")
    with store.tx() as conn, pytest.raises(OverrideError, match="no held"):
        override(conn, "nope", "a reason", "open")
    entry = _audit(store, "checkin.override")[0]
    assert entry["reason"].startswith("finger scarred") and entry["status"] == "issued"
    # The voter now holds a ballot: presenting again is already_issued, finger or not.
    assert _check(store, voter, "t2b", _probe(1, 8))["status"] == "already_issued"


def test_a_poor_capture_is_retry_not_mismatch(store: Store) -> None:
    blank = FingerSample(IMAGE, 256, 288, 4, bytes([0xEE]) * (256 * 288 // 2))
    result = _check(store, store.voters[0], "t3", blank)
    assert result["status"] == "finger_retry" and "place" in result["reason"].lower()
    with store.read() as conn:
        assert held(conn) == []
    assert _check(store, store.voters[0], "t3b", _probe(0, 9))["status"] == "issued"


def test_enrolled_voter_without_a_finger_goes_to_the_chair(store: Store) -> None:
    result = _check(store, store.voters[2], "t4", None, "sensor_error")
    assert result["status"] == "finger_mismatch" and "sensor_error" in result["reason"]


def test_voter_without_reference_is_checked_in_by_document_alone(store: Store) -> None:
    result = _check(store, store.voters[ENROLLED], "t5", None, "no_finger")
    assert result["status"] == "issued"
    entry = _audit(store, "checkin.issued")[-1]
    assert entry["finger"] == "no_reference" and entry["finger_status"] == "no_finger"


def test_identification_without_document(store: Store) -> None:
    result = _check(store, None, "t6", _probe(3, 11))
    assert result["status"] == "issued" and result["voter"]["row"] == store.voters[3].row
    stranger = _check(store, None, "t7", _probe(40, 11))
    assert stranger["status"] == "not_found"
    with pytest.raises(ProtocolError, match="needs a finger"):
        _check(store, None, "t8", None)


def test_iso_template_from_a_capable_sensor(store: Store) -> None:
    found = extract(make_impression(make_master(500), 21, condition="good").image)
    data = iso19794_2.encode(FingerRecord(256, 288, [FingerView(found.minutiae)]))
    assert _check(store, store.voters[0], "t9", FingerSample(ISO, 256, 288, 0, data))[
        "status"
    ] == "issued"


@pytest.mark.parametrize(
    "sample",
    [
        FingerSample(ISO, 256, 288, 0, b"FMR\x00 20\x00" + b"\xff" * 30),
        FingerSample(ISO, 256, 288, 0, b""),
        FingerSample(IMAGE, 256, 288, 4, b"\x00" * 100),
        FingerSample(IMAGE, 320, 288, 4, b"\x00" * (320 * 288 // 2)),
        FingerSample("photo", 256, 288, 8, b"\x00"),
    ],
    ids=["forged-iso", "empty-iso", "short-image", "wrong-size", "unknown-kind"],
)
def test_malformed_fingers_are_refused_and_change_nothing(store: Store, sample) -> None:
    with pytest.raises(ProtocolError):
        _check(store, store.voters[0], "bad", sample)
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0] == 0


def test_reference_folder_problems_are_named(tmp_path: Path, enrolled_records) -> None:
    voters = [Voter(**v.__dict__) for v in make_voters(3)]
    folder = tmp_path / "refs"
    folder.mkdir()
    (folder / "stranger.iso").write_bytes(enrolled_records[0])
    (folder / f"{voters[0].voter_id}.iso").write_bytes(b"FMR\x00garbage")
    (folder / "notes.txt").write_text("x")
    with pytest.raises(references.FingerReferenceError) as err:
        references.load_references(folder, voters)
    text = str(err.value)
    assert "not on the voter list" in text and "notes.txt" in text
    assert f"{voters[0].voter_id}.iso" in text


def test_chair_override_over_http(tmp_path: Path, enrolled_records) -> None:
    from fastapi.testclient import TestClient

    from controller.dashboard.api import create_app
    from controller.station.app import Station
    from tests.controller.helpers import DeviceKey, sign_in, station_id, write_station

    sid = station_id("fp")
    voters = make_voters(3)
    setup = write_station(tmp_path / sid, sid, [DeviceKey("term-1", "idterminal")], voters,
                          "test", "open")
    folder = setup.parent / "fingers"
    folder.mkdir()
    (folder / f"{voters[0].voter_id}.iso").write_bytes(enrolled_records[0])
    doc = json.loads(setup.read_text())
    doc["fingers"] = "fingers"
    setup.write_text(json.dumps(doc))
    station = Station(setup, tmp_path / sid / "data").start(http=False, mqtt=False)
    try:
        with station.store.tx() as conn:  # type: ignore[union-attr]
            body = {"txn": "h1", "mrz": voters[0].mrz(), "doc": {}}
            assert check_in(conn, "term-1", body, "open", _probe(3, 5))["status"] == (
                "finger_mismatch"
            )
        client = TestClient(create_app(station))
        sign_in(client, "chair")
        assert [h["txn"] for h in client.get("/api/checkin/held").json()] == ["h1"]
        assert client.get("/api/status").json()["held_for_chair"] == 1
        assert client.post("/api/checkin/override", json={"txn": "h1"}).status_code == 422
        missing = client.post("/api/checkin/override", json={"txn": "h9", "reason": "photo"})
        assert missing.status_code == 404
        done = client.post("/api/checkin/override", json={"txn": "h1", "reason": "photo ID"})
        assert done.status_code == 200 and done.json()["status"] == "issued"
        assert client.get("/api/checkin/held").json() == []
        status = client.get("/api/status").json()
        assert status["checked_in"] == 1 and status["held_for_chair"] == 0
    finally:
        station.stop()
