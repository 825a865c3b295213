"""Benchmark of ballot reading on generated scans, against a plain OpenCV reader.

    .venv/bin/python bench/omr.py                     # 1,000,000 ballot positions
    .venv/bin/python bench/omr.py --positions 20000   # a quick run

Scans come from ``hil.ballot_scans`` (every kind of mark, dirt and distortion within
the reader's tolerances, 2 % with a scanner streak, 10 % in colour) at 200 dpi, their
marks drawn by one of two mark models: ``marks.py`` (shapes) or, on ``--hand-share`` of
the sheets (half by default), ``hand.py``, pen trajectories made apart from the reader
and from the first model: the held-out check. Sheets are of the
example election's two styles and a long style of 38 targets, and 3 % of them ballots
that do not belong (of another election, printed for another station, test ballots),
made by
worker processes on the other cores while this process, pinned to core 0 with one
thread for numpy and OpenCV, reads each of them twice: with Shailoo's reader
(``controller.ballots.read``) and with the plain contour-and-threshold reader of
``bench/omr_baseline.py``. Image decoding is not part of reading; it is measured on a
sample of the scans saved as PNG and JPEG files and reported apart.

Printed: median and p95 milliseconds per sheet (wall clock and the reading thread's
CPU time), ballot positions read, vote errors (a vote not counted, or anything else
counted), marginal flags, what happened to pencil lines, hesitation marks, folds and
stains, streaks caught, sheets refused, foreign ballots refused with the right reason,
and the baseline's figures beside them. Then, per mark model and kind of mark, the
lowest score of a vote and the highest of a non-vote (the margin to the thresholds),
how each was classed and the vote errors. The reader runs as station ``STATION`` in
official mode.
Ctrl-C (or SIGTERM) stops the run and prints the figures so far.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from concurrent.futures import Future, ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from omr_baseline import read_baseline  # noqa: E402

from controller.ballots.read import DEFAULT_THRESHOLDS, read_ballot, to_gray  # noqa: E402
from controller.ballots.scanfile import load_scan  # noqa: E402
from controller.election.definition import Election  # noqa: E402
from controller.election.load import load_election  # noqa: E402
from hil.ballot_scans import ScanMaker  # noqa: E402

EXAMPLE = ROOT / "examples" / "election.json"
STYLE_WEIGHTS = {"s-d07": 0.2, "s-d12": 0.2, "s-long": 0.6}
DECODE_EVERY = 200
REUSE = 10  # scans sharing a placement on the scanner bed, on average (marks are all new)
STATION = "ps-bench"  # the station the reader runs at
# Ballots that do not belong, by the reason they must be refused with: their share of
# the sheets, and how the maker prints them.
FOREIGN = {
    "other_election": 0.01,
    "other_station": 0.01,
    "test_ballot": 0.01,
}

_maker: ScanMaker | None = None
_foreign: dict[str, ScanMaker] = {}
_seed = 0
_colour_share = 0.0
_hand_share = 0.0


SURNAMES = (
    "Абдыразаков", "Бекова", "Дүйшөнбиев", "Жээнбекова", "Исаков", "Кадырова", "Мамбетов",
    "Ниязова", "Өмүрбеков", "Рысбаева", "Сатыбалдиев", "Токтогулова", "Үсөнов", "Шаршеева",
    "Эсеналиев", "Ысмайылова", "Каримов", "Асанова", "Турдубаев",
)
GIVEN = ("Мирлан", "Гүлнара", "Талант", "Айнура", "Өмүр", "Нурзат", "Руслан", "Чынара",
         "Азамат", "Айпери", "Эрмек", "Мээрим", "Бактыбек", "Жаңыл", "Улан", "Асел", "Нурбек",
         "Айгерим", "Элмир")


def bench_election() -> Election:
    """The example election plus a long style of two contests of 19 candidates each, one
    column apiece (38 targets: as many as an A4 sheet holds)."""
    doc = copy.deepcopy(load_election(EXAMPLE).to_dict())
    for cid, vote_for, titles, shift in (
        ("city-council", 3, ("Шаардык кеңеш", "Городской кенеш", "City council"), 0),
        ("village-council", 2, ("Айылдык кеңеш", "Айылный кенеш", "Village council"), 7),
    ):
        doc["contests"].append({
            "id": cid, "kind": "candidate", "vote_for": vote_for,
            "title": dict(zip(("ky", "ru", "en"), titles, strict=True)),
            "options": [{"id": f"{cid[0]}-{i:02d}",
                         "name": f"{SURNAMES[i]} {GIVEN[(i + shift) % len(GIVEN)]}"}
                        for i in range(19)],
        })
    doc["styles"].append({"id": "s-long", "contests": ["city-council", "village-council"]})
    return Election.from_dict(doc, source="bench election")


def other_election(election: Election) -> Election:
    """``election`` with one letter of one candidate's name changed: another definition,
    another hash, the very same sheet layout."""
    doc = copy.deepcopy(election.to_dict())
    doc["contests"][1]["options"][0]["name"] += "-Ү"
    return Election.from_dict(doc, source="another election")


def _init_worker(seed: int, dpi: int, colour_share: float, hand_share: float,
                 cores: set[int]) -> None:
    global _maker, _seed, _colour_share, _hand_share
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    cv2.setNumThreads(1)
    election = bench_election()
    _maker = ScanMaker(election, dpi, "official")
    _foreign.update({
        "other_election": ScanMaker(other_election(election), dpi, "official"),
        "other_station": ScanMaker(election, dpi, "official", station="ps-0001"),
        "test_ballot": ScanMaker(election, dpi, "test", station=STATION),
    })
    _seed = seed
    _colour_share = colour_share
    _hand_share = hand_share


def _make(index: int) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    assert _maker is not None
    rng = np.random.default_rng([_seed, index])
    styles = list(STYLE_WEIGHTS)
    style = str(rng.choice(styles, p=list(STYLE_WEIGHTS.values())))
    roll, foreign = rng.random(), None
    for reason, share in FOREIGN.items():
        if roll < share:
            foreign = reason
            break
        roll -= share
    maker = _foreign[foreign] if foreign else _maker
    model = "hand" if rng.random() < _hand_share else "marks"
    scan = maker.random(rng, colour=bool(rng.random() < _colour_share), reuse=REUSE,
                        style=style, model=model)
    spec = scan.spec
    if foreign and (spec.streak is None or spec.streak[0] == "light"):
        # A dark streak is seen before the code is read; a light one only after the
        # code has already refused the ballot.
        scan.truth["expect"] = foreign
    scan.truth["streak"] = spec.streak
    flags = {"folds": bool(spec.folds), "stains": bool(spec.stains),
             "strays": spec.strays > 0, "colour": spec.colour, "jpeg": spec.jpeg is not None,
             "orientation": spec.orientation}
    return scan.image, scan.truth, flags


class KindTally:
    """How one kind of mark of one mark model was read."""

    def __init__(self) -> None:
        self.count = 0
        self.low = float("inf")  # the lowest score of a vote
        self.high = float("-inf")  # the highest score of a non-vote
        self.classes = Counter()  # type: Counter[str]
        self.errors = 0

    def add(self, mark: dict[str, Any], vote: bool) -> None:
        self.count += 1
        score = float(mark["score"])
        if vote:
            self.low = min(self.low, score)
        else:
            self.high = max(self.high, score)
        self.classes[mark["class"]] += 1
        self.errors += (mark["class"] == "marked") != vote


class Tally:
    """What one reader made of the scans."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.positions = 0
        self.errors = 0
        self.missed_votes = 0
        self.phantom_votes = 0
        self.refused = 0
        self.marginal = 0
        self.marginal_by_design = 0
        self.lines = Counter()  # type: Counter[str]
        self.hesitations = Counter()  # type: Counter[str]
        self.on_dirty = 0  # vote errors on sheets with folds, stains or stray marks
        self.error_kinds = Counter()  # type: Counter[str]
        self.streaks = Counter()  # type: Counter[str]
        self.refusals = Counter()  # type: Counter[str]
        self.missed_streaks = Counter()  # type: Counter[str]
        self.foreign = Counter()  # type: Counter[str]
        self.foreign_wrong = Counter()  # type: Counter[str]
        self.kinds: dict[tuple[str, str, str], KindTally] = {}

    def time(self, wall: float, cpu: float) -> None:
        self.wall.append(wall * 1000)
        self.cpu.append(cpu * 1000)

    def score(self, result: dict[str, Any], truth: dict[str, Any], dirty: bool) -> None:
        if truth["expect"] in FOREIGN:
            # A ballot that does not belong: refused with its reason, or a failure.
            expected = truth["expect"]
            self.foreign[expected] += 1
            if (result["status"], result.get("reason")) != ("rejected", expected):
                self.foreign_wrong[f"{expected} as {result.get('reason') or 'accepted'}"] += 1
            return
        streaked = truth["expect"] == "scanner_streaks"
        if result["status"] != "accepted":
            if streaked:
                self.streaks["caught" if result.get("reason") == "scanner_streaks"
                             else "refused otherwise"] += 1
            else:
                self.refused += 1
                self.refusals[str(result.get("reason"))] += 1
            return
        if streaked:
            self.streaks["missed"] += 1
            kind, _, width = truth["streak"]
            self.missed_streaks[f"{kind} {width} px"] += 1
        for mark, target in zip(result["marks"], truth["targets"], strict=True):
            self.positions += 1
            counted = mark["class"] == "marked"
            vote = target["truth"] == "vote"
            key = (target.get("model") or "-", target["kind"] or "empty", target["truth"])
            self.kinds.setdefault(key, KindTally()).add(mark, vote)
            if mark["class"] == "marginal":
                self.marginal += 1
                self.marginal_by_design += target["truth"] == "marginal"
            if target["kind"] == "line" and target.get("model") != "hand":
                self.lines["counted" if counted else "missed"] += 1
            if target["truth"] == "marginal":
                self.hesitations[mark["class"]] += 1
            if counted != vote:
                self.errors += 1
                self.missed_votes += vote
                self.phantom_votes += counted
                self.on_dirty += dirty
                self.error_kinds[target["kind"] or "empty"] += 1

    def ms(self, which: list[float], q: float) -> float:
        if not which:
            return float("nan")
        ordered = sorted(which)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if q != 0.5 else (
            statistics.median(ordered))


def _decode_ms(image: np.ndarray, suffix: str, folder: Path) -> float:
    path = folder / f"scan{suffix}"
    data = image[:, :, ::-1] if image.ndim == 3 else image
    cv2.imwrite(str(path), data)
    start = time.perf_counter()
    load_scan(path)
    return (time.perf_counter() - start) * 1000


def run(args: argparse.Namespace) -> int:
    """Generate, read and report; returns the process exit code."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    reader_core = cores[0]
    others = set(cores[1:]) or {reader_core}
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {reader_core})
    cv2.setNumThreads(1)
    election = bench_election()
    layouts = {s: ScanMaker(election, args.dpi, "official").base(s)[1] for s in election.styles}
    ours, plain = Tally("shailoo"), Tally("opencv baseline")
    decode: dict[str, list[float]] = {"png": [], "jpeg": [], "colour→grey": []}
    sheets = 0
    started = time.perf_counter()
    pending: list[Future] = []
    next_index = 0
    window = 2 * args.workers + 2
    interrupted = False
    signal.signal(signal.SIGTERM, _stop)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(
        args.workers, initializer=_init_worker,
        initargs=(args.seed, args.dpi, args.colour_share, args.hand_share, others),
    ) as pool:
        folder = Path(tmp)
        last_report = 0.0
        try:
            while ours.positions + ours.refused < args.positions or pending:
                while len(pending) < window and _still_needed(ours, args, pending):
                    pending.append(pool.submit(_make, next_index))
                    next_index += 1
                if not pending:
                    break
                image, truth, flags = pending.pop(0).result()
                sheets += 1
                if image.ndim == 3:
                    start = time.perf_counter()
                    gray = to_gray(image)
                    decode["colour→grey"].append((time.perf_counter() - start) * 1000)
                else:
                    gray = image
                dirty = flags["folds"] or flags["stains"] or flags["strays"]
                wall, cpu = time.perf_counter(), time.thread_time()
                result = read_ballot(gray, election, mode="official", station=STATION,
                                     dpi=args.dpi)
                ours.time(time.perf_counter() - wall, time.thread_time() - cpu)
                ours.score(result, truth, dirty)
                # The baseline cannot tell a foreign ballot: it reads marks only.
                if (not args.no_baseline and sheets % args.baseline_every == 0
                        and truth["expect"] not in FOREIGN):
                    wall, cpu = time.perf_counter(), time.thread_time()
                    base = read_baseline(gray, layouts[truth["style"]], args.dpi)
                    plain.time(time.perf_counter() - wall, time.thread_time() - cpu)
                    plain.score(base, truth, dirty)
                if sheets % DECODE_EVERY == 1:
                    decode["png"].append(_decode_ms(image, ".png", folder))
                    decode["jpeg"].append(_decode_ms(image, ".jpg", folder))
                now = time.perf_counter()
                if now - last_report > 2 and not args.quiet:
                    last_report = now
                    done = min(1.0, ours.positions / args.positions)
                    eta = (now - started) / max(done, 1e-9) * (1 - done)
                    print(f"\r{ours.positions:>10,} / {args.positions:,} positions "
                          f"({done:5.1%}), {sheets:,} sheets, {ours.errors} vote errors, "
                          f"ETA {eta / 60:4.1f} min ", end="", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            interrupted = True
            for future in pending:
                future.cancel()
    if not args.quiet:
        print(file=sys.stderr)
    elapsed = time.perf_counter() - started
    if interrupted:
        print(f"interrupted: the figures below cover the first {ours.positions:,} positions")
    _report(args, ours, plain, decode, sheets, elapsed)
    return 1 if ours.errors or sum(ours.foreign_wrong.values()) or interrupted else 0


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM ends the run as Ctrl-C does: with the figures so far."""
    raise KeyboardInterrupt


def _still_needed(ours: Tally, args: argparse.Namespace, pending: list[Future]) -> bool:
    # About 30 positions per sheet: stop asking for sheets once the ones on the way
    # will reach the count.
    return ours.positions + ours.refused * 30 + 30 * len(pending) < args.positions


def _report(args: argparse.Namespace, ours: Tally, plain: Tally,
            decode: dict[str, list[float]], sheets: int, elapsed: float) -> None:
    def med(v: list[float]) -> str:
        return f"{statistics.median(v):.2f}" if v else "-"

    print(f"OMR benchmark: {sheets:,} generated sheets at {args.dpi} dpi, seed {args.seed}, "
          f"{elapsed / 60:.1f} min in all")
    rows = [
        ("median ms per sheet (wall)", lambda t: f"{t.ms(t.wall, 0.5):.2f}"),
        ("p95 ms per sheet (wall)", lambda t: f"{t.ms(t.wall, 0.95):.2f}"),
        ("median ms per sheet (CPU)", lambda t: f"{t.ms(t.cpu, 0.5):.2f}"),
        ("p95 ms per sheet (CPU)", lambda t: f"{t.ms(t.cpu, 0.95):.2f}"),
        ("ballot positions read", lambda t: f"{t.positions:,}"),
        ("vote errors", lambda t: f"{t.errors:,}"),
        ("  votes not counted", lambda t: f"{t.missed_votes:,}"),
        ("  non-votes counted", lambda t: f"{t.phantom_votes:,}"),
        ("  on sheets with folds/stains/strays", lambda t: f"{t.on_dirty:,}"),
        ("marginal flags", lambda t: f"{t.marginal:,}"),
        ("  of them marginal by design", lambda t: f"{t.marginal_by_design:,}"),
        ("1 mm pencil lines counted", lambda t: f"{t.lines['counted']:,}/"
                                                f"{sum(t.lines.values()):,}"),
        ("hesitation marks counted as votes", lambda t: f"{t.hesitations['marked']:,}/"
                                                        f"{sum(t.hesitations.values()):,}"),
        ("sheets refused (no streak)", lambda t: f"{t.refused:,}"),
        ("streaked sheets caught", lambda t: f"{t.streaks['caught']:,}/"
                                             f"{sum(t.streaks.values()):,}"),
    ]
    for reason in FOREIGN:
        rows.append((f"{reason} refused with its reason",
                     lambda t, r=reason: "-" if t is plain else (
                         f"{t.foreign[r] - _wrong(t, r):,}/{t.foreign[r]:,}")))
    if args.baseline_every > 1 and not args.no_baseline:
        print(f"(the baseline read every {args.baseline_every}th sheet)")
    print(f"{'':40s}{ours.name:>16s}{plain.name:>18s}")
    for label, value in rows:
        print(f"{label:40s}{value(ours):>16s}{value(plain) if plain.wall else '-':>18s}")
    if plain.wall:
        ratio = plain.ms(plain.wall, 0.5) / ours.ms(ours.wall, 0.5)
        print(f"baseline / shailoo median time: {ratio:.2f}")
    print(f"decode (not in the times above): PNG median {med(decode['png'])} ms, JPEG "
          f"{med(decode['jpeg'])} ms ({len(decode['png'])} sheets sampled); colour→grey "
          f"median {med(decode['colour→grey'])} ms ({len(decode['colour→grey'])} sheets)")
    if ours.error_kinds:
        print("shailoo vote errors by mark kind:", json.dumps(dict(ours.error_kinds)))
    if ours.refusals:
        print("shailoo refusals of sheets without a streak:", json.dumps(dict(ours.refusals)))
    if ours.missed_streaks:
        print("streaks shailoo did not see:", json.dumps(dict(ours.missed_streaks)))
    if ours.foreign_wrong:
        print("foreign ballots not refused with their reason:",
              json.dumps(dict(ours.foreign_wrong)))
    _report_kinds(ours, args.thresholds)


def _report_kinds(tally: Tally, thresholds: dict[str, float]) -> None:
    """Per mark model and kind: the lowest score of a vote, the highest of a non-vote,
    the classes given and the vote errors, so the margins to the thresholds show."""
    print(f"\nscores by mark model and kind (shailoo; marked from {thresholds['marked']}, "
          f"marginal from {thresholds['marginal']}):")
    print(f"{'model':6s} {'kind':9s} {'truth':9s} {'targets':>8s} {'lowest vote':>12s} "
          f"{'highest non-vote':>17s} {'marked':>8s} {'marginal':>9s} {'unmarked':>9s} "
          f"{'errors':>7s}")
    order = {"vote": 0, "marginal": 1, "blank": 2}
    for (model, kind, truth), k in sorted(tally.kinds.items(),
                                          key=lambda kv: (kv[0][0], order[kv[0][2]], kv[0][1])):
        low = f"{k.low:.3f}" if k.low != float("inf") else "-"
        high = f"{k.high:.3f}" if k.high != float("-inf") else "-"
        print(f"{model:6s} {kind:9s} {truth:9s} {k.count:>8,} {low:>12s} {high:>17s} "
              f"{k.classes['marked']:>8,} {k.classes['marginal']:>9,} "
              f"{k.classes['unmarked']:>9,} {k.errors:>7,}")


def _wrong(tally: Tally, reason: str) -> int:
    return sum(n for what, n in tally.foreign_wrong.items() if what.startswith(reason + " "))


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1_000_000,
                        help="ballot positions to read (default 1,000,000)")
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2,
                        help="processes generating scans, on the cores other than the "
                             "reader's (default 2)")
    parser.add_argument("--colour-share", type=float, default=0.1)
    parser.add_argument("--hand-share", type=float, default=0.5,
                        help="share of sheets marked by the hand model, hil/ballot_scans/"
                             "hand.py (default 0.5; the rest by marks.py)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the OpenCV reader")
    parser.add_argument("--baseline-every", type=int, default=1, metavar="N",
                        help="run the OpenCV reader on every Nth sheet only (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args()
    if not 0 <= args.hand_share <= 1 or not 0 <= args.colour_share <= 1:
        parser.error("--hand-share and --colour-share are shares from 0 to 1")
    args.thresholds = dict(DEFAULT_THRESHOLDS)
    sys.exit(run(args))


if __name__ == "__main__":
    main()
