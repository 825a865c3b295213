"""Fixtures shared by every test folder: a real broker and the MicroPython interpreter."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hil.broker import Broker, start_broker
from hil.targets.virtual import micropython_path

# Generated hostile input (tests/fuzz): a short run in every suite, a long one on
# demand with ``make fuzz`` (``--hypothesis-profile=long``).
settings.register_profile(
    "suite", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("SHAILOO_FUZZ_PROFILE", "suite"))

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FVC = SHARED / "data" / "fvc"
FVC_SETS = ("fvc2002_DB2_B", "fvc2002_DB3_B", "fvc2004_DB2_B")

# Tests on real fingerprint images read the development sets beside the checkout; where
# they are absent (a clone without ../shared) those tests are skipped, saying so.
needs_fvc = pytest.mark.skipif(
    not all((FVC / name).is_dir() for name in FVC_SETS),
    reason="needs the real fingerprint sets in %s (../shared beside the checkout)" % FVC,
)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    """A real Mosquitto running the generated station configuration, for one module."""
    with start_broker("mosquitto") as b:
        yield b


@pytest.fixture(scope="session")
def micropython() -> str:
    """Path of the MicroPython unix interpreter."""
    return micropython_path()


def run_micropython(
    code_or_path: str | Path,
    heap: str = "96k",
    cwd: str | Path | None = None,
    timeout: float = 60,
    args: list[str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a script (a path) or code (a string) under MicroPython with the repository importable.

    Long data goes through ``stdin``: the unix port aborts on a command-line
    argument of 256 characters or more. Returns the completed process.
    """
    env = dict(os.environ, MICROPYPATH=f"{ROOT}:.frozen")
    cmd = [micropython_path(), "-X", f"heapsize={heap}"]
    if isinstance(code_or_path, Path):
        cmd.append(str(code_or_path))
    else:
        cmd += ["-c", code_or_path]
    cmd += args or []
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, input=stdin
    )
