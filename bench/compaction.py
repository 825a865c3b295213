"""The closing scrub: how long compacting a full day's database takes.

    .venv/bin/python bench/compaction.py                    # 1,000 ballots, 62 KB images
    .venv/bin/python bench/compaction.py --ballots 3000 --image-kb 80

A station's database grows by one cast vote record and one kept image per ballot. At
closing, ``controller.polls.scrub`` deletes the terminals' cached answers and compacts
the file (``Store.compact``: ``VACUUM`` and a truncating checkpoint, see
``docs/secrecy.md``); the chair waits for it. This writes ``--ballots`` records and
images one transaction each, as the day does (random bytes stand in for the PNGs, which
are already compressed), then times the scrub. Printed: the database size, the time to
write the day and the time of the scrub.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from controller.intake import images
from controller.polls.scrub import scrub_after_close
from controller.polls.state import open_polls
from controller.store.database import Store, set_meta


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=1000)
    parser.add_argument("--image-kb", type=int, default=62, help="size of a kept image")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="shailoo-compaction-"))
    try:
        store = Store(folder / "station.db")
        open_polls(store)
        record = json.dumps({"votes": {}, "contests": {}, "marks": [[0.1] * 4] * 40})
        started = time.monotonic()
        for _ in range(args.ballots):
            name = "cvr-" + secrets.token_hex(16)
            with store.tx() as conn:
                conn.execute(
                    "INSERT INTO cvrs (id, device, style, image_sha256, record) "
                    "VALUES (?, 'scan-1', 's1', NULL, ?)",
                    (name, record),
                )
                images.keep(conn, name, os.urandom(args.image_kb * 1024))
        written = time.monotonic() - started
        with store.tx() as conn:
            set_meta(conn, "polls", "closed")
        size = (folder / "station.db").stat().st_size
        started = time.monotonic()
        if not scrub_after_close(store):
            raise SystemExit("the scrub failed (see the log)")
        scrubbed = time.monotonic() - started
        store.close()
        print(f"{args.ballots} ballots, images of {args.image_kb} KB: database {size / 1e6:.1f} MB")
        print(f"writing the day: {written:.1f} s; scrub at closing: {scrubbed:.2f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
