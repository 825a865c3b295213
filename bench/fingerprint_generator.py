"""Speed and realism figures of the fingerprint generator.

    python bench/fingerprint_generator.py --fingers 20 --impressions 4

prints how long a master and an impression take, the ridge period measured by FFT
against the one the master was grown with, the minutiae counts of masters and
impressions, how much ground truth two impressions of one finger share, and how much
ridge area each condition leaves.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from hil.fingerprints import CONDITIONS, UNUSABLE, make_impression, make_master
from hil.fingerprints.master import MM2_PER_PIXEL
from hil.fingerprints.measure import ridge_area, ridge_period


def _spread(values: list[float]) -> str:
    a = np.asarray(values, dtype=float)
    return "mean %.3g  median %.3g  p5 %.3g  p95 %.3g  (n=%d)" % (
        a.mean(),
        np.median(a),
        np.percentile(a, 5),
        np.percentile(a, 95),
        len(a),
    )


def main(argv: list[str] | None = None) -> None:
    """Make ``--fingers`` masters with ``--impressions`` impressions each and print figures."""
    parser = argparse.ArgumentParser(prog="python bench/fingerprint_generator.py")
    parser.add_argument("--fingers", type=int, default=20)
    parser.add_argument("--impressions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)

    # CPU time of this process: the figure for one core, whatever else the machine runs.
    clock = time.process_time
    master_times, densities, patterns = [], [], Counter()
    times: dict[str, list[float]] = {}
    counts: dict[str, list[float]] = {}
    areas: dict[str, list[float]] = {}
    period_error, periods, shared, overlap, transfer = [], [], [], [], []
    for f in range(args.fingers):
        start = clock()
        master = make_master(args.seed + f)
        master_times.append(clock() - start)
        patterns[master.pattern] += 1
        densities.append(len(master.minutiae) / (float(master.mask.sum()) * MM2_PER_PIXEL))
        normal = []
        for k, condition in enumerate(CONDITIONS + UNUSABLE):
            for i in range(args.impressions if condition == "normal" else 1):
                start = clock()
                imp = make_impression(master, 100 * k + i, condition=condition)
                times.setdefault(condition, []).append(clock() - start)
                counts.setdefault(condition, []).append(len(imp.minutiae))
                areas.setdefault(condition, []).append(ridge_area(imp.image))
                if condition == "normal":
                    normal.append(imp)
                if condition == "good":
                    measured = ridge_period(imp.image)
                    periods.append(measured)
                    period_error.append(measured - float(master.period[master.mask].mean()))
        start = clock()
        make_impression(master, 999, width=640, height=480)
        times.setdefault("normal 640x480", []).append(clock() - start)
        for a, b in zip(normal[::2], normal[1::2], strict=False):
            common, ia, ib = np.intersect1d(a.master_index, b.master_index, return_indices=True)
            shared.append(len(common) / max(1, min(len(a.minutiae), len(b.minutiae))))
            overlap.append(_contact_overlap(a, b, master))
            if len(common):
                mx, my = a.placement.to_master(a.minutiae.x[ia], a.minutiae.y[ia])
                bx, by = b.placement.to_image(mx, my)
                transfer.append(
                    float(np.max(np.hypot(bx - b.minutiae.x[ib], by - b.minutiae.y[ib])))
                )

    print("CPU seconds per master 400x480: %s" % _spread(master_times))
    for name, values in times.items():
        print("CPU seconds per impression, %-16s %s" % (name, _spread(values)))
    print("pattern classes: %s" % dict(patterns.most_common()))
    print("master minutiae per mm² of finger: %s" % _spread(densities))
    for name, values in counts.items():
        print("ground-truth minutiae, %-10s %s" % (name, _spread(values)))
    print("ridge period by FFT in good captures (px): %s" % _spread(periods))
    print("  minus the master's mean period (px): %s" % _spread(period_error))
    for name, values in areas.items():
        print("ridge area, %-10s %s" % (name, _spread(values)))
    print("pairs of normal impressions, shared ground truth / smaller set: %s" % _spread(shared))
    print("pairs of normal impressions, shared contact / smaller contact: %s" % _spread(overlap))
    print("ground truth carried from one impression to the other, max error px: %s"
          % _spread(transfer))  # fmt: skip


def _contact_overlap(a, b, master) -> float:  # noqa: ANN001
    """Share of the smaller contact area that the other impression also touched (master grid)."""
    h, w = master.height, master.width
    cover = []
    for imp in (a, b):
        ys, xs = np.nonzero(imp.contact)
        mx, my = imp.placement.to_master(xs, ys)
        grid = np.zeros((h, w), dtype=bool)
        inside = (mx >= 0) & (mx < w) & (my >= 0) & (my < h)
        grid[my[inside].astype(int), mx[inside].astype(int)] = True
        cover.append(grid)
    both = np.count_nonzero(cover[0] & cover[1])
    return both / max(1, min(np.count_nonzero(cover[0]), np.count_nonzero(cover[1])))


if __name__ == "__main__":
    main()
