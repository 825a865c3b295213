"""Fixtures for whole-station tests: a ``StationRig`` on the module's real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.broker import Broker
from hil.rig import StationRig


@pytest.fixture
def station(broker: Broker, tmp_path: Path) -> Iterator[Callable[..., StationRig]]:
    """Factory: ``station(voters=8, seed=3, ...)`` → a started ``StationRig``.

    The work directory (station files, database, flash directories, every device's
    console log and the controller's log) stays under pytest's ``tmp_path`` for
    inspection after a failure.
    """
    rigs: list[StationRig] = []

    def make(**kw: Any) -> StationRig:
        rig = StationRig(broker=broker, workdir=tmp_path / f"station-{len(rigs) + 1}", **kw)
        rigs.append(rig)
        return rig.start()

    yield make
    for rig in rigs:
        rig.stop()
