"""Write a synthetic fingerprint set to a folder.

    python -m hil.fingerprints --fingers 10 --impressions 8 --size 256x288 --seed 0 --out DIR

writes ``DIR/f0001_1.png`` .. ``DIR/f0010_8.png`` and ``DIR/truth.json`` with every
image's ground truth (see ``hil.fingerprints.sets.truth_record``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hil.fingerprints.impression import CONDITIONS
from hil.fingerprints.sets import (
    GENERATOR_VERSION,
    MIXED,
    dataset,
    image_name,
    png_bytes,
    truth_record,
    write_atomic,
)


def parse_size(text: str) -> tuple[int, int]:
    """``"256x288"`` -> (256, 288)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError("size must look like 256x288, not %r" % text)
    return int(parts[0]), int(parts[1])


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m hil.fingerprints", description="Write synthetic fingerprint images."
    )
    parser.add_argument("--fingers", type=int, required=True)
    parser.add_argument("--impressions", type=int, required=True)
    parser.add_argument("--size", type=parse_size, default=(256, 288), help="WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--condition", choices=(MIXED,) + CONDITIONS, default=MIXED)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    width, height = args.size
    try:
        images = dataset(
            args.fingers, args.impressions, args.seed, width, height, condition=args.condition
        )
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for finger, impression, made in images:
        name = image_name(finger, impression)
        png = png_bytes(made.image)
        write_atomic(args.out / (name + ".png"), png)
        record = truth_record(made, name, png)
        record["finger"] = finger + 1
        record["impression"] = impression + 1
        records.append(record)
        print("\r%s" % name, end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    truth = {
        "generator": GENERATOR_VERSION,
        "seed": args.seed,
        "width": width,
        "height": height,
        "condition": args.condition,
        "fingers": args.fingers,
        "impressions": args.impressions,
        "images": records,
    }
    write_atomic(args.out / "truth.json", json.dumps(truth, indent=1).encode())
    print("%d images and truth.json in %s" % (len(records), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
