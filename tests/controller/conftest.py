"""Fixtures for controller tests: a running station on the real test broker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.integrity import station_key
from controller.station.app import Station
from hil.broker import Broker
from tests.controller.helpers import (
    DeviceKey,
    SimVoter,
    WireDevice,
    load_test_election,
    login,
    make_voters,
    station_id,
    write_station,
)


@dataclass
class StationCtx:
    """A started station plus what the test needs to talk to it."""

    station: Station
    setup: Path
    data: Path
    keys: dict[str, DeviceKey]
    voters: list[SimVoter]
    broker: Broker
    clients: list[WireDevice] = field(default_factory=list)
    sessions: list[httpx.Client] = field(default_factory=list)

    def http(self, role: str = "chair") -> httpx.Client:
        """An HTTP client logged in to the station as its worker of ``role``."""
        client = login(self.station.url, role)
        self.sessions.append(client)
        return client

    def device(self, device_id: str, key: bytes | None = None) -> WireDevice:
        """A wire-speaking client for ``device_id`` (with its key unless another is given)."""
        # The device's own broker account; ``key`` (if given) only seals its messages.
        own = self.keys[device_id].key if device_id in self.keys else key
        assert own is not None, f"{device_id} is not in the setup: give it a key"
        login = self.broker.device_login(device_id, own)
        dev = WireDevice(self.broker, self.station.station, device_id, key or own, login)
        self.clients.append(dev)
        return dev

    def restart(self, **kw: Any) -> Station:
        """Stop the station and start a new controller on the same data."""
        self.station.stop()
        self.station = Station(
            self.setup,
            self.data,
            self.broker.host,
            self.broker.port,
            reader=kw.pop("reader", None),
            election_loader=load_test_election,
            broker_login=self.broker.controller_login(self.station.station),
        ).start(**kw)
        return self.station


def default_devices() -> list[DeviceKey]:
    return [
        DeviceKey("term-1", "idterminal"),
        DeviceKey("term-2", "idterminal"),
        DeviceKey("scan-1", "scanner"),
    ]


@pytest.fixture
def make_station(tmp_path: Path, broker: Broker) -> Iterator[Any]:
    """Factory: ``make_station(voters=20, mode="test", polls="open", ...)`` → ``StationCtx``.

    The station runs the real election loader and ballot reader unless a test injects
    another ``reader`` (to make reading fail, say).
    """
    made: list[StationCtx] = []

    def make(
        voters: int = 20,
        mode: str = "test",
        polls: str = "open",
        devices: list[DeviceKey] | None = None,
        firmware: list[str] | None = None,
        http: bool = True,
        reader: Any = None,
        session_limits: Any = None,
        api_docs: bool = False,
    ) -> StationCtx:
        sid = station_id()
        devs = devices or default_devices()
        people = make_voters(voters)
        setup = write_station(tmp_path / sid, sid, devs, people, mode, polls, firmware)
        if mode == "official":  # made at setup; a test-mode station makes its own
            station_key.generate(setup.parent / station_key.DEFAULT_NAME)
        data = tmp_path / sid / "data"
        login = broker.add_station(sid, {d.id: d.key for d in devs})
        station = Station(
            setup,
            data,
            broker.host,
            broker.port,
            reader=reader,
            election_loader=load_test_election,
            session_limits=session_limits,
            api_docs=api_docs,
            broker_login=login,
        ).start(http=http)
        ctx = StationCtx(station, setup, data, {d.id: d for d in devs}, people, broker)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        for client in ctx.clients:
            client.close()
        for session in ctx.sessions:
            session.close()
        ctx.station.stop()
