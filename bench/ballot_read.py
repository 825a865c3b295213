"""Benchmark of the ballot reader on marked, slightly skewed scans of the example election.

    .venv/bin/python bench/ballot_read.py [--sheets 200] [--dpi 150 200]

Prints, per resolution, the median and 95th percentile milliseconds per sheet of
``read_ballot`` (the array is in memory: no image decoding is timed), the number of
ballot positions read and the vote errors against the ground truth. The target for the
station's intake is well under 50 ms per 150-dpi A4 sheet.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.ballots.read import read_ballot  # noqa: E402
from controller.ballots.render import render_ballot  # noqa: E402
from controller.election import load_election  # noqa: E402
from hil.ballot_marking import mark_ballot  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "election.json"


def skewed(image: Image.Image, rng: random.Random) -> np.ndarray:
    """The sheet on a scanner bed 5 mm wider each side, turned up to 2° and shifted."""
    margin = round(image.width * 5 / 210)
    turned = image.rotate(rng.uniform(-2, 2), resample=Image.BILINEAR, fillcolor=255,
                          expand=True)
    bed = Image.new("L", (image.width + 2 * margin, image.height + 2 * margin), 255)
    dx, dy = rng.randint(-margin // 2, margin // 2), rng.randint(-margin // 2, margin // 2)
    left = (bed.width - turned.width) // 2 + dx
    bed.paste(turned, (left, (bed.height - turned.height) // 2 + dy))
    return np.array(bed)


def run(dpi: int, sheets: int, seed: int) -> None:
    election = load_election(EXAMPLE)
    rng = random.Random(seed)
    blanks = {s: render_ballot(election, s, dpi=dpi, mode="official") for s in election.styles}
    cases = []
    for n in range(sheets):
        style = rng.choice(sorted(blanks))
        choices = {}
        for contest in election.style_contests(style):
            ids = [o.id for o in contest.options]
            choices[contest.id] = sorted(rng.sample(ids, rng.choice([0, 1, 1, 1, 2])))
        image, layout = blanks[style]
        cases.append((skewed(mark_ballot(image, layout, choices, seed=n), rng), style, choices))
    read_ballot(cases[0][0], election, mode="official")  # warm the layout cache
    times, positions, errors, rejected = [], 0, 0, 0
    for gray, style, choices in cases:
        start = time.perf_counter()
        result = read_ballot(gray, election, mode="official")
        times.append((time.perf_counter() - start) * 1000)
        if result["status"] != "accepted" or result["style"] != style:
            rejected += 1
            continue
        positions += len(result["marks"])
        for mark in result["marks"]:
            truth = mark["option"] in choices[mark["contest"]]
            errors += truth != (mark["class"] == "marked")
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"dpi {dpi}: {sheets} sheets, median {statistics.median(times):.2f} ms, "
        f"p95 {p95:.2f} ms, positions {positions}, vote errors {errors}, rejected {rejected}"
    )


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=int, default=200)
    parser.add_argument("--dpi", type=int, nargs="+", default=[150, 200])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for dpi in args.dpi:
        run(dpi, args.sheets, args.seed)


if __name__ == "__main__":
    main()
