"""Ballot intake on a real broker: image transfer, decisions, and the sheet lifecycle."""

from __future__ import annotations

import numpy as np

from controller import audit
from tests.controller.helpers import marked_ballot, wait_until

VOTES = {"mayor": ["m-asel"], "council": ["c-1", "c-3"]}


def _ballot(ctx, mode: str = "test"):
    return marked_ballot(ctx.station.election, "s1", VOTES, mode=mode)


def _sheets(ctx) -> dict[str, str]:
    with ctx.station.store.read() as conn:
        return dict(conn.execute("SELECT id, state FROM sheets").fetchall())


def _audit(ctx, kind: str) -> list[dict]:
    with ctx.station.store.read() as conn:
        return audit.entries(conn, kind)


def test_accepted_sheet_is_cast_once(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    end = scan.upload("scan-1-1-1", _ballot(ctx))
    decision = scan.reply_to(end)
    assert decision.type == "ballot.decision"
    assert decision.body == {
        "sheet": "scan-1-1-1",
        "decision": "accept",
        "reason": None,
        "message": decision.body["message"],
    }
    assert ctx.station.status()["pending"] == 1
    # The image is kept under the id its vote record will have, never the sheet's id.
    images = list((ctx.data / "images").iterdir())
    assert [p.name.startswith("cvr-") for p in images] == [True]
    assert images[0].stat().st_mtime == 0

    seq, payload = scan.seal("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1})
    scan.publish(payload)
    recorded = scan.reply_to(seq)
    assert recorded.type == "ballot.recorded"
    assert recorded.body == {"sheet": "scan-1-1-1", "cast": 1, "recorded": True}
    scan.publish(payload)  # redelivered: the same reply, nothing counted again
    wait_until(lambda: len(scan.replies_to(seq)) == 2)
    again = scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1})  # outbox resend
    assert again.body == recorded.body
    status = ctx.station.status()
    assert (status["cast"], status["pending"]) == (1, 0)
    assert len(_audit(ctx, "ballot.cast")) == 1
    # A late blob.end for the same sheet gets the stored decision and changes nothing.
    late = scan.request(
        "blob.end", {"blob": "scan-1-1-1", "chunks": 1, "size": 1, "sha256": "0" * 64}
    )
    assert late.body["decision"] == "accept" and _sheets(ctx) == {"scan-1-1-1": "cast"}
    # Neither the selections nor the image hash (which the record carries) are in the
    # audit log, whose entries have times.
    text = str([e["detail"] for e in _audit(ctx, "sheet.accepted") + _audit(ctx, "ballot.cast")])
    assert "m-asel" not in text and "image_sha256" not in text and "cvr-" not in text
    # One vote record, under the image's name; the sheet keeps only that it was cast.
    with ctx.station.store.read() as conn:
        records = conn.execute("SELECT id, device, style FROM cvrs").fetchall()
        sheet = conn.execute("SELECT record, image_sha256, style FROM sheets").fetchone()
    assert [tuple(r) for r in records] == [(images[0].stem, "scan-1", "s1")]
    assert tuple(sheet) == (None, None, None)


def test_rejected_sheet_is_voided_on_return(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    decision = scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx, mode="official")))
    assert decision.body["decision"] == "return" and decision.body["reason"] == "official_ballot"
    assert "official ballot" in decision.body["message"]
    assert _sheets(ctx) == {"scan-1-1-1": "rejected"}
    for _ in range(2):
        voided = scan.request(
            "ballot.returned", {"sheet": "scan-1-1-1", "reason": "wrong_election"}
        )
        assert voided.type == "ballot.voided" and voided.body == {
            "sheet": "scan-1-1-1",
            "voided": True,
        }
    assert _sheets(ctx) == {"scan-1-1-1": "voided"}
    # Dropping a sheet that was to be returned counts nothing and is on record.
    dropped = scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1})
    assert dropped.body == {"sheet": "scan-1-1-1", "cast": 0, "recorded": False}
    assert _audit(ctx, "ballot.drop_not_counted")
    assert ctx.station.status()["cast"] == 0


def test_accepted_then_returned_is_voided(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx)))
    scan.request("ballot.returned", {"sheet": "scan-1-1-1", "reason": "timeout"})
    assert _sheets(ctx) == {"scan-1-1-1": "voided"}
    assert (
        scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1}).body["recorded"]
        is False
    )
    assert ctx.station.status()["cast"] == 0


def test_return_of_a_cast_sheet_keeps_it_cast(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx)))
    scan.request("ballot.dropped", {"sheet": "scan-1-1-1", "counter": 1})
    reply = scan.request("ballot.returned", {"sheet": "scan-1-1-1", "reason": "x"})
    assert reply.body == {"sheet": "scan-1-1-1", "voided": False}
    assert _sheets(ctx) == {"scan-1-1-1": "cast"} and _audit(ctx, "ballot.return_of_cast")


def test_interrupted_scan_returned_before_any_decision(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    scan.send(
        "blob.begin",
        {
            "blob": "scan-1-1-1",
            "kind": "ballot-image",
            "meta": {"width": 96, "height": 24, "dpi": 100, "bpp": 8},
        },
    )
    reply = scan.request("ballot.returned", {"sheet": "scan-1-1-1", "reason": "interrupted"})
    assert reply.body["voided"] is True
    # Whatever of that scan arrives later can never be accepted.
    decision = scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx)))
    assert decision.body["decision"] == "return"
    assert _sheets(ctx) == {"scan-1-1-1": "voided"} and ctx.station.status()["pending"] == 0


def test_missing_chunk_is_returned(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    decision = scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx), skip={1}))
    assert (decision.body["decision"], decision.body["reason"]) == ("return", "incomplete")
    assert _sheets(ctx) == {"scan-1-1-1": "rejected"}
    # The scanner feeds the sheet again under a new id and it goes through.
    assert scan.reply_to(scan.upload("scan-1-1-2", _ballot(ctx))).body["decision"] == "accept"


def test_bad_hash_is_returned(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    decision = scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx), corrupt_hash=True))
    assert (decision.body["decision"], decision.body["reason"]) == ("return", "bad_hash")
    assert ctx.station.status()["pending"] == 0


def test_oversized_blob_is_refused_and_returned(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    # Declared larger than any ballot: refused at begin, its chunks ignored, returned at end.
    scan.send(
        "blob.begin",
        {
            "blob": "scan-1-1-1",
            "kind": "ballot-image",
            "meta": {"width": 8000, "height": 8000, "dpi": 300, "bpp": 8},
        },
    )
    for i in range(3):
        scan.send("blob.chunk", {"blob": "scan-1-1-1", "i": i, "off": i * 1000}, b"\x00" * 1000)
    end = scan.request(
        "blob.end", {"blob": "scan-1-1-1", "chunks": 3, "size": 3000, "sha256": "0" * 64}
    )
    assert (end.body["decision"], end.body["reason"]) == ("return", "too_large")
    refused = [e["detail"]["code"] for e in _audit(ctx, "message.refused")]
    assert refused == ["too_large"]
    # More data than the sheet's own metadata allows: refused once, returned.
    small = {"width": 96, "height": 8, "dpi": 100, "bpp": 8}
    scan.send("blob.begin", {"blob": "scan-1-1-2", "kind": "ballot-image", "meta": small})
    image = _ballot(ctx).tobytes()
    for i in range(3):
        scan.send(
            "blob.chunk",
            {"blob": "scan-1-1-2", "i": i, "off": i * 768},
            image[i * 768 : (i + 1) * 768],
        )
    end = scan.request(
        "blob.end", {"blob": "scan-1-1-2", "chunks": 3, "size": 2304, "sha256": "0" * 64}
    )
    assert end.body["reason"] == "too_large"
    assert [e["detail"]["code"] for e in _audit(ctx, "message.refused")] == ["too_large"] * 2
    assert ctx.station.status()["pending"] == 0


def test_foreign_sheet_ids_and_bad_meta_are_refused(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    scan.send(
        "blob.begin",
        {
            "blob": "scan-2-1-1",
            "kind": "ballot-image",
            "meta": {"width": 96, "height": 24, "dpi": 100, "bpp": 8},
        },
    )
    scan.send(
        "blob.begin",
        {
            "blob": "scan-1-1-1",
            "kind": "ballot-image",
            "meta": {"width": 96, "height": 24, "dpi": 100, "bpp": 1},
        },
    )
    scan.send(
        "blob.begin",
        {
            "blob": "scan-1-1-1",
            "kind": "photo",
            "meta": {"width": 96, "height": 24, "dpi": 100, "bpp": 8},
        },
    )
    seq = scan.send("ballot.dropped", {"sheet": "scan-1-X", "counter": 1})
    scan.hello()
    assert scan.replies_to(seq) == []
    assert [e["detail"]["code"] for e in _audit(ctx, "message.refused")] == ["malformed"] * 4
    assert _sheets(ctx) == {}


def test_reader_failure_returns_the_sheet(make_station) -> None:
    def broken(gray: np.ndarray, election, mode="test", station=None) -> dict:
        raise ValueError("reader crashed")

    ctx = make_station(reader=broken)
    scan = ctx.device("scan-1")
    decision = scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx)))
    assert (decision.body["decision"], decision.body["reason"]) == ("return", "unreadable")


def test_no_ballot_accepted_while_polls_are_not_open(make_station) -> None:
    ctx = make_station(polls="setup")
    scan = ctx.device("scan-1")
    decision = scan.reply_to(scan.upload("scan-1-1-1", _ballot(ctx)))
    assert (decision.body["decision"], decision.body["reason"]) == ("return", "polls_closed")
    assert ctx.station.status()["pending"] == 0
