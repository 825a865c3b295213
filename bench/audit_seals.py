"""What sealing the audit log costs: appending with and without the station key, and
checking a whole log with the public key.

    .venv/bin/python bench/audit_seals.py                  # 2,000 entries, one per transaction
    .venv/bin/python bench/audit_seals.py --entries 20000

Each entry is appended in its own durable transaction, as the station appends them
(``synchronous=FULL``), in a store on this machine's temporary folder: the difference
between the two runs is the Ed25519 signature and the seal rows. The check is
``controller.integrity.verify.check_data`` on the sealed store (chain, every seal, the
counts; no records or results in it). Printed: microseconds per append (median and
p95), the seal rows kept and their bytes, and the seconds the check takes.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.integrity import seals, station_key  # noqa: E402
from controller.integrity.verify import check_data  # noqa: E402
from controller.store import audit  # noqa: E402
from controller.store.database import Store  # noqa: E402


def _append(stores: list[Store], count: int) -> list[list[float]]:
    """Append ``count`` entries to each store, alternating, so both see the same disk."""
    times: list[list[float]] = [[] for _ in stores]
    for n in range(count):
        for store, spent in zip(stores, times, strict=True):
            started = time.perf_counter()
            with store.tx() as conn:
                audit.append(conn, "device.event", "scan-1", event="paper", n=n)
            spent.append((time.perf_counter() - started) * 1e6)
    return times


def _seal_only(store: Store, count: int) -> list[float]:
    """The seal alone (statement, signature, rows), inside one transaction: no disk wait."""
    times = []
    with store.tx() as conn:
        for n in range(count):
            started = time.perf_counter()
            seals.seal_entry(conn, n + 1, "00" * 32, "device.event", {})
            times.append((time.perf_counter() - started) * 1e6)
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
    return times


def _line(label: str, times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1]
    return f"{label:<22} median {statistics.median(times):8.1f} us   p95 {p95:8.1f} us"


@click.command()
@click.option("--entries", default=2000, show_default=True, help="Entries appended per run.")
def main(entries: int) -> None:
    """Measure sealing and checking."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        public = station_key.generate(folder / "station.key")
        (folder / "data").mkdir()
        plain, store = Store(folder / "plain.db"), Store(folder / "data" / "station.db")
        seals.attach(store.path, station_key.load_private(folder / "station.key"))
        unsealed, sealed = _append([plain, store], entries)
        with store.read() as conn:
            rows, size = conn.execute(
                "SELECT COUNT(*), SUM(LENGTH(value)) FROM meta WHERE key LIKE 'seal:%'"
            ).fetchone()
        seals.detach(store.path)
        seals.attach(plain.path, station_key.load_private(folder / "station.key"))
        alone = _seal_only(plain, entries)  # rolled back: the plain store keeps none
        seals.detach(plain.path)
        plain.close()
        store.close()
        started = time.perf_counter()
        report = check_data(folder / "data", public)
        checked = time.perf_counter() - started
    click.echo(f"{entries} entries, one durable transaction each")
    click.echo(_line("append, no key", unsealed))
    click.echo(_line("append, sealed", sealed))
    click.echo(_line("the seal alone", alone))
    click.echo(f"seal rows kept: {rows} ({size} bytes)")
    click.echo(f"check with the public key: {checked:.2f} s "
               f"({'intact' if report.ok else report.problems[:3]})")


if __name__ == "__main__":
    main()
