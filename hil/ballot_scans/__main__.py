"""Write generated ballot scans and their ground truth to a folder.

    python -m hil.ballot_scans --election examples/election.json --count 20 --out DIR
        [--dpi 200] [--test] [--station ID] [--colour] [--seed 1] [--jpeg]
        [--model marks|hand]

For scan N: ``scan-N.png`` (or ``.jpg``) and ``scan-N.truth.json`` with the spec that
made it and, per target, what it carries and what reading it must give.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from controller.election.definition import ElectionError
from controller.election.load import load_election
from hil.ballot_scans.maker import ScanMaker


def main(argv: list[str] | None = None) -> int:
    """Generate the scans; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m hil.ballot_scans",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--election", required=True, type=Path)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--test", action="store_true", help="test ballots")
    parser.add_argument("--station", default=None)
    parser.add_argument("--colour", action="store_true", help="colour scans")
    parser.add_argument("--jpeg", action="store_true", help="save as JPEG, not PNG")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", choices=("marks", "hand"), default="marks",
                        help="the mark model: marks.py (shapes) or hand.py (pen strokes)")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must not be negative")
    try:
        election = load_election(args.election)
        maker = ScanMaker(election, args.dpi, "test" if args.test else "official",
                          args.station)
    except (ElectionError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for n in range(args.count):
        scan = maker.random(np.random.default_rng([args.seed, n]), colour=args.colour,
                            model=args.model)
        suffix = "jpg" if args.jpeg else "png"
        path = args.out / f"scan-{n:05d}.{suffix}"
        Image.fromarray(scan.image).save(path, dpi=(args.dpi, args.dpi),
                                         **({"quality": 90} if args.jpeg else {}))
        record = {"file": path.name, "dpi": args.dpi, "spec": scan.spec.to_dict()} | scan.truth
        path.with_suffix(".truth.json").write_text(
            json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
