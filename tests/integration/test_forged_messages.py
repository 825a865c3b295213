"""Forged, tampered and replayed messages on the real broker change nothing and are logged."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from drivers import mrz
from hil.broker import Broker
from hil.history import History
from hil.rig import StationRig, wait_idle
from hil.voters import Voter, expected_contests
from protocol import envelope, topics

STATION = "s-forged"
WINDOW = 1024  # the controller's replay window (controller.station.dispatch.WINDOW)


@dataclass
class Seen:
    device: str
    seq: int
    type: str
    payload: bytes


class Sniffer:
    """Everything devices publish upward (image chunks only counted), as an attacker sees it."""

    def __init__(self, broker: Broker) -> None:
        self.messages: History[Seen] = History("sniffed")
        self.highest: dict[str, int] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sniffer")
        # An insider with read and write on every uplink (a stolen broker password of
        # each device, say): what the message keys alone must still defend against.
        uplinks = f"shailoo/v1/{STATION}/dev/+/up"
        broker.client_login("sniffer", read=(uplinks,), write=(uplinks,)).configure(self.client)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(f"shailoo/v1/{STATION}/dev/+/up", 1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, m: mqtt.MQTTMessage) -> None:
        _, device, _ = topics.parse(m.topic)
        header = json.loads(bytes(m.payload).split(b"\n", 1)[0])
        self.highest[device] = max(self.highest.get(device, -1), header["seq"])
        if header["type"] != "blob.chunk":
            self.messages.append(Seen(device, header["seq"], header["type"], bytes(m.payload)))

    def find(self, device: str, mtype: str) -> list[Seen]:
        return [s for s in self.messages if s.device == device and s.type == mtype]

    def publish(self, device: str, payload: bytes) -> None:
        self.client.publish(topics.up(STATION, device), payload, qos=1).wait_for_publish(10)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def request(voter: Voter, txn: str) -> dict:
    lines = voter.mrz()
    return {"txn": txn, "mrz": lines, "doc": mrz.parse(lines)}


def counts(rig: StationRig) -> tuple[int, int, int]:
    status = rig.status()
    return status["checked_in"], status["cast"], status["pending"]


def test_forged_and_replayed_messages_change_nothing(
    station: Callable[..., StationRig], broker: Broker
) -> None:
    sniffer = Sniffer(broker)
    try:
        rig = station(voters=8, seed=31, station=STATION)
        first = rig.run_voters(rig.voters[:5])
        assert all(o.cast for o in first), first
        wait_idle(rig, 60)
        before = counts(rig)
        assert before == (5, 5, 0)
        log = rig.controller_log()
        mark = log.mark()
        # What an attacker on the broker captured so far.
        last = sniffer.find("term-1", "checkin.request")[-1]
        dropped = sniffer.find("scan-1", "ballot.dropped")[0]
        hello = sniffer.find("scan-1", "hello")[0]

        # A check-in in term-1's name for a voter who has not come yet, under a wrong key.
        forged = envelope.seal(
            os.urandom(32),
            "term-1",
            envelope.UP,
            sniffer.highest["term-1"] + 1,
            "checkin.request",
            request(rig.voters[5], "term-1-1-99"),
        )
        sniffer.publish("term-1", forged)
        log.wait_for(lambda x: "refused message from term-1" in x and "bad_tag" in x, 30, mark)

        # A device the station does not know.
        stranger = envelope.seal(
            os.urandom(32), "term-9", envelope.UP, 1, "checkin.request",
            request(rig.voters[6], "term-9-1-1"),
        )  # fmt: skip
        sniffer.publish("term-9", stranger)
        log.wait_for(lambda x: "refused message from term-9" in x and "unknown_device" in x, 30)

        # A real ballot.dropped with its counter altered: the tag no longer matches.
        head, _, rest = dropped.payload.partition(b"\n")
        header = json.loads(head)
        header["body"]["counter"] += 100
        header["seq"] = sniffer.highest["scan-1"] + 1
        tampered = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        sniffer.publish("scan-1", tampered + b"\n" + rest)
        log.wait_for(
            lambda x: "refused message from scan-1 (ballot.dropped" in x and "bad_tag" in x, 30
        )

        # Byte-exact replay of term-1's last check-in: a duplicate, answered again, applied never.
        sniffer.publish("term-1", last.payload)
        log.wait_for(lambda x: f"term-1: duplicate seq {last.seq} (checkin.request)" in x, 30)

        # Byte-exact replay of the scanner's hello, by now older than the replay window.
        behind = sniffer.highest["scan-1"] - hello.seq
        assert behind >= WINDOW, f"the scanner sent only {behind} messages since its hello"
        sniffer.publish("scan-1", hello.payload)
        log.wait_for(lambda x: "refused message from scan-1 (hello" in x and "stale" in x, 30)

        assert counts(rig) == before
        # The voters named in the forgeries still get their one ballot each.
        rest_outcomes = rig.run_voters(rig.voters[5:])
        assert all(o.checkin == "issued" and o.cast for o in rest_outcomes), rest_outcomes
        wait_idle(rig, 60)
        results = rig.close_polls()
        truth = [(v.style, rig.truth[v.voter_id]) for v in rig.voters]
        assert results["contests"] == expected_contests(rig.election, truth)
        assert (results["ballots_issued"], results["ballots_cast"]) == (8, 8)
        assert results["scanner_counters"] == {"scan-1": 8}
        assert all(results["checks"].values()), results["checks"]
    finally:
        sniffer.stop()
