"""Device faults in the retained status message, as the station controller keeps them.

A device reports a peripheral at fault (a printer out of paper, an accepted ballot
stuck in the scanner) in its retained status; the controller keeps the latest per
device for the dashboard and writes every change to the audit log. Malformed fault
maps are refused and change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.station.app import Station
from controller.store import audit
from hil.broker import Broker
from hil.history import wait_until
from tests.controller.helpers import (
    DeviceKey,
    WireDevice,
    load_test_election,
    make_voters,
    station_id,
    station_login,
    write_station,
)


@pytest.fixture
def running(tmp_path: Path, broker: Broker) -> Iterator[tuple[Station, WireDevice, WireDevice]]:
    sid = station_id("df")
    devices = [DeviceKey("term-1", "idterminal"), DeviceKey("scan-1", "scanner")]
    setup = write_station(tmp_path / sid, sid, devices, make_voters(2), "test", "open", None)
    st = Station(setup, tmp_path / sid / "data", broker.host, broker.port,
                 election_loader=load_test_election,
                 broker_login=station_login(broker, setup)).start(http=False)
    term = WireDevice(broker, sid, "term-1", devices[0].key)
    scan = WireDevice(broker, sid, "scan-1", devices[1].key)
    try:
        yield st, term, scan
    finally:
        term.close()
        scan.close()
        st.stop()


def status(device: WireDevice, role: str, **extra: object) -> None:
    device.status("online", fw="0.1.0", role=role, **extra)


def entries(st: Station, kind: str) -> list[dict]:
    with st.store.read() as conn:
        return audit.entries(conn, kind)


def test_faults_are_kept_per_device_and_audited_when_they_change(running) -> None:
    st, term, scan = running
    status(term, "idterminal", faults={"printer": "paper-out"})
    status(scan, "scanner", faults={"engine": "ballot-stuck"})
    wait_until(lambda: len(st.dispatcher.faults()) == 2, 10, "two devices at fault")
    assert st.dispatcher.faults() == {"term-1": {"printer": "paper-out"},
                                      "scan-1": {"engine": "ballot-stuck"}}
    # The same status again changes nothing and is not audited again.
    status(term, "idterminal", faults={"printer": "paper-out"})
    term.hello(role="idterminal")
    assert len(entries(st, "device.faults")) == 2
    status(scan, "scanner")
    wait_until(lambda: "scan-1" not in st.dispatcher.faults(), 10, "the jam cleared")
    changes = [(e["device"], e["detail"]["faults"]) for e in entries(st, "device.faults")]
    assert changes == [("term-1", {"printer": "paper-out"}),
                       ("scan-1", {"engine": "ballot-stuck"}), ("scan-1", {})]
    # Offline (the last will) clears what the device said.
    term.status("offline")
    wait_until(lambda: st.dispatcher.faults() == {}, 10, "no device at fault")


@pytest.mark.parametrize("faults", [
    ["printer", "paper-out"],
    {"printer": 7},
    {"printer": "x" * 41},
    {f"part{n}": "jam" for n in range(9)},
    {"": "jam"},
])
def test_malformed_faults_are_refused_and_change_nothing(running, faults) -> None:
    st, term, _ = running
    status(term, "idterminal", faults={"finger": "no-answer"})
    wait_until(lambda: st.dispatcher.faults().get("term-1") == {"finger": "no-answer"}, 10,
               "the sensor fault")
    status(term, "idterminal", faults=faults)
    wait_until(lambda: any(e["detail"]["code"] == "malformed"
                           for e in entries(st, "message.refused")), 10, "the refusal")
    assert st.dispatcher.faults() == {"term-1": {"finger": "no-answer"}}
