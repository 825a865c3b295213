"""Device messages on a real broker: authentic ones apply once, everything else changes nothing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from controller.station.app import Station
from controller.store import audit
from hil.broker import start_broker
from protocol import envelope, topics
from tests.controller.conftest import default_devices
from tests.controller.helpers import WireDevice, make_voters, station_id, wait_until, write_station


def _counts(ctx) -> dict:
    s = ctx.station.status()
    return {k: s[k] for k in ("checked_in", "cast", "pending")}


def _refusals(ctx, code: str | None = None) -> list[dict]:
    with ctx.station.store.read() as conn:
        found = audit.entries(conn, "message.refused")
    return [e for e in found if code is None or e["detail"]["code"] == code]


def _checkin(voter, txn: str = "t1") -> dict:
    return {"txn": txn, "mrz": voter.mrz(), "doc": {}}


def test_hello_reports_firmware_and_presence(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    scan.status("online", fw="0.1.0", role="scanner")
    wait_until(
        lambda: {d["id"]: d for d in ctx.station.status()["devices"]}["scan-1"]["online"],
        what="scan-1 online",
    )
    ack = scan.hello(fw_hash="cd" * 32)
    assert ack == {"known": False, "quarantined": False, "polls": "open"}
    dev = {d["id"]: d for d in ctx.station.status()["devices"]}["scan-1"]
    assert dev["fw_hash"] == "cd" * 32 and dev["known"] is False and dev["last_seen"]
    scan.status("offline")
    wait_until(
        lambda: not {d["id"]: d for d in ctx.station.status()["devices"]}["scan-1"]["online"],
        what="scan-1 offline",
    )
    # Clean up the retained message so that it does not outlive the test.
    scan.publish(b"", topics.status(ctx.station.station, "scan-1"), retain=True)


def test_forged_tag_changes_nothing_and_is_logged(make_station, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="shailoo.dispatch")
    ctx = make_station()
    term = ctx.device("term-1")
    forged_seq = term.send("checkin.request", _checkin(ctx.voters[0]), key=b"\x01" * 32)
    term.hello(role="idterminal")  # handled after the forgery: the forgery is settled
    assert term.replies_to(forged_seq) == []
    assert _counts(ctx) == {"checked_in": 0, "cast": 0, "pending": 0}
    refused = _refusals(ctx, "bad_tag")
    assert len(refused) == 1 and refused[0]["device"] == "term-1"
    assert any("bad_tag" in r.getMessage() for r in caplog.records)
    # Nothing was consumed: the genuine message with the same seq is still accepted.
    reply = term.request("checkin.request", _checkin(ctx.voters[0]), seq=forged_seq)
    assert reply.body["status"] == "issued"
    # The voter's identity never reaches the audit log.
    with ctx.station.store.read() as conn:
        text = json.dumps(audit.entries(conn))
    assert ctx.voters[0].document_number not in text and ctx.voters[0].surname not in text


def test_unknown_device_is_refused(make_station, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="shailoo.dispatch")
    ctx = make_station()
    # The broker refuses a device without an account (tests/security); this one has an
    # account the station's setup does not list (a device taken out of station.json
    # with the broker's configuration left as it was), so the controller must refuse it.
    ctx.broker.add_device(ctx.station.station, "ghost-9", b"\x02" * 32)
    ghost = ctx.device("ghost-9", key=b"\x02" * 32)
    ghost.send("checkin.request", _checkin(ctx.voters[0]))
    wait_until(lambda: _refusals(ctx, "unknown_device"), what="unknown device refusal")
    assert _counts(ctx)["checked_in"] == 0
    assert ghost.replies == []
    assert any("ghost-9" in r.getMessage() for r in caplog.records)


def test_replayed_seq_gets_the_same_reply_and_changes_nothing(make_station) -> None:
    ctx = make_station()
    term = ctx.device("term-1")
    seq, payload = term.seal("checkin.request", _checkin(ctx.voters[0]))
    term.publish(payload)
    first = term.reply_to(seq)
    assert first.body["status"] == "issued"
    term.publish(payload)  # a QoS 1 redelivery or an outbox resend: same bytes
    wait_until(lambda: len(term.replies_to(seq)) == 2, what="second reply")
    assert term.raw_replies[0] == term.raw_replies[1]
    # Same seq, other content (another voter): still a duplicate, answered as before.
    _, other = term.seal("checkin.request", _checkin(ctx.voters[1], "t2"), seq=seq)
    term.publish(other)
    wait_until(lambda: len(term.replies_to(seq)) == 3, what="third reply")
    assert all(r.body == first.body for r in term.replies_to(seq))
    assert _counts(ctx)["checked_in"] == 1
    with ctx.station.store.read() as conn:
        dups = audit.entries(conn, "message.duplicate")
    assert len(dups) == 2 and all(d["detail"]["seq"] == seq for d in dups)


def test_stale_seq_is_refused(make_station) -> None:
    ctx = make_station()
    term = ctx.device("term-1")
    term.seq = 5000
    term.hello(role="idterminal")
    stale = term.send("checkin.request", _checkin(ctx.voters[0]), seq=10)
    term.hello(role="idterminal")
    assert term.replies_to(stale) == []
    assert _refusals(ctx, "stale")
    assert _counts(ctx)["checked_in"] == 0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not a message", "malformed"),
        (b'{"v":1,"dev":"term-1"}\n', "malformed"),
        (b"{" * 70000, "too_large"),
        (
            b'{"body":{},"dev":"term-1","dir":"up","seq":1.5,"tag":"'
            + b"0" * 64
            + b'","type":"hello","v":1}\n',
            "malformed",
        ),
    ],
    ids=["garbage", "no-fields", "oversized", "float-seq"],
)
def test_broken_payloads_are_refused(make_station, payload: bytes, code: str) -> None:
    ctx = make_station(voters=1)
    term = ctx.device("term-1")
    term.publish(payload)
    wait_until(lambda: _refusals(ctx, code), what=f"refusal {code}")
    assert term.replies == []
    assert _counts(ctx)["checked_in"] == 0


def test_wrong_role_and_wrong_topic_and_reflection(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    term = ctx.device("term-1")
    scan.send("checkin.request", _checkin(ctx.voters[0]))  # a scanner cannot check voters in
    # term-2's message on term-1's topic
    _, payload = term.seal("hello", {}, key=ctx.keys["term-2"].key, dev="term-2")
    term.publish(payload)
    # a controller reply sent back up as if the device said it
    reply_seq = term.send(
        "hello", {"role": "idterminal", "fw": "1", "fw_hash": "ab" * 32, "boot": 1}
    )
    term.reply_to(reply_seq)
    term.publish(term.raw_replies[0])
    term.hello(role="idterminal")
    scan.hello()
    assert [r["detail"]["code"] for r in _refusals(ctx)] == ["wrong_role", "malformed", "malformed"]
    assert scan.replies_to(1) == [] and _counts(ctx)["checked_in"] == 0


def test_hello_with_a_wrong_role_is_refused(make_station) -> None:
    ctx = make_station()
    term = ctx.device("term-1")
    seq = term.send("hello", {"role": "scanner", "fw": "1", "fw_hash": "ab" * 32, "boot": 1})
    term.hello(role="idterminal")
    assert term.replies_to(seq) == []
    assert _refusals(ctx, "wrong_role")


def test_window_and_replies_survive_a_controller_restart(make_station) -> None:
    ctx = make_station()
    term = ctx.device("term-1")
    seq, payload = term.seal("checkin.request", _checkin(ctx.voters[0]))
    term.publish(payload)
    term.reply_to(seq)
    ctx.restart()
    term.publish(payload)
    wait_until(lambda: len(term.replies_to(seq)) == 2, what="reply after restart")
    assert term.raw_replies[0] == term.raw_replies[1]
    assert ctx.station.status()["checked_in"] == 1
    # The controller's own sequence keeps rising across the restart.
    later = term.request("checkin.request", _checkin(ctx.voters[1], "t2"))
    assert later.seq > term.replies[0].seq


def test_messages_sent_while_the_controller_is_down_are_handled_after(make_station) -> None:
    ctx = make_station()
    term = ctx.device("term-1")
    term.hello(role="idterminal")  # the persistent session exists from here on
    ctx.station.stop()
    seq = term.send("checkin.request", _checkin(ctx.voters[2]))
    ctx.restart()
    assert term.reply_to(seq).body["status"] == "issued"


def test_official_mode_quarantines_unknown_firmware(make_station) -> None:
    good = "11" * 32
    ctx = make_station(mode="official", firmware=[good])
    term = ctx.device("term-1")
    assert term.hello(fw_hash="22" * 32, role="idterminal") == {
        "known": False,
        "quarantined": True,
        "polls": "open",
    }
    seq = term.send("checkin.request", _checkin(ctx.voters[0]))
    term.hello(fw_hash="22" * 32, role="idterminal")
    assert term.replies_to(seq) == [] and _refusals(ctx, "quarantined")
    assert term.hello(fw_hash=good, role="idterminal")["quarantined"] is False
    assert term.request("checkin.request", _checkin(ctx.voters[0])).body["status"] == "issued"


def test_reply_is_sealed_for_the_device(make_station) -> None:
    ctx = make_station()
    term = ctx.device("term-1")
    seq = term.send("checkin.request", _checkin(ctx.voters[0]))
    reply = term.reply_to(seq)
    assert reply.type == "checkin.result" and reply.dir == "down" and reply.re == seq
    # The same bytes do not verify under another device's key.
    with pytest.raises(Exception, match="bad_tag"):
        envelope.parse(term.raw_replies[0]).verify(ctx.keys["term-2"].key)


def test_device_events_are_audited(make_station) -> None:
    ctx = make_station()
    scan = ctx.device("scan-1")
    scan.send("event", {"kind": "jam", "detail": "during drop"})
    scan.send("event", {"kind": "cover_open", "detail": {"text": "x" * 2000}})
    scan.send("event", {"kind": "", "detail": None})
    scan.hello()
    with ctx.station.store.read() as conn:
        events = [e["detail"] for e in audit.entries(conn, "device.event")]
    assert events == [
        {"event": "jam", "detail": "during drop"},
        {"event": "cover_open", "detail": "(detail too long)"},
    ]
    assert [r["detail"]["code"] for r in _refusals(ctx)] == ["malformed"]


def test_controller_comes_back_after_a_broker_restart(tmp_path: Path) -> None:
    first = start_broker("mosquitto")
    port = first.port
    sid = station_id()
    devices = default_devices()
    voters = make_voters(3)
    setup = write_station(tmp_path, sid, devices, voters)
    login = first.add_station(sid, {d.id: d.key for d in devices})
    station = Station(setup, tmp_path / "data", first.host, port, broker_login=login).start(
        http=False
    )
    second = None
    term = WireDevice(first, sid, "term-1", devices[0].key)
    try:
        assert term.request("checkin.request", _checkin(voters[0])).body["status"] == "issued"
        term.close()
        first.stop()
        wait_until(lambda: not station.bridge.connected, what="controller notices the outage")
        second = start_broker("mosquitto", port=port, like=first)
        wait_until(lambda: station.bridge.connected, 30, "controller reconnects")
        term = WireDevice(second, sid, "term-1", devices[0].key)
        term.seq = 1
        assert term.request("checkin.request", _checkin(voters[1], "t2")).body["status"] == "issued"
        assert station.status()["checked_in"] == 2
    finally:
        term.close()
        station.stop()
        if second is not None:
            second.stop()
