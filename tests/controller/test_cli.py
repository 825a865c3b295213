"""``shailoo controller``: check-voters, verify-audit (serve is covered in test_serve.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from controller.integrity import seals, station_key
from controller.store import audit
from controller.store.database import Store
from shailoo.cli import main
from tests.controller.helpers import make_voters, voters_csv


def test_check_voters(tmp_path: Path) -> None:
    good = tmp_path / "voters.csv"
    good.write_text(voters_csv(make_voters(4)))
    result = CliRunner().invoke(main, ["controller", "check-voters", str(good)])
    assert result.exit_code == 0 and "4 voters, no problems" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(voters_csv(make_voters(2)) + "2,v9,X,Y,1990-01-01,F,ID,ZZ1,,s1\n")
    result = CliRunner().invoke(main, ["controller", "check-voters", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv line 4: row 2 duplicates bad.csv line 3" in result.output


def test_verify_audit(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["controller", "keygen", "--out", str(tmp_path / "station.key")])
    assert made.exit_code == 0, made.output
    public = str(tmp_path / "station.pub")
    args = ["controller", "verify-audit", "--data", str(tmp_path), "--public-key", public]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "no station database" in result.output
    store = Store(tmp_path / "station.db")
    seals.attach(store.path, station_key.load_private(tmp_path / "station.key"))
    try:
        with store.tx() as conn:
            for i in range(3):
                audit.append(conn, "test", None, n=i)
    finally:
        seals.detach(store.path)
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "intact: 3 entries, signed up to entry 3" in result.output
    with store.tx() as conn:
        conn.execute("UPDATE audit SET ts = 'yesterday' WHERE id = 2")
        audit.append(conn, "test", None, n=3)  # no key attached: not signed
    store.close()
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert "audit entry 2 (test): its content does not match its hash" in result.output
    assert "entries 4..4 were added after the last entry the station signed (3)" in result.output


def test_numeric_thread_pools_default_to_one_thread() -> None:
    """The command line keeps numpy's BLAS to one thread unless the operator says otherwise,
    in a fresh interpreter where nothing has imported numpy yet."""
    import os
    import subprocess
    import sys

    probe = (
        "import shailoo.cli, os, numpy;"
        "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    plain = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                           text=True, check=True)
    assert plain.stdout.split() == ["1", "1"]
    chosen = subprocess.run([sys.executable, "-c", probe], env={**env, "OMP_NUM_THREADS": "2"},
                            capture_output=True, text=True, check=True)
    assert chosen.stdout.split() == ["1", "2"]
