"""The registry takes a device's retained status only signed by the device and newer
than the last one it took (protocol: docs/wire.md, "status counter")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.station.registry import ForgedStatus, Registry
from controller.station.setup import load_setup
from controller.store.database import Store
from protocol import envelope
from protocol.errors import ProtocolError
from tests.controller.helpers import DeviceKey, make_voters, write_station

TERM, SCAN = DeviceKey("term-1", "idterminal"), DeviceKey("scan-1", "scanner")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[Registry, Store]]:
    setup = load_setup(write_station(tmp_path, "st-sig", [TERM, SCAN], make_voters(1)))
    store = Store(tmp_path / "station.db")
    reg = Registry(setup)
    with store.tx() as conn:
        reg.sync(conn)
    yield reg, store
    store.close()


def status(counter: int, key: bytes = SCAN.key, dev: str = "scan-1", mtype: str = "status",
           **body: object) -> bytes:
    return envelope.seal(key, dev, "up", counter, mtype,
                         {"state": "online", "role": "scanner", "fw": "1.0", **body})


def take(registry: tuple[Registry, Store], payload: bytes) -> dict:
    reg, store = registry
    with store.tx() as conn:
        return reg.on_status(conn, "scan-1", payload)


def online(registry: tuple[Registry, Store]) -> bool:
    reg, store = registry
    with store.read() as conn:
        return {d["id"]: d for d in reg.devices(conn)}["scan-1"]["online"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", "unsigned"),
        (b'{"state": "online"}', "unsigned"),
        (b"\xff" * 100, "unsigned"),
        (status(5) + b"x" * 3000, "too_large"),
        (status(5, key=TERM.key), "bad_tag"),
        (status(5, dev="term-1", key=TERM.key), "malformed"),
        (status(5, mtype="hello"), "malformed"),
        (status(5)[:-70] + b'"' + b"0" * 64 + b'","type":"status","v":1}\n', "unsigned"),
    ],
)
def test_what_the_device_did_not_sign_is_forged(registry, payload: bytes, code: str) -> None:
    with pytest.raises(ForgedStatus) as err:
        take(registry, payload)
    assert err.value.code == code
    assert not online(registry)


def test_only_a_newer_counter_is_taken(registry) -> None:
    assert take(registry, status(1024))["state"] == "online" and online(registry)
    will = envelope.seal(SCAN.key, "scan-1", "up", 2047, "status", {"state": "offline"})
    take(registry, will)
    assert not online(registry)
    for old in (status(1024), status(1025), status(2047)):
        with pytest.raises(ForgedStatus) as err:
            take(registry, old)
        assert err.value.code == "stale"
        assert not online(registry)
    take(registry, status(2048))  # the next connection
    assert online(registry)


def test_a_signed_but_malformed_status_is_refused_not_forged(registry) -> None:
    with pytest.raises(ProtocolError) as err:
        take(registry, status(1, state="asleep"))
    assert not isinstance(err.value, ForgedStatus)
    with pytest.raises(ProtocolError) as err:
        take(registry, status(2, role="idterminal"))
    assert err.value.code == "wrong_role" and not isinstance(err.value, ForgedStatus)
