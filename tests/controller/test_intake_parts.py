"""The intake's three parts on their own: reassembly of a sheet's image from chunks, the
decision on the reader's result, and the one way the reader is called."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.intake import decision, ledger
from controller.intake.reassembly import MAX_SIDE, Reassembly, ReassemblyFailed
from controller.intake.sheets import Intake
from controller.polls.state import open_polls
from controller.store.database import Store
from protocol.blob_sender import BlobSender
from protocol.errors import ProtocolError

DEVICE = "scan-1"


def _image(height: int = 40, width: int = 30) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (height, width), dtype=np.uint8)


def _send(target: Any, sheet: str, image: np.ndarray, dpi: int = 200) -> dict[str, Any]:
    """Begin and chunk ``image`` into ``target``; return the ``blob.end`` body."""
    sender = BlobSender(sheet)
    height, width = image.shape
    target.begin(DEVICE, sender.begin("ballot-image", {
        "width": width, "height": height, "dpi": dpi, "bpp": 8}))  # fmt: skip
    for start in range(0, height, 7):
        part = image[start : start + 7].tobytes()
        target.chunk(DEVICE, sender.chunk(part), part)
    return sender.end()


def test_a_whole_image_comes_out_as_it_went_in() -> None:
    image = _image()
    parts = Reassembly()
    end = _send(parts, "scan-1-1-1", image, dpi=150)
    scan = parts.finish(DEVICE, "scan-1-1-1", end)
    assert np.array_equal(scan.gray, image) and scan.dpi == 150
    assert scan.sha256 == end["sha256"].lower()
    with pytest.raises(ReassemblyFailed) as again:  # the blob is forgotten once finished
        parts.finish(DEVICE, "scan-1-1-1", end)
    assert again.value.reason == "incomplete"


def test_a_forged_hash_a_missing_chunk_and_no_begin_are_reasons_to_return() -> None:
    image = _image()
    parts = Reassembly()
    end = _send(parts, "scan-1-1-1", image)
    with pytest.raises(ReassemblyFailed) as forged:
        parts.finish(DEVICE, "scan-1-1-1", dict(end, sha256="00" * 32))
    assert forged.value.reason == "bad_hash"

    sender = BlobSender("scan-1-1-2")
    parts.begin(DEVICE, sender.begin("ballot-image", {
        "width": 30, "height": 40, "dpi": 200, "bpp": 8}))  # fmt: skip
    first = image[:20].tobytes()
    parts.chunk(DEVICE, sender.chunk(first), first)
    sender.chunk(image[20:].tobytes())  # sent, never arrived
    with pytest.raises(ReassemblyFailed) as short:
        parts.finish(DEVICE, "scan-1-1-2", sender.end())
    assert short.value.reason == "incomplete"

    stray = BlobSender("scan-1-1-3")
    with pytest.raises(ProtocolError) as err:
        parts.chunk(DEVICE, stray.chunk(b"x" * 30), b"x" * 30)
    assert err.value.code == "bad_chunk"
    with pytest.raises(ReassemblyFailed) as never_begun:
        parts.finish(DEVICE, "scan-1-1-3", stray.end())
    assert never_begun.value.reason == "incomplete"


def test_an_oversized_or_malformed_image_is_refused_at_begin() -> None:
    parts = Reassembly(max_blob=1000)
    sender = BlobSender("scan-1-1-1")
    with pytest.raises(ProtocolError) as big:
        parts.begin(DEVICE, sender.begin("ballot-image", {
            "width": 100, "height": 100, "dpi": 200, "bpp": 8}))  # fmt: skip
    assert big.value.code == "too_large"
    with pytest.raises(ReassemblyFailed) as later:
        parts.finish(DEVICE, "scan-1-1-1", sender.end())
    assert later.value.reason == "too_large"
    wide = {"width": MAX_SIDE + 1, "height": 1, "dpi": 200, "bpp": 8}
    with pytest.raises(ProtocolError, match="exceeds"):
        Reassembly().begin(DEVICE, BlobSender("scan-1-1-2").begin("ballot-image", wide))
    for meta in (None, {"width": 10, "height": 10, "dpi": 200, "bpp": 16},
                 {"width": True, "height": 10, "dpi": 200, "bpp": 8},
                 {"width": 10, "height": -1, "dpi": 200, "bpp": 8}):
        with pytest.raises(ProtocolError) as bad:
            parts.begin(DEVICE, {"blob": "scan-1-1-4", "kind": "ballot-image", "meta": meta})
        assert bad.value.code == "malformed"
    for sheet in ("scan-2-1-1", "SCAN-1-1", "scan-1-" + "1" * 80, 7):
        with pytest.raises(ProtocolError, match="is not one of scan-1's"):
            parts.begin(DEVICE, {"blob": sheet, "kind": "ballot-image", "meta": {}})


def test_the_readers_result_decides_and_anything_else_is_unreadable() -> None:
    digest = "ab" * 32
    for broken in (None, [], {"status": "maybe"}, {"status": "accepted"},
                   {"status": "accepted", "votes": {}, "contests": {}}):
        outcome = decision.decide("scan-1-1-1", digest, broken)
        assert (outcome.decision, outcome.reason) == ("return", "unreadable")
    rejected = decision.decide("scan-1-1-1", digest, {"status": "rejected", "reason": "x" * 500})
    assert rejected.decision == "return" and rejected.reason == "x" * 64
    assert rejected.record is None
    accepted = decision.decide("scan-1-1-1", digest, {
        "status": "accepted", "style": "s1", "votes": {"c1": ["o1"]},
        "contests": {"c1": "ok"}, "marks": "not a list"})  # fmt: skip
    assert (accepted.decision, accepted.reason) == ("accept", None)
    assert accepted.record is not None and accepted.record["marks"] == []
    assert accepted.record["votes"] == {"c1": ["o1"]} and accepted.record["cvr"]


def test_the_reader_is_called_one_way_and_its_failure_returns_the_sheet(tmp_path: Path) -> None:
    calls: list[tuple[tuple[int, ...], dict[str, Any]]] = []

    def reader(gray: np.ndarray, election: Any, **options: Any) -> dict[str, Any]:
        calls.append((gray.shape, options))
        if len(calls) > 1:
            raise RuntimeError("the reader failed")
        return {"status": "rejected", "reason": "wrong_station"}

    store = Store(tmp_path / "station.db")
    open_polls(store)
    intake = Intake(store, None, reader, "test", "st-1", keep_images=True)
    image = _image()
    outcomes = []
    for sheet in ("scan-1-1-1", "scan-1-1-2"):
        end = _send(intake, sheet, image, dpi=300)
        outcome = intake.prepare_end(DEVICE, end, "open")
        with store.tx() as conn:
            outcomes.append(intake.apply_end(conn, DEVICE, outcome, sheet, "open"))
    assert calls == [((40, 30), {"mode": "test", "station": "st-1", "dpi": 300})] * 2
    assert [(o["decision"], o["reason"]) for o in outcomes] == [
        ("return", "wrong_station"), ("return", "unreadable")]  # fmt: skip
    # Both returned sheets' images are kept for review, under random names.
    with store.read() as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM kept_images")]
        assert len(names) == 2 and all(n.startswith("ret-") for n in names), names
        assert ledger.stored_decision(conn, "scan-1-1-2")["reason"] == "unreadable"
        assert ledger.cast_count(conn) == 0
    store.close()
