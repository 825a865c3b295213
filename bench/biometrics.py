"""Fingerprint verification: accuracy and speed of extraction, 1:1 and 1:N matching.

    .venv/bin/python bench/biometrics.py                      # 200 fingers x 4, 10,000 in 1:N
    .venv/bin/python bench/biometrics.py --fingers 50 --gallery 2000   # a quick run
    .venv/bin/python bench/biometrics.py --images                   # real sets, ../shared/data/fvc
    .venv/bin/python bench/biometrics.py --images SET_OR_FOLDER ... --calibrate

With ``--images`` the sets are real images in the FVC layout and everything below about
synthetic fingers gives way to ``bench/biometrics_images.py``: per set EER, FNMR at FMR
1 % and 0.1 %, refused captures, minutiae per capture and extraction time; the
threshold table with ``--calibrate``; 1:N over a gallery made from real minutiae sets.

Data: synthetic fingers from ``hil.fingerprints`` (whole fingers grown from orientation
and ridge-period fields, captured as a 500-dpi optical sensor would, every skin
condition in the shares a polling station sees), each impression through the real
extractor (``controller.biometrics.extract``). Images are made by worker processes and
kept under ``var/cache/fingerprints``; everything timed runs afterwards in this process
with one thread for numpy, as the station controller's budget is set.

Accuracy follows the FVC protocol on the extracted templates: every pair of
impressions of one finger is a genuine comparison; impostor comparisons are every pair
of first and second impressions of different fingers. Printed: the equal error rate,
the false non-match rate at false-match rates of 1 %, 0.1 % and 0.01 % with the score
threshold that gives each (with how many impostor pairs the rate rests on), the
failure-to-extract rate, and the same for enrolled references (impressions 1-3
consolidated, impression 4 as probe).

Speed: extraction per 256x288 image; 1:1 comparison of prepared templates; 1:N search
over a gallery of ``--gallery`` templates (the extracted first impressions of every
finger, filled up with synthetic minutiae sets from ``controller.biometrics.match.
synthetic``) for every later impression as probe: median and p95 milliseconds, rank-1
and top-5 identification, and the false identifications of probes whose finger is not
enrolled at the 1:N threshold.
"""

from __future__ import annotations

import os

# Before numpy is imported: the bars are for one core, so no BLAS or OpenMP threads.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import biometrics_images  # noqa: E402
from error_rates import print_rates  # noqa: E402
from fingerprint_extract import time_extraction  # noqa: E402

from controller.biometrics import thresholds  # noqa: E402
from controller.biometrics.enroll import EnrollmentError, enroll  # noqa: E402
from controller.biometrics.extract import extract  # noqa: E402
from controller.biometrics.match import synthetic  # noqa: E402
from controller.biometrics.match.gallery import Gallery  # noqa: E402
from controller.biometrics.match.matcher import Template, compare  # noqa: E402
from controller.biometrics.template import Minutiae  # noqa: E402
from hil.fingerprints import dataset  # noqa: E402
from hil.fvc import SHARED_FVC, SetLayoutError, find_sets  # noqa: E402

CACHE = ROOT / "var" / "cache" / "fingerprints"
CLEAN = ("good", "normal", "real")


def _extract_finger(job: tuple[int, int, int, int]) -> list[tuple[int, int, str, object]]:
    """Worker: make (or load) the impressions of fingers [start, stop) and extract them."""
    start, stop, impressions, seed = job
    out = []
    for finger, impression, made in dataset(
        stop, impressions, seed=seed, cache_dir=CACHE, first=start
    ):
        found = extract(made.image)
        out.append((finger, impression, made.condition, found.minutiae if found.usable else None))
    return out


def extracted_set(
    fingers: int, impressions: int, seed: int, workers: int
) -> dict[tuple[int, int], tuple[str, Minutiae | None]]:
    """Every impression's condition and extracted minutiae (None when refused)."""
    step = max(1, fingers // (4 * max(workers, 1)))
    jobs = [(s, min(s + step, fingers), impressions, seed) for s in range(0, fingers, step)]
    found: dict[tuple[int, int], tuple[str, Minutiae | None]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, part in enumerate(pool.map(_extract_finger, jobs), start=1):
            for finger, impression, condition, minutiae in part:
                found[(finger, impression)] = (condition, minutiae)
            print(
                "\r  images: %d of %d fingers" % (min(done * step, fingers), fingers),
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    return found


def accuracy(found: dict, fingers: int, impressions: int) -> list[float]:
    """Print the FVC-protocol rates of the single impressions; return each comparison's
    time in seconds."""
    templates = {key: Template.from_minutiae(m) for key, (_, m) in found.items() if m is not None}
    genuine, impostor, times = [], [], []
    clean_genuine, clean_impostor = [], []
    conditions: dict[str, list[float]] = {}

    def clean(*keys: tuple[int, int]) -> bool:
        return all(found[k][0] in CLEAN for k in keys)

    for f in range(fingers):
        for a in range(impressions):
            for b in range(a + 1, impressions):
                ta, tb = templates.get((f, a)), templates.get((f, b))
                if ta is None or tb is None:
                    continue
                t0 = time.perf_counter()
                s = compare(ta, tb)
                times.append(time.perf_counter() - t0)
                genuine.append(s)
                if clean((f, a), (f, b)):
                    clean_genuine.append(s)
                for key in ((f, a), (f, b)):
                    conditions.setdefault(found[key][0], []).append(s)
    firsts = [(f, i) for f in range(fingers) for i in (0, 1)]
    for i, a in enumerate(firsts):
        for b in firsts[i + 1 :]:
            ta, tb = templates.get(a), templates.get(b)
            if a[0] == b[0] or ta is None or tb is None:
                continue
            t0 = time.perf_counter()
            s = compare(ta, tb)
            times.append(time.perf_counter() - t0)
            impostor.append(s)
            if clean(a, b):
                clean_impostor.append(s)
    genuine_a, impostor_a = np.array(genuine), np.array(impostor)
    result = print_rates("1:1, single impressions", genuine_a, impostor_a)
    threshold = result["targets"][0.001][0]
    print("  FNMR at the FMR 0.1 % threshold, by skin condition of either impression:")
    for name, values in sorted(conditions.items()):
        v = np.array(values)
        print("    %-7s %6.2f %%  of %d" % (name, 100 * (v < threshold).mean(), len(v)))
    if clean_genuine and clean_impostor:
        print_rates(
            "1:1, both captures good or normal skin (the classic-sensor case)",
            np.array(clean_genuine),
            np.array(clean_impostor),
        )
    return times


def enrolled_accuracy(found: dict, fingers: int, impressions: int) -> None:
    """References consolidated from impressions 1-3, probed with the last impression."""
    if impressions < 4:
        print("enrolled references: needs --impressions 4 or more")
        return
    references, probes, failures = {}, {}, Counter()
    left_out = 0
    for f in range(fingers):
        views = [found[(f, i)][1] for i in range(3)]
        probe = found[(f, impressions - 1)][1]
        if any(v is None for v in views) or probe is None:
            failures["refused capture"] += 1
            continue
        try:
            made = enroll({0: views})
        except EnrollmentError:
            failures["impressions do not agree"] += 1
            continue
        record = made.record
        if made.left_out:
            left_out += 1
        references[f] = [Template.from_minutiae(v.minutiae) for v in record.views]
        probes[f] = Template.from_minutiae(probe)
    keys = sorted(references)
    genuine = [max(compare(probes[f], v) for v in references[f]) for f in keys]
    impostor = [
        max(compare(probes[f], v) for v in references[g]) for f in keys for g in keys if f != g
    ][:200_000]
    print_rates(
        "1:1, enrolled references (impressions 1-3 consolidated, probe impression %d)"
        % impressions,
        np.array(genuine),
        np.array(impostor),
    )
    print("  enrolled %d fingers, %d of them with one impression left out" % (len(keys), left_out))
    if failures:
        print("  not enrolled: %s" % ", ".join("%s %d" % kv for kv in failures.items()))


def extraction_time(found_keys: list, seed: int, sample: int) -> None:
    """Extraction time per image, on images already made (generation is not timed)."""
    images = []
    fingers = 1 + max(f for f, _ in found_keys)
    for _finger, _impression, made in dataset(fingers, 1, seed=seed, cache_dir=CACHE):
        images.append(made.image)
        if len(images) >= sample:
            break
    w, c = time_extraction(images)
    print(
        "extraction, 256x288 at 500 dpi, %d images: median %.1f ms, p95 %.1f ms "
        "(CPU median %.1f, p95 %.1f)"
        % (len(images), np.median(w), np.percentile(w, 95), np.median(c), np.percentile(c, 95))
    )


def identification(found: dict, fingers: int, impressions: int, size: int, seed: int) -> None:
    """1:N: the first impressions enrolled among synthetic fillers, later ones as probes."""
    enrolled = [f for f in range(fingers) if found[(f, 0)][1] is not None]
    held_out = set(enrolled[len(enrolled) // 2 :])  # these fingers' probes are not enrolled
    entries = [(f, Template.from_minutiae(found[(f, 0)][1])) for f in enrolled if f not in held_out]
    filler = size - len(entries)
    t0 = time.perf_counter()
    for k in range(max(filler, 0)):
        finger = synthetic.make_finger(1_000_000 + seed * 100_000 + k)
        minutiae, _ = synthetic.make_impression(finger, k)
        entries.append((("filler", k), Template.from_minutiae(minutiae)))
    t1 = time.perf_counter()
    gallery = Gallery(entries)
    t2 = time.perf_counter()
    print(
        "1:N gallery: %d templates (%d extracted, %d synthetic minutiae sets); "
        "prepared in %.1f s, indexed in %.1f s"
        % (len(gallery), len(entries) - max(filler, 0), max(filler, 0), t1 - t0, t2 - t1)
    )
    times, ranks, best_out = [], [], []
    reachable = missed = 0  # probes whose own template scores above the 1:N threshold
    reference = dict(entries[: len(enrolled) - len(held_out)])
    threshold = thresholds.IDENTIFY_THRESHOLD
    for f in enrolled:
        for i in range(1, impressions):
            minutiae = found[(f, i)][1]
            if minutiae is None:
                continue
            probe = Template.from_minutiae(minutiae)
            t = time.perf_counter()
            ranked = gallery.search(probe, 5)
            times.append(time.perf_counter() - t)
            owners = [owner for owner, _ in ranked]
            if f in held_out:
                best_out.append(ranked[0][1] if ranked else 0.0)
            else:
                ranks.append(owners.index(f) if f in owners else 99)
                if compare(probe, reference[f]) >= threshold:
                    reachable += 1
                    missed += not owners or owners[0] != f
    ms = 1000 * np.array(times)
    r = np.array(ranks)
    out = np.array(best_out)
    print(
        "  search: %d probes, median %.1f ms, p95 %.1f ms, max %.1f ms"
        % (len(ms), np.median(ms), np.percentile(ms, 95), ms.max())
    )
    print(
        "  enrolled probes: rank 1 %.1f %%, top 5 %.1f %% (of %d)"
        % (100 * (r == 0).mean(), 100 * (r < 5).mean(), len(r))
    )
    print(
        "  of the %d enrolled probes that score >= %.3f against their own template, "
        "%d not ranked first (missed by the index or outscored)" % (reachable, threshold, missed)
    )
    print(
        "  probes not enrolled: best score >= the 1:N threshold %.3f in %d of %d "
        "(false identifications before the runner-up margin)"
        % (threshold, int((out >= threshold).sum()), len(out))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fingers", type=int, default=200, help="synthetic fingers (200)")
    parser.add_argument("--impressions", type=int, default=4, help="per finger (4)")
    parser.add_argument(
        "--gallery", type=int, default=10_000, help="1:N templates (10,000; 0: none)"
    )
    parser.add_argument("--seed", type=int, default=1, help="finger set (1)")
    parser.add_argument("--workers", type=int, default=2, help="image-making processes (2)")
    parser.add_argument(
        "--images",
        type=Path,
        nargs="*",
        default=None,
        metavar="FOLDER",
        help="real image sets instead of synthetic fingers: set folders of <finger>_<impression> "
        "images, or folders of such sets (none given: %s)" % SHARED_FVC,
    )
    parser.add_argument(
        "--dpi",
        type=int,
        default=None,
        help="resolution of every --images set (else found per set)",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="with --images: the threshold table over all sets pooled",
    )
    args = parser.parse_args()
    if args.gallery < 0:
        parser.error("--gallery must be 0 or more")
    started = time.perf_counter()
    if args.images is not None:
        try:
            sets = find_sets(args.images or [SHARED_FVC], args.dpi)
        except SetLayoutError as err:
            parser.error(str(err))
        print(
            "biometrics benchmark on real images: %s"
            % ", ".join("%s (%d x %d)" % (s.name, s.fingers, s.impressions) for s in sets)
        )
        biometrics_images.run(sets, args.gallery, args.seed, args.calibrate)
        print("done in %.1f min" % ((time.perf_counter() - started) / 60))
        return
    if args.calibrate:
        parser.error("--calibrate needs --images: thresholds are calibrated on real images")
    if args.fingers < 4 or args.impressions < 2:
        parser.error("needs at least 4 fingers and 2 impressions")
    print(
        "biometrics benchmark: %d synthetic fingers x %d impressions, seed %d"
        % (args.fingers, args.impressions, args.seed)
    )
    found = extracted_set(args.fingers, args.impressions, args.seed, args.workers)
    refused = sum(1 for _, m in found.values() if m is None)
    print(
        "failure to extract: %d of %d images (%.1f %%)"
        % (refused, len(found), 100 * refused / len(found))
    )
    extraction_time(sorted(found), args.seed, min(100, args.fingers))
    times = accuracy(found, args.fingers, args.impressions)
    ms = 1000 * np.array(times)
    print(
        "1:1 time, prepared templates, %d comparisons: median %.3f ms, p95 %.3f ms"
        % (len(ms), np.median(ms), np.percentile(ms, 95))
    )
    enrolled_accuracy(found, args.fingers, args.impressions)
    if args.gallery > 0:
        identification(found, args.fingers, args.impressions, args.gallery, args.seed)
    print(
        "thresholds in use (controller/biometrics/thresholds.py): verify %.3f, identify %.3f"
        % (thresholds.VERIFY_THRESHOLD, thresholds.IDENTIFY_THRESHOLD)
    )
    print("done in %.1f min" % ((time.perf_counter() - started) / 60))


if __name__ == "__main__":
    main()
