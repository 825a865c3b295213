"""Run every ``dual_*.py`` check script under CPython and under MicroPython."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, micropython_path

SCRIPTS = sorted(ROOT.glob("tests/*/dual_*.py"))


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MICROPYPATH=f"{ROOT}:.frozen", PYTHONPATH=str(ROOT))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_under_cpython(script: Path) -> None:
    done = _run([sys.executable, str(script)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_under_micropython(script: Path) -> None:
    # Device heap limits are tested with the firmware; these checks need room for
    # the 64 KiB oversize cases.
    # The scripts import the modules' sources, compiled in the same heap, and many of
    # them at once, which a device never does (it loads precompiled .mpy files, each
    # role its own); the reference heaps are held by the firmware and heap tests.
    done = _run([micropython_path(), "-X", "heapsize=512k", str(script)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout


def test_scripts_found() -> None:
    assert len(SCRIPTS) >= 2
