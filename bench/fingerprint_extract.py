"""Minutiae extraction: time per image and agreement with the generator's ground truth.

Run on one core with single-threaded numpy, as the station controller's budget is set:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 \\
        .venv/bin/python bench/fingerprint_extract.py --fingers 20

On real images, per set (FVC layout, ``hil.fvc``; the sets beside the checkout when no
folder is given), every image is timed at its set's resolution:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 \\
        .venv/bin/python bench/fingerprint_extract.py --images [FOLDER ...]

Timing: every image of every size is extracted ``--repeat`` times; the median and the
95th percentile of wall-clock and CPU time per image are printed per size.
Accuracy: for each skin condition, one impression per finger at 256x288; a found
minutia matches a true one when it lies within ``--distance`` pixels and ``--angle``
degrees (one-to-one, by the Hungarian method). Recall is matched/true, precision
matched/found, over the captures that were not refused; refusals are counted apart.
"""

from __future__ import annotations

import os

# Before numpy is imported: the bar is for one core, so no BLAS or OpenMP threads.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.biometrics.extract import extract  # noqa: E402
from controller.biometrics.images import ImageInputError, load_image  # noqa: E402
from controller.biometrics.template import Minutiae  # noqa: E402
from hil.fingerprints import CONDITIONS, make_impression, make_master  # noqa: E402
from hil.fvc import SHARED_FVC, SetLayoutError, find_sets  # noqa: E402


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError("size must look like 256x288, not %r" % text) from e
    return width, height


def matched(found: Minutiae, truth: Minutiae, distance: float, angle: float) -> int:
    """How many found minutiae pair one-to-one with true ones within the tolerances."""
    if len(found) == 0 or len(truth) == 0:
        return 0
    d = np.hypot(found.x[:, None] - truth.x[None], found.y[:, None] - truth.y[None])
    turn = np.abs(np.mod(found.angle[:, None] - truth.angle[None] + np.pi, 2 * np.pi) - np.pi)
    ok = (d <= distance) & (turn <= angle)
    rows, cols = linear_sum_assignment(np.where(ok, d, 1e6))
    return int(ok[rows, cols].sum())


def time_extraction(
    images: list[np.ndarray], repeat: int = 1, dpi: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and CPU milliseconds of every extraction of every image, ``repeat`` times.

    The first image is extracted once beforehand: the first call pays for imports and
    FFT plans.
    """
    extract(images[0], dpi)
    wall, cpu = [], []
    for _ in range(repeat):
        for image in images:
            t0, c0 = time.perf_counter(), time.process_time()
            extract(image, dpi)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return 1000 * np.array(wall), 1000 * np.array(cpu)


def timing(masters: list, sizes: list[tuple[int, int]], repeat: int) -> None:
    print("time per image (ms), %d fingers x %d runs each" % (len(masters), repeat))
    print("  %-9s %8s %8s %8s %8s" % ("size", "median", "p95", "cpu med", "cpu p95"))
    for width, height in sizes:
        images = [make_impression(m, 1, width, height, "normal").image for m in masters]
        w, c = time_extraction(images, repeat)
        print(
            "  %-9s %8.1f %8.1f %8.1f %8.1f"
            % (
                "%dx%d" % (width, height),
                np.median(w),
                np.percentile(w, 95),
                np.median(c),
                np.percentile(c, 95),
            )
        )


def real_timing(folders: list[Path], repeat: int, dpi: int | None = None) -> None:
    """Extraction time per image of each real set, at the set's own resolution."""
    try:
        sets = find_sets(folders or [SHARED_FVC], dpi)
    except SetLayoutError as err:
        raise SystemExit(str(err)) from None
    print("time per real image (ms), every image x %d runs" % repeat)
    print(
        "  %-16s %9s %5s %8s %8s %8s %8s %8s"
        % ("set", "size", "dpi", "median", "p95", "cpu med", "cpu p95", "refused")
    )
    for fset in sets:
        images = []
        for row in fset.paths:
            for path in row:
                try:
                    images.append(load_image(path))
                except ImageInputError as err:
                    print("  %s: left out: %s" % (fset.name, err))
        if not images:
            continue
        refused = sum(not extract(image, fset.dpi).usable for image in images)
        w, c = time_extraction(images, repeat, fset.dpi)
        print(
            "  %-16s %9s %5d %8.1f %8.1f %8.1f %8.1f %4d/%-3d"
            % (
                fset.name,
                "%dx%d" % (images[0].shape[1], images[0].shape[0]),
                fset.dpi,
                np.median(w),
                np.percentile(w, 95),
                np.median(c),
                np.percentile(c, 95),
                refused,
                len(images),
            )
        )


def accuracy(masters: list, conditions: list[str], distance: float, angle: float) -> None:
    print(
        "accuracy at 256x288, %d fingers, match within %.0f px and %.0f deg"
        % (len(masters), distance, angle)
    )
    print(
        "  %-7s %7s %9s %6s %6s %8s %7s  %s"
        % ("skin", "recall", "precision", "found", "true", "quality", "refused", "reasons")
    )
    for condition in conditions:
        hits = found = truth = 0
        reasons: Counter[str] = Counter()
        scores = []
        for master in masters:
            impression = make_impression(master, 1, 256, 288, condition)
            result = extract(impression.image)
            scores.append(result.quality)
            if not result.usable:
                reasons[str(result.reason)] += 1
                continue
            hits += matched(result.minutiae, impression.minutiae, distance, np.radians(angle))
            found += len(result.minutiae)
            truth += len(impression.minutiae)
        print(
            "  %-7s %7.3f %9.3f %6d %6d %8.1f %7d  %s"
            % (
                condition,
                hits / max(truth, 1),
                hits / max(found, 1),
                found,
                truth,
                float(np.mean(scores)),
                sum(reasons.values()),
                ", ".join("%s %d" % kv for kv in sorted(reasons.items())) or "-",
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fingers", type=int, default=20, help="synthetic fingers (20)")
    parser.add_argument(
        "--seed", type=int, default=0, help="finger set: fingers 1000*seed onwards (0)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per image (3)")
    parser.add_argument(
        "--sizes",
        type=parse_size,
        nargs="+",
        default=[(256, 288), (400, 480), (640, 480)],
        help="image sizes to time (256x288 400x480 640x480)",
    )
    parser.add_argument(
        "--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS, metavar="SKIN"
    )
    parser.add_argument("--distance", type=float, default=12.0, help="pixels (12)")
    parser.add_argument("--angle", type=float, default=30.0, help="degrees (30)")
    parser.add_argument(
        "--images",
        type=Path,
        nargs="*",
        default=None,
        metavar="FOLDER",
        help="time real image sets instead (set folders or folders of sets; none given: %s)"
        % SHARED_FVC,
    )
    parser.add_argument(
        "--dpi",
        type=int,
        default=None,
        help="resolution of every --images set (else found per set)",
    )
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--no-accuracy", action="store_true")
    args = parser.parse_args()
    if args.fingers < 1 or args.repeat < 1:
        parser.error("--fingers and --repeat must be 1 or more")

    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    print(
        "cpus %s, OMP_NUM_THREADS=%s OPENBLAS_NUM_THREADS=%s"
        % (affinity, os.environ["OMP_NUM_THREADS"], os.environ["OPENBLAS_NUM_THREADS"])
    )
    if args.images is not None:
        real_timing(args.images, args.repeat, args.dpi)
        return
    masters = [make_master(1000 * args.seed + f) for f in range(args.fingers)]
    if not args.no_timing:
        timing(masters, args.sizes, args.repeat)
    if not args.no_accuracy:
        accuracy(masters, args.conditions, args.distance, args.angle)


if __name__ == "__main__":
    main()
