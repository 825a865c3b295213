"""Finger samples from terminals at the controller: assembly, limits, forged and broken input.

First ``controller.checkin.finger_samples.Fingers`` on its own (bounds, expiry, every kind of bad
chunk), then a real station (``controller.station.app.Station``) on the test broker, fed by a
device that speaks the signed wire protocol: the finger blob, then the check-in that
references it, and what the audit log says.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.checkin.finger_samples import (
    CAPTURED,
    MAX_PER_DEVICE,
    MAX_SAMPLES,
    MISMATCH,
    NOT_RECEIVED,
    Fingers,
)
from controller.station.app import Station
from controller.store import audit
from hil.broker import Broker
from hil.peripherals.fingerprint_sensor import finger_image, unpack_image
from protocol.blob import BlobSender
from protocol.errors import ProtocolError
from tests.controller.helpers import (
    DeviceKey,
    WireDevice,
    load_test_election,
    make_voters,
    station_id,
    station_login,
    write_station,
)

IMAGE_META = {"kind": "zhiantec-image", "width": 256, "height": 288, "bits": 4}


def blob_messages(blob_id: str, data: bytes, meta: dict, chunk: int = 4096) -> list[tuple]:
    """``(type, body, attachment)`` of a finger blob as a terminal sends it."""
    sender = BlobSender(blob_id)
    out = [("blob.begin", sender.begin("finger", meta), b"")]
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        out.append(("blob.chunk", sender.chunk(part), part))
    out.append(("blob.end", sender.end(), b""))
    return out


def feed(fingers: Fingers, device: str, messages: list[tuple]) -> None:
    for mtype, body, attachment in messages:
        if mtype == "blob.begin":
            fingers.begin(device, body)
        elif mtype == "blob.chunk":
            fingers.chunk(device, body, attachment)
        else:
            fingers.end(device, body)


def iso_record(minutiae: int = 3) -> bytes:
    """A small ISO/IEC 19794-2 record (one view of ``minutiae`` minutiae, 256 x 288)."""
    body = bytes((1, 0, 60, minutiae))
    for n in range(minutiae):
        body += struct.pack(">HHBB", (1 << 14) | (20 + n), 30 + n, n * 16, 60)
    body += b"\x00\x00"
    size = 24 + len(body)
    return b"FMR\x00 20\x00" + struct.pack(">IHHHHHBB", size, 0, 256, 288, 197, 197, 1, 0) + body


def reference(data: bytes, meta: dict) -> dict:
    ref = dict(meta, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    return ref


# ---- Fingers on its own ------------------------------------------------------------


def test_image_assembled_and_taken_once() -> None:
    fingers = Fingers()
    image = finger_image(3)
    feed(fingers, "term-1", blob_messages("term-1-1-1", image, IMAGE_META))
    sample, status = fingers.take("term-1", "term-1-1-1", reference(image, IMAGE_META), CAPTURED)
    assert status == CAPTURED
    assert (sample.kind, sample.width, sample.height, sample.bits) == (
        "zhiantec-image", 256, 288, 4)
    assert sample.data == image
    assert (sample.pixels() == unpack_image(image)).all()
    fingers.discard("term-1", "term-1-1-1")
    assert fingers.take("term-1", "term-1-1-1", reference(image, IMAGE_META), None) == (
        None, NOT_RECEIVED)


def test_iso_template_assembled() -> None:
    record = iso_record()
    fingers = Fingers()
    feed(fingers, "term-2", blob_messages("term-2-3-9", record, {"kind": "iso19794-2"}, 100))
    ref = {"kind": "iso19794-2", "size": len(record), "sha256": hashlib.sha256(record).hexdigest()}
    sample, status = fingers.take("term-2", "term-2-3-9", ref, None)
    assert status == CAPTURED and sample.data == record
    assert (sample.width, sample.height, sample.bits) == (256, 288, 0)
    with pytest.raises(ValueError):
        sample.pixels()


def test_reference_that_does_not_match_is_a_mismatch() -> None:
    fingers = Fingers()
    image = finger_image(1)
    feed(fingers, "term-1", blob_messages("term-1-1-2", image, IMAGE_META))
    for wrong in (
        dict(reference(image, IMAGE_META), sha256="00" * 32),
        dict(reference(image, IMAGE_META), size=100),
        dict(reference(image, IMAGE_META), kind="iso19794-2"),
        dict(reference(image, IMAGE_META), width=300),
    ):
        assert fingers.take("term-1", "term-1-1-2", wrong, None) == (None, MISMATCH)
    # Another device's sample is never handed out.
    assert fingers.take("term-2", "term-1-1-2", reference(image, IMAGE_META), None) == (
        None, NOT_RECEIVED)


def test_no_finger_statuses_and_malformed_pairs() -> None:
    fingers = Fingers()
    assert fingers.take("term-1", "term-1-1-1", None, "no_finger") == (None, "no_finger")
    assert fingers.take("term-1", "term-1-1-1", None, None) == (None, None)
    for finger, status in ((None, "banana"), (None, 7), ("abc", None), ([1], None),
                           ({"kind": "zhiantec-image"}, "no_finger")):
        with pytest.raises(ProtocolError) as err:
            fingers.take("term-1", "term-1-1-1", finger, status)
        assert err.value.code == "malformed"


@pytest.mark.parametrize(
    ("begin", "code"),
    [
        ({"blob": "term-9-1-1", "kind": "finger", "meta": IMAGE_META}, "malformed"),
        ({"blob": "term-1-1-1", "kind": "ballot-image", "meta": IMAGE_META}, "malformed"),
        ({"blob": "term-1-1-1", "kind": "finger", "meta": dict(IMAGE_META, width=4096)},
         "malformed"),
        ({"blob": "term-1-1-1", "kind": "finger", "meta": {"kind": "png"}}, "malformed"),
        ({"blob": "term-1-1-1", "kind": "finger", "meta": "big"}, "malformed"),
        ({"blob": "TERM 1", "kind": "finger", "meta": IMAGE_META}, "malformed"),
        ({"blob": "term-1-" + "9" * 200, "kind": "finger", "meta": IMAGE_META}, "malformed"),
    ],
)
def test_forged_begins_are_refused(begin: dict, code: str) -> None:
    with pytest.raises(ProtocolError) as err:
        Fingers().begin("term-1", begin)
    assert err.value.code == code


def test_oversized_conflicting_and_broken_chunks() -> None:
    image = finger_image(2)
    messages = blob_messages("term-1-1-1", image, IMAGE_META)
    begin, first = messages[0][1], messages[1]
    fingers = Fingers()
    # A chunk of a blob that never began.
    with pytest.raises(ProtocolError) as err:
        fingers.chunk("term-1", first[1], first[2])
    assert err.value.code == "bad_chunk"
    # More than an image can hold.
    fingers.begin("term-1", begin)
    with pytest.raises(ProtocolError) as err:
        fingers.chunk("term-1", {"blob": "term-1-1-1", "i": 0, "off": 36000}, bytes(4096))
    assert err.value.code == "too_large"
    with pytest.raises(ProtocolError):
        fingers.end("term-1", messages[-1][1])  # the blob failed: its end is refused too
    # The same index again with other bytes.
    fingers.begin("term-1", begin)
    fingers.chunk("term-1", first[1], first[2])
    with pytest.raises(ProtocolError) as err:
        fingers.chunk("term-1", first[1], bytes(len(first[2])))
    assert err.value.code == "bad_chunk"
    # All chunks, but the end names another hash: nothing is kept.
    fingers.begin("term-1", begin)
    for _, body, attachment in messages[1:-1]:
        fingers.chunk("term-1", body, attachment)
    forged_end = dict(messages[-1][1], sha256=hashlib.sha256(b"x").hexdigest())
    with pytest.raises(ProtocolError) as err:
        fingers.end("term-1", forged_end)
    assert err.value.code == "bad_hash"
    assert fingers.take("term-1", "term-1-1-1", reference(image, IMAGE_META), None) == (
        None, NOT_RECEIVED)
    # A missing chunk.
    fingers.begin("term-1", begin)
    for _, body, attachment in messages[2:-1]:
        fingers.chunk("term-1", body, attachment)
    with pytest.raises(ProtocolError) as err:
        fingers.end("term-1", messages[-1][1])
    assert err.value.code == "bad_chunk"
    # A complete blob of the wrong length for an image (sender and receiver agree on it).
    short = blob_messages("term-1-1-2", image[:1000], IMAGE_META)
    with pytest.raises(ProtocolError):
        feed(fingers, "term-1", short)
    # A template that is not an ISO record.
    with pytest.raises(ProtocolError) as err:
        feed(fingers, "term-1", blob_messages("term-1-1-3", b"GIF89a" * 10, {"kind": "iso19794-2"}))
    assert err.value.code == "malformed"


def test_memory_is_bounded_and_old_samples_expire() -> None:
    now = [0.0]
    fingers = Fingers(ttl=60, clock=lambda: now[0])
    image = finger_image(4)
    for n in range(MAX_PER_DEVICE + 3):
        now[0] += 1
        feed(fingers, "term-1", blob_messages(f"term-1-1-{n}", image, IMAGE_META))
    assert len(fingers) == MAX_PER_DEVICE
    newest = f"term-1-1-{MAX_PER_DEVICE + 2}"
    assert fingers.take("term-1", newest, reference(image, IMAGE_META), None)[1] == CAPTURED
    assert fingers.take("term-1", "term-1-1-0", reference(image, IMAGE_META), None)[1] == (
        NOT_RECEIVED)
    for d in range(MAX_SAMPLES + 5):
        now[0] += 1
        fingers.begin(f"t{d}", {"blob": f"t{d}-1-1", "kind": "finger", "meta": IMAGE_META})
    assert len(fingers) == MAX_SAMPLES
    now[0] += 61
    assert fingers.take("term-1", newest, reference(image, IMAGE_META), None)[1] == NOT_RECEIVED
    fingers.begin("term-1", {"blob": "term-1-2-1", "kind": "finger", "meta": IMAGE_META})
    assert len(fingers) == 1


# ---- through a running station ---------------------------------------------------------


@pytest.fixture
def station(tmp_path: Path, broker: Broker) -> Iterator[tuple[Station, dict, list]]:
    sid = station_id("fi")
    devices = [DeviceKey("term-1", "idterminal"), DeviceKey("scan-1", "scanner")]
    people = make_voters(6)
    setup = write_station(tmp_path / sid, sid, devices, people, "test", "open", None)
    st = Station(setup, tmp_path / sid / "data", broker.host, broker.port,
                 election_loader=load_test_election,
                 broker_login=station_login(broker, setup)).start(http=False)
    clients: list[WireDevice] = []

    def device(name: str) -> WireDevice:
        key = next(d.key for d in devices if d.id == name)
        client = WireDevice(broker, sid, name, key)
        clients.append(client)
        return client

    try:
        yield st, {"device": device}, people
    finally:
        for client in clients:
            client.close()
        st.stop()


def checkin_entries(st: Station) -> list[dict]:
    with st.store.read() as conn:
        return [e for e in audit.entries(conn) if e["kind"].startswith("checkin.")]


def test_station_checks_in_with_the_finger_and_audits_its_status(station) -> None:
    st, make, people = station
    term = make["device"]("term-1")
    term.hello(role="idterminal")
    image = finger_image(7)
    txn = "term-1-1-1"
    for mtype, body, attachment in blob_messages(txn, image, IMAGE_META, 1024):
        term.send(mtype, body, attachment)
    body = {"txn": txn, "mrz": people[0].mrz(), "doc": {}, "finger": reference(image, IMAGE_META),
            "finger_status": "captured"}
    result = term.request("checkin.request", body).body
    assert result["status"] == "issued"
    # A voter without a usable finger: checked in by document, the status on record.
    no_finger = {"txn": "term-1-1-2", "mrz": people[1].mrz(), "doc": {}, "finger": None,
                 "finger_status": "no_finger"}
    assert term.request("checkin.request", no_finger).body["status"] == "issued"
    # A request referencing a finger that never arrived, one with another hash.
    lost = {"txn": "term-1-1-3", "mrz": people[2].mrz(), "doc": {},
            "finger": reference(image, IMAGE_META), "finger_status": "captured"}
    assert term.request("checkin.request", lost).body["status"] == "issued"
    for mtype, b, attachment in blob_messages("term-1-1-4", image, IMAGE_META, 4096):
        term.send(mtype, b, attachment)
    forged = {"txn": "term-1-1-4", "mrz": people[3].mrz(), "doc": {},
              "finger": dict(reference(image, IMAGE_META), sha256="ab" * 32),
              "finger_status": "captured"}
    assert term.request("checkin.request", forged).body["status"] == "issued"
    entries = checkin_entries(st)
    statuses = [e["detail"]["finger_status"] for e in entries]
    assert statuses == ["captured", "no_finger", "not_received", "mismatch"]
    # Finished check-ins leave nothing behind.
    assert len(st.dispatcher.fingers) == 0


def test_station_refuses_broken_finger_blobs_and_keeps_running(station) -> None:
    st, make, people = station
    term = make["device"]("term-1")
    scan = make["device"]("scan-1")
    term.hello(role="idterminal")
    image = finger_image(8)
    messages = blob_messages("term-1-1-1", image, IMAGE_META, 4096)
    term.send(*messages[0][:2])
    term.send("blob.chunk", {"blob": "term-1-1-1", "i": 0, "off": 34816}, bytes(4096))
    term.send("blob.chunk", {"blob": "term-2-1-1", "i": 0, "off": 0}, bytes(16))  # not its own
    # A scanner's "finger" is a ballot image to the controller: refused as one.
    scan.send("blob.begin", {"blob": "scan-1-1-1", "kind": "finger", "meta": IMAGE_META})
    term.hello(role="idterminal")  # everything before it has been handled
    with st.store.read() as conn:
        refused = [e["detail"]["code"] for e in audit.entries(conn, "message.refused")]
    assert refused.count("too_large") == 1 and refused.count("malformed") >= 2
    body = {"txn": "term-1-1-1", "mrz": people[0].mrz(), "doc": {},
            "finger": reference(image, IMAGE_META), "finger_status": "captured"}
    assert term.request("checkin.request", body).body["status"] == "issued"
    assert checkin_entries(st)[-1]["detail"]["finger_status"] == "not_received"
