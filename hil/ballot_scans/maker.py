"""A scan of a marked ballot from a rendered base sheet, with its ground truth.

``ScanSpec`` says everything about one scan (marks, paper, placement, scanner);
``random_spec`` draws one as voters and scanners make them; ``ScanMaker.make`` turns a
spec into pixels. Base sheets are rendered once per style. The blank sheet is warped to
its place in the scan once per placement (and kept for the next scans with the same
placement); marks, strays, folds and stains are drawn on the base sheet's grid as small
patches and each patch is warped to the scan by itself; the scanner's effects are
vectorised over the scan. A 200-dpi sheet takes some tens of milliseconds, a good deal
less when placements are shared (``ScanMaker.random(..., reuse=N)``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from controller.ballots import layout as geo
from controller.ballots.render import render_ballot
from hil.ballot_scans import hand, scanner
from hil.ballot_scans import paper as paper_fx
from hil.ballot_scans.marks import ERASED, MARGINAL_KINDS, VOTE_KINDS, mark_patch, stray_patch
from hil.ballot_scans.marks import truth_of as mark_truth
from hil.ballot_scans.pens import PENS, Patch, Pen, apply_ink, apply_shade

ORIENTATIONS = (0, 90, 180, 270)
PLACEMENT = ("rotation", "scale", "orientation", "perspective", "margins")
_WARPED_KEPT = 8
MAX_ROTATION = 5.0
MAX_SCALE_OFF = 0.03
MAX_BLUR_MM = 0.15  # 1.2 pixels at 200 dpi
MAX_STREAK_MM = 1.55  # the widest streak drawn: 12 pixels at 200 dpi


@dataclass
class MarkSpec:
    """One mark on one target."""

    contest: str
    option: str
    kind: str
    pen: str = "black"
    model: str = "marks"  # "marks" (marks.py) or "hand" (hand.py: pen is "instrument/ink")


@dataclass
class ScanSpec:
    """Everything that makes one scan; the same spec always gives the same pixels."""

    style: str
    marks: list[MarkSpec] = field(default_factory=list)
    strays: int = 0
    folds: list[tuple[str, float, float]] = field(default_factory=list)  # axis, mm, depth
    stains: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, r mm
    specks: int = 0
    rotation: float = 0.0
    scale: float = 1.0
    orientation: int = 0
    perspective: tuple[tuple[float, float], ...] = ((0, 0), (0, 0), (0, 0), (0, 0))
    margins: tuple[float, float, float, float] = (4.0, 4.0, 4.0, 4.0)
    blur: float = 0.0  # optical blur, Gaussian sigma in millimetres on the paper
    noise: float = 0.0
    paper: int = 255
    black: int = 0
    streak: tuple[str, float, int] | None = None  # "dark"/"light", where (0-1), width px
    jpeg: int | None = None
    colour: bool = False
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data."""
        return asdict(self)


@dataclass
class Scan:
    """A generated scan and its ground truth."""

    image: np.ndarray  # uint8, rows x columns (grey) or rows x columns x 3 (RGB)
    dpi: int
    spec: ScanSpec
    truth: dict[str, Any]


def _voted(spec: ScanSpec) -> dict[tuple[str, str], MarkSpec]:
    return {(m.contest, m.option): m for m in spec.marks}


def truth_of(spec: ScanSpec, layout: dict[str, Any]) -> dict[str, Any]:
    """The ground truth of a spec: what each target carries and what reading must give.

    ``targets``: per target ``{"contest", "option", "truth", "kind"}`` where truth is
    ``vote`` (must be marked), ``marginal`` (marginal by design: must not be counted),
    ``blank`` (must not be counted; ``kind`` says if an erased mark is there).
    ``votes``: the options that must be read as votes. ``expect``: ``accepted`` or the
    rejection reason a correct reader gives (``scanner_streaks``).
    """
    marks = _voted(spec)
    targets = []
    votes: dict[str, list[str]] = {}
    for t in layout["targets"]:
        mark = marks.get((t["contest"], t["option"]))
        kind = mark.kind if mark else None
        truth = hand.truth_of(kind) if mark and mark.model == "hand" else mark_truth(kind)
        targets.append({"contest": t["contest"], "option": t["option"], "truth": truth,
                        "kind": kind, "pen": mark.pen if mark else None,
                        "model": mark.model if mark else None})
        votes.setdefault(t["contest"], [])
        if truth == "vote":
            votes[t["contest"]].append(t["option"])
    return {
        "style": spec.style,
        "expect": "scanner_streaks" if spec.streak else "accepted",
        "votes": votes,
        "targets": targets,
    }


def random_spec(election: Any, style: str, rng: np.random.Generator,
                colour: bool = False, seed: int | None = None, dpi: int = 200,
                model: str = "marks") -> ScanSpec:
    """A scan as voters and scanners make them: mostly valid votes, sometimes blank or
    overvoted contests, every kind of mark, dirt and distortion within the reader's
    tolerances, and now and then a streaked scanner (streaks at most 1.55 mm wide at
    ``dpi``, the scan's resolution). ``model`` "hand" draws the marks with the hand
    model (``hand.py``) instead of ``marks.py``."""
    if model not in ("marks", "hand"):
        raise ValueError(f"unknown mark model {model!r} (known: marks, hand)")
    marks = _hand_marks(election, style, rng) if model == "hand" else []
    pens = list(PENS) if colour else ["black", "blue", "red", "green", "felt", "pencil"]
    for contest in election.style_contests(style) if model == "marks" else ():
        chosen = _chosen(contest, rng)
        pen = str(rng.choice(pens))
        for option in (o.id for o in contest.options):
            if option in chosen:
                kind = str(rng.choice(VOTE_KINDS, p=[0.34, 0.1, 0.12, 0.1, 0.12, 0.12, 0.1]))
            else:
                roll = rng.random()
                if roll < 0.08:
                    kind = str(rng.choice(MARGINAL_KINDS))
                elif roll < 0.12:
                    kind = ERASED
                else:
                    continue
            marks.append(MarkSpec(contest.id, option, kind, pen))
    paper = geo.PAPERS["A4"]
    folds = []
    for _ in range(int(rng.choice([0, 0, 1, 2]))):
        axis = "h" if rng.random() < 0.75 else "v"
        limit = paper.height if axis == "h" else paper.width
        folds.append((axis, float(rng.uniform(0.15, 0.85) * limit),
                      float(rng.uniform(0.04, paper_fx.FOLD_MAX))))
    stains = []
    if rng.random() < 0.15:
        stains.append((float(rng.uniform(20, paper.width - 20)),
                       float(rng.uniform(60, paper.height - 20)),
                       float(rng.uniform(8, 25)), float(rng.uniform(0.05, 0.14))))
    perspective: tuple[tuple[float, float], ...] = ((0, 0),) * 4
    if rng.random() < 0.3:
        perspective = tuple(
            (float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-1.5, 1.5))) for _ in range(4)
        )
    orientation = int(rng.choice(ORIENTATIONS, p=[0.7, 0.1, 0.1, 0.1]))
    streak = None
    if rng.random() < 0.02:
        # A light streak shows only where it crosses print, so it is drawn through the
        # first target: down the ovals' column of an upright sheet, along a row of one
        # fed sideways. Most streaks are a pixel or a few wide, some up to 12 pixels
        # (a group of dead elements, a strip of dirt), never over MAX_STREAK_MM.
        light = rng.random() < 0.4
        width = int(rng.integers(1, 5)) if rng.random() < 0.7 else int(rng.integers(5, 13))
        width = min(width, max(1, int(MAX_STREAK_MM * dpi / geo.MM_PER_INCH)))
        streak = ("light" if light else "dark", float(rng.uniform(0.1, 0.9)), width)
    return ScanSpec(
        style=style,
        marks=marks,
        # The hand model draws its own strays, in the rows of the options they are at.
        strays=int(rng.choice([0, 0, 0, 1, 2, 3])) * (model == "marks"),
        folds=folds,
        stains=stains,
        specks=int(rng.integers(0, 40)),
        rotation=float(rng.uniform(-MAX_ROTATION, MAX_ROTATION)),
        scale=float(rng.uniform(1 - MAX_SCALE_OFF, 1 + MAX_SCALE_OFF)),
        orientation=orientation,
        perspective=perspective,
        margins=tuple(float(m) for m in rng.uniform(2, 10, size=4)),  # type: ignore[arg-type]
        blur=float(rng.uniform(0, MAX_BLUR_MM)) if rng.random() < 0.6 else 0.0,
        noise=float(rng.uniform(0, 6)) if rng.random() < 0.7 else 0.0,
        paper=int(rng.integers(190, 256)),
        black=int(rng.integers(0, 41)),
        streak=streak,
        jpeg=int(rng.integers(35, 91)) if rng.random() < 0.08 else None,
        colour=colour,
        seed=int(rng.integers(0, 2**31)) if seed is None else seed,
    )


def _chosen(contest: Any, rng: np.random.Generator) -> set[str]:
    """The options a voter marks in ``contest``: mostly as many as allowed or fewer,
    sometimes none, sometimes too many."""
    ids = [o.id for o in contest.options]
    roll = rng.random()
    if roll < 0.1:
        count = 0
    elif roll < 0.2:
        count = int(rng.integers(contest.vote_for + 1, len(ids) + 1))
    else:
        count = int(rng.integers(1, contest.vote_for + 1))
    return set(rng.choice(ids, size=count, replace=False).tolist()) if count else set()


HAND_VOTES = {"tick": 0.26, "cross": 0.2, "slash": 0.08, "line": 0.08, "circle": 0.06,
              "scribble": 0.12, "fill": 0.2}
HAND_OTHERS = {"dot": 0.45, "speck": 0.25, "stray": 0.15, "erased": 0.15}


def _hand_marks(election: Any, style: str, rng: np.random.Generator) -> list[MarkSpec]:
    """The marks of one voter drawn with the hand model: one pen for the whole ballot
    (now and then a second one), votes of every kind, and on about one unchosen
    option in six a hesitation dot, a speck, a stray mark or an erasure."""
    pen = hand.random_pen(rng)
    marks = []
    for contest in election.style_contests(style):
        chosen = _chosen(contest, rng)
        if rng.random() < 0.1:
            pen = hand.random_pen(rng)
        for option in (o.id for o in contest.options):
            if option in chosen:
                kind = str(rng.choice(list(HAND_VOTES), p=list(HAND_VOTES.values())))
            elif rng.random() < 0.16:
                kind = str(rng.choice(list(HAND_OTHERS), p=list(HAND_OTHERS.values())))
            else:
                continue
            marks.append(MarkSpec(contest.id, option, kind, pen, model="hand"))
    return marks


class ScanMaker:
    """Scans of one election's ballots as printed for a station, at one resolution."""

    def __init__(self, election: Any, dpi: int = 200, mode: str = "official",
                 station: str | None = None, paper: str = "A4") -> None:
        self.election = election
        self.dpi = dpi
        self.mode = mode
        self.station = station
        self.paper = paper
        self._base: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        self._warped: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, tuple[int, int]]] = {}
        self._last: dict[str, ScanSpec] = {}

    def base(self, style: str) -> tuple[np.ndarray, dict[str, Any]]:
        """The blank rendered sheet of ``style`` and its layout record (rendered once)."""
        if style not in self._base:
            image, layout = render_ballot(self.election, style, self.dpi, self.mode,
                                          self.station, self.paper)
            self._base[style] = (np.array(image), layout)
        return self._base[style]

    def random(self, rng: np.random.Generator, colour: bool = False, reuse: int = 1,
               style: str | None = None, model: str = "marks") -> Scan:
        """A random scan of ``style`` (default: a random style). With ``reuse`` N, a
        style's placement on the scanner is drawn anew for about one scan in N and
        otherwise kept from the last one: the marks, paper and scanner effects stay new
        each time, at a fraction of the cost."""
        style = style or str(rng.choice(sorted(self.election.styles)))
        spec = random_spec(self.election, style, rng, colour, dpi=self.dpi, model=model)
        last = self._last.get(style)
        if last is not None and reuse > 1 and rng.random() >= 1 / reuse:
            spec = dataclasses.replace(spec, **{name: getattr(last, name) for name in PLACEMENT})
        self._last[style] = spec
        return self.make(spec)

    def _placed(self, spec: ScanSpec) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """The blank sheet warped to the spec's placement, the homography, the scan size."""
        key = (spec.style, *(repr(getattr(spec, name)) for name in PLACEMENT))
        hit = self._warped.get(key)
        if hit is not None:
            return hit
        base, _ = self.base(spec.style)
        k = self.dpi / geo.MM_PER_INCH
        h, size = scanner.placement(
            (base.shape[1], base.shape[0]), k, k, spec.rotation, spec.scale,
            spec.orientation, spec.perspective, spec.margins,
        )
        placed = (scanner.warp(base, h, size), h, size)
        if len(self._warped) >= _WARPED_KEPT:
            self._warped.pop(next(iter(self._warped)))
        self._warped[key] = placed
        return placed

    def make(self, spec: ScanSpec) -> Scan:
        """The scan ``spec`` describes."""
        base, layout = self.base(spec.style)
        rng = np.random.default_rng(spec.seed)
        k = self.dpi / geo.MM_PER_INCH
        blank, h, size = self._placed(spec)
        scan = np.repeat(blank[:, :, None], 3, axis=2) if spec.colour else blank.copy()
        boxes = {(t["contest"], t["option"]): (t["x"], t["y"], t["w"], t["h"])
                 for t in layout["targets"]}
        for mark in spec.marks:
            box = boxes.get((mark.contest, mark.option))
            if box is None:
                raise ValueError(f"the ballot has no target {mark.contest!r} / {mark.option!r}")
            # One stream per target: a mark does not change when others do.
            key = [spec.seed, *map(ord, mark.contest + mark.option)]
            if mark.model == "hand":
                stream = np.random.default_rng([hand.TAG, *key])
                patch, pen = hand.hand_patch(box, mark.kind, mark.pen, k, stream)
            else:
                stream = np.random.default_rng(key)
                patch, pen = mark_patch(box, mark.kind, PENS[mark.pen], k, stream)
            _ink(scan, patch, pen, h, size, stream)
        targets = list(boxes.values())
        for _ in range(spec.strays):
            box = targets[int(rng.integers(0, len(targets)))]
            pen = PENS[str(rng.choice(list(PENS)))]
            _ink(scan, stray_patch(box, pen, k, rng), pen, h, size, rng)
        for axis, where, depth in spec.folds:
            patch = paper_fx.fold_patch(base.shape, axis, where * k, depth,
                                        rng.uniform(1.0, 3.0) * k)
            if patch is not None:
                _shade(scan, patch, (1.0, 1.0, 1.0), h, size)
        for x, y, r, depth in spec.stains:
            _shade(scan, paper_fx.stain_patch(x * k, y * k, r * k, depth, rng),
                   paper_fx.STAIN_RGB, h, size)
        paper_fx.specks(scan, spec.specks, k * spec.scale, rng)
        scan = scanner.blur(scan, spec.blur * k)
        if spec.streak is not None:
            kind, where, width = spec.streak
            scanner.streak(scan, self._streak_column(spec, h, size, where, k), width,
                           0 if kind == "dark" else 255)
        scan = scanner.noise(scan, spec.noise, rng)
        scan = scanner.levels(scan, spec.paper, spec.black)
        if spec.jpeg is not None:
            scan = scanner.jpeg(scan, spec.jpeg)
        truth = truth_of(spec, layout)
        truth["homography"] = h.tolist()
        return Scan(scan, self.dpi, spec, truth)

    def _streak_column(self, spec: ScanSpec, h: np.ndarray, size: tuple[int, int],
                       where: float, k: float) -> int:
        """Where a streak runs: a dark one anywhere across the scan, a light one (which
        only shows over print) down the column of the first contest's ovals."""
        base, layout = self.base(spec.style)
        if spec.streak is not None and spec.streak[0] == "light":
            t = layout["targets"][0]
            point = np.array([[t["x"] + t["w"] / 2, t["y"] + t["h"] / 2, 1.0]])
            mapped = point @ h.T
            x = mapped[0, 0] / mapped[0, 2]
            return int(round(x + (where - 0.5) * 0.3 * t["w"]))
        return int(round(size[0] * (0.05 + 0.9 * where)))


def _ink(scan: np.ndarray, patch: Patch, pen: Pen, h: np.ndarray, size: tuple[int, int],
         rng: np.random.Generator) -> None:
    placed = scanner.warp_patch(patch.field, patch.x0, patch.y0, h, size)
    if placed is not None:
        apply_ink(scan, placed[0], placed[1], placed[2], pen, rng)


def _shade(scan: np.ndarray, patch: Patch, rgb: tuple[float, float, float], h: np.ndarray,
           size: tuple[int, int]) -> None:
    placed = scanner.warp_patch(patch.field, patch.x0, patch.y0, h, size)
    if placed is not None:
        apply_shade(scan, placed[0], placed[1], placed[2], rgb)
