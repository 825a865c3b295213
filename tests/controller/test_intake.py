"""Ballot intake on a real broker: image transfer, decisions, and the sheet lifecycle."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from controller.election.definition import Election
from controller.intake import decision as intake_module
from controller.intake.decision import review_message, review_warnings
from controller.intake.ledger import cast_ballots
from controller.station.app import Station
from controller.store import audit
from hil.broker import Broker
from tests.controller.conftest import StationCtx, default_devices
from tests.controller.helpers import (
    ELECTION_DOC,
    load_test_election,
    make_voters,
    marked_ballot,
    station_id,
    station_login,
    wait_until,
    write_station,
)

VOTES = {"mayor": ["m-asel"], "council": ["c-1", "c-3"]}


def _ballot(ctx, mode: str = "test"):
    return marked_ballot(ctx.station.election, "s1", VOTES, mode=mode)


def _sheets(ctx) -> dict[str, str]:
    with ctx.station.store.read() as conn:
        return dict(conn.execute("SELECT id, state FROM sheets").fetchall())


def _audit(ctx, kind: str) -> list[dict]:
    with ctx.station.store.read() as conn:
        return audit.entries(conn, kind)


def _kept_images(ctx) -> list[str]:
    with ctx.station.store.read() as conn:
        return [r[0] for r in conn.execute("SELECT name FROM kept_images")]


def _cast(ctx) -> list:
    with ctx.station.store.read() as conn:
        return cast_ballots(conn)


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
    # The image is kept in the database under the id its vote record will have, never
    # the sheet's id; no file is written for it.
    images = _kept_images(ctx)
    assert [name.startswith("cvr-") for name in images] == [True]
    assert not (ctx.data / "images").exists()

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
        sheet = conn.execute("SELECT * FROM sheets").fetchone()
    assert [tuple(r) for r in records] == [(images[0], "scan-1", "s1")]
    assert (sheet["record"], sheet["style"]) == (None, None)
    # No time and no row number for the sheet, and none for the check-ins either.
    assert "created_at" not in sheet.keys() and "updated_at" not in sheet.keys()


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


# -- ballots sent back for review where the election's rules say so ----------------------------


@pytest.fixture
def warned_station(tmp_path: Path, broker: Broker) -> Iterator[Callable[..., StationCtx]]:
    """Factory: a station whose election warns voters about ``rules``."""
    made: list[StationCtx] = []

    def make(rules: list[str], review_seconds: float | None = None) -> StationCtx:
        sid = station_id()
        devices = default_devices()
        setup = write_station(tmp_path / sid, sid, devices, make_voters(5))
        doc = copy.deepcopy(ELECTION_DOC) | {"warn_voter": rules}
        (tmp_path / sid / "election.json").write_text(json.dumps(doc))
        station = Station(setup, tmp_path / sid / "data", broker.host, broker.port,
                          election_loader=load_test_election,
                          broker_login=station_login(broker, setup)).start(http=False)
        if review_seconds is not None:
            station.dispatcher.intake.review_seconds = review_seconds
        ctx = StationCtx(station, setup, tmp_path / sid / "data",
                         {d.id: d for d in devices}, [], broker)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        for client in ctx.clients:
            client.close()
        ctx.station.stop()


OVERVOTE = {"mayor": ["m-asel", "m-bakyt"], "council": ["c-1"]}


def _feed(scan, sheet: str, image: np.ndarray) -> dict:
    return scan.reply_to(scan.upload(sheet, image)).body


def _drop(scan, sheet: str, counter: int) -> dict:
    return scan.request("ballot.dropped", {"sheet": sheet, "counter": counter}).body


def test_an_overvoted_ballot_goes_back_once_then_in_as_it_is(warned_station) -> None:
    ctx = warned_station(["overvote", "blank"])
    assert ctx.station.election.warn_voter == ("overvote", "blank")
    scan = ctx.device("scan-1")
    image = marked_ballot(ctx.station.election, "s1", OVERVOTE)
    first = _feed(scan, "scan-1-1-1", image)
    assert (first["decision"], first["reason"]) == ("return", "review")
    # The voter is told which contest and what they can do.
    assert first["message"] == ("Mayor: too many marks, will not count. Insert it again to "
                                "cast it as it is, or ask for a new one.")
    voided = scan.request("ballot.returned", {"sheet": "scan-1-1-1", "reason": "review"}).body
    assert voided == {"sheet": "scan-1-1-1", "voided": True}
    # Fed again as it is: into the box, counted, with the overvote on record.
    again = _feed(scan, "scan-1-1-2", image)
    assert (again["decision"], again["reason"]) == ("accept", None)
    assert _drop(scan, "scan-1-1-2", 1)["recorded"] is True
    ballots = _cast(ctx)
    assert [b.verdicts for b in ballots] == [{"mayor": "overvote", "council": "undervote"}]
    # What was wrong with the returned ballot, its style and its image are nowhere with a
    # time: the stored decision, the sheet and the audit log say "review".
    with ctx.station.store.read() as conn:
        row = conn.execute(
            "SELECT reason, message, style FROM sheets WHERE id = 'scan-1-1-1'"
        ).fetchone()
    assert tuple(row) == ("review", intake_module.MESSAGES["review"], None)
    returned = _audit(ctx, "sheet.returned")
    assert [e["detail"]["reason"] for e in returned] == ["review"]
    assert "Mayor" not in json.dumps(returned) and "overvote" not in json.dumps(returned)
    assert returned[0]["detail"].get("image_sha256") is None
    # Nor is its image kept: only the cast ballot's, under its record's id.
    images = _kept_images(ctx)
    assert len(images) == 1 and images[0].startswith("cvr-")
    late = scan.request("blob.end", {"blob": "scan-1-1-1", "chunks": 1, "size": 1,
                                     "sha256": "0" * 64}).body
    assert late["reason"] == "review" and "Mayor" not in late["message"]


def test_a_blank_ballot_goes_back_for_review(warned_station) -> None:
    ctx = warned_station(["overvote", "blank"])
    scan = ctx.device("scan-1")
    blank = marked_ballot(ctx.station.election, "s1", {})
    decision = _feed(scan, "scan-1-1-1", blank)
    assert decision["reason"] == "review"
    assert decision["message"].startswith("no mark on the ballot. Insert it again")
    # A ballot that is merely short of marks is no concern of these rules.
    short = marked_ballot(ctx.station.election, "s1", {"mayor": ["m-asel"]})
    assert _feed(scan, "scan-1-1-2", short)["decision"] == "accept"


def test_another_ballot_in_between_is_warned_again(warned_station) -> None:
    ctx = warned_station(["overvote"])
    scan = ctx.device("scan-1")
    image = marked_ballot(ctx.station.election, "s1", OVERVOTE)
    other = marked_ballot(ctx.station.election, "s1", {"mayor": ["m-asel", "m-chyngyz"]})
    assert _feed(scan, "scan-1-1-1", image)["reason"] == "review"
    # Another voter's overvoted ballot is warned about in its own right...
    assert _feed(scan, "scan-1-1-2", other)["reason"] == "review"
    # ... and the first one, back after it, is warned again: the scanner remembers one.
    assert _feed(scan, "scan-1-1-3", image)["reason"] == "review"
    assert _feed(scan, "scan-1-1-4", image)["decision"] == "accept"


def test_a_warned_ballot_fed_again_too_late_is_warned_again(warned_station) -> None:
    ctx = warned_station(["undervote"], review_seconds=0.0)
    scan = ctx.device("scan-1")
    short = marked_ballot(ctx.station.election, "s1", {"mayor": ["m-asel"], "council": ["c-2"]})
    first = _feed(scan, "scan-1-1-1", short)
    assert first["reason"] == "review"
    assert first["message"].startswith("Council: fewer marks than allowed. ")
    time.sleep(0.05)
    assert _feed(scan, "scan-1-1-2", short)["reason"] == "review"


def test_without_rules_nothing_goes_back_for_review(make_station) -> None:
    ctx = make_station()
    assert ctx.station.election.warn_voter == ()
    scan = ctx.device("scan-1")
    for n, votes in enumerate((OVERVOTE, {}), start=1):
        image = marked_ballot(ctx.station.election, "s1", votes)
        assert _feed(scan, f"scan-1-1-{n}", image)["decision"] == "accept"


def test_which_warnings_the_rules_give() -> None:
    e = Election.from_dict(copy.deepcopy(ELECTION_DOC) | {"warn_voter": ["undervote"]})
    both = Election.from_dict(copy.deepcopy(ELECTION_DOC)
                              | {"warn_voter": ["blank", "undervote", "overvote"]})
    over = {"mayor": "overvote", "council": "undervote"}
    blank = {"mayor": "blank", "council": "blank"}
    votes = {"mayor": ["m-asel", "m-bakyt"], "council": ["c-1"]}
    assert review_warnings(e, votes, over) == [{"kind": "undervote", "contests": ["council"]}]
    assert review_warnings(both, votes, over) == [
        {"kind": "overvote", "contests": ["mayor"]},
        {"kind": "undervote", "contests": ["council"]},
    ]
    # A ballot with no vote: blank where blank ballots are warned about, else every
    # contest is short.
    assert review_warnings(both, {"mayor": [], "council": []}, blank) == [
        {"kind": "blank", "contests": []}
    ]
    assert review_warnings(e, {"mayor": [], "council": []}, blank) == [
        {"kind": "undervote", "contests": ["mayor", "council"]}
    ]
    # An overvote alone is a vote for nobody there, but not a blank ballot.
    only_over = {"mayor": ["m-asel", "m-bakyt"], "council": []}
    assert review_warnings(both, only_over, {"mayor": "overvote", "council": "blank"}) == [
        {"kind": "overvote", "contests": ["mayor"]},
        {"kind": "undervote", "contests": ["council"]},
    ]
    assert review_message(review_warnings(both, votes, over), both, "ru", None).startswith(
        "Мэр: лишние отметки, не будет учтён; Совет: отметок меньше, чем можно. Вставьте"
    )


def test_a_review_message_stays_short_for_the_scanner() -> None:
    # The scanner holds the decision in a small heap: many long contest titles are
    # cut down to a count, never sent in full.
    doc = copy.deepcopy(ELECTION_DOC)
    for n, contest in enumerate(doc["contests"]):
        contest["title"]["en"] = f"Elections of the deputies of district council No. {n} " * 3
    e = Election.from_dict(doc)
    warnings = [{"kind": "overvote", "contests": ["mayor", "council"]},
                {"kind": "undervote", "contests": ["council"]}]
    message = review_message(warnings, e)
    assert len(message) <= intake_module.MAX_REVIEW
    assert message.startswith("+2: too many marks, will not count; +1: fewer marks")
    short = review_message([{"kind": "overvote", "contests": ["mayor"]}],
                           Election.from_dict(copy.deepcopy(ELECTION_DOC)))
    assert short.startswith("Mayor: too many marks") and short.endswith("ask for a new one.")
