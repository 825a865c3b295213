"""A day at one voter-identification terminal: check-in time and the terminal's heap.

A station rig (real broker, real controller, real firmware in ``micropython``) with one
equipped terminal (document reader, fingerprint sensor, slip printer) checks in
``--voters`` voters one after the other: document, finger (a ``hil.fingerprints``
impression; ``--fingers`` distinct ones, reused, since the heap does not care whose
finger it is), the 36,864-byte image upload, the answer, the slip. Then it prints:

* seconds per check-in (median, 95th percentile, slowest), from presenting the
  document to the answer on the screen;
* the terminal's free heap as its console reports it: after each answer (idle, first
  and last hour of the day and the lowest), and the lowest seen during a finger upload
  (not collected: garbage included, so a floor, not the live size);
* slips printed, resets of the board, memory errors.

A terminal that keeps its idle heap flat over the day and never resets runs a whole
day. ``python bench/terminal_day.py --voters 720`` is a day of the reference station
(about 720 voters per device in 12 hours).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hil.rig import StationRig  # noqa: E402
from hil.voters import finger_image, present_document  # noqa: E402

IDLE = re.compile(r"\[terminal\] txn \S+: \w+, heap free (\d+)")
UPLOAD_LOW = re.compile(r"\[finger\] txn \S+: .* heap free low (\d+)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voters", type=int, default=120)
    parser.add_argument("--fingers", type=int, default=6, help="distinct finger images")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"growing {args.fingers} finger impressions ...", flush=True)
    fingers = [finger_image(1000 + n) for n in range(args.fingers)]
    with StationRig(terminals=1, scanners=1, voters=args.voters, seed=args.seed) as rig:
        term = rig.terminals[0]
        print(f"station up; {term.name} runs with heap {term.board.heap}", flush=True)
        seconds: list[float] = []
        statuses: dict[str, int] = {}
        started = time.monotonic()
        for n, voter in enumerate(rig.voters):
            t0 = time.monotonic()
            screen = present_document(term, voter.mrz(), 120, fingers[n % len(fingers)],
                                      voter.fingers_usable)
            seconds.append(time.monotonic() - t0)
            statuses[screen.get("status")] = statuses.get(screen.get("status"), 0) + 1
            if (n + 1) % 60 == 0:
                print(f"  {n + 1} voters, {time.monotonic() - started:.0f} s", flush=True)
        printer = term.printer
        assert printer is not None
        printer.wait(lambda p: p.cuts >= statuses.get("issued", 0), 30)
        console = term.board.console.items()
        idle = [int(m.group(1)) for line in console if (m := IDLE.search(line))]
        low = [int(m.group(1)) for line in console if (m := UPLOAD_LOW.search(line))]
        errors = sum("MemoryError" in line or "memory allocation failed" in line
                     for line in console)
        hour = max(1, len(idle) // 12)
        ordered = sorted(seconds)
        print(f"voters {len(seconds)}: {statuses}")
        print(f"check-in seconds: median {statistics.median(seconds):.2f}, "
              f"95th percentile {ordered[int(0.95 * (len(ordered) - 1))]:.2f}, "
              f"slowest {ordered[-1]:.2f}")
        if idle:
            print(f"terminal heap free after an answer: first hour {min(idle[:hour])}, "
                  f"last hour {min(idle[-hour:])}, lowest {min(idle)} bytes")
        if low:
            print(f"terminal heap free during uploads, lowest (uncollected): {min(low)} bytes")
        print(f"slips printed {printer.cuts}, board resets {term.board.resets}, "
              f"memory errors {errors}")
        print(f"day took {time.monotonic() - started:.0f} s")
        return 0 if term.board.resets == 0 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
