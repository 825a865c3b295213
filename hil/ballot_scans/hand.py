"""Marks as a person's hand draws them: pen trajectories, not shapes.

A second mark model, made apart from ``marks.py`` and from the reader, so that what the
reader is measured on is not what it was built from. A voter looks at the printed oval
(its place and size come from the layout record of the rendered sheet, in millimetres)
and aims at it with an error of a few tenths of a millimetre, judges its size a little
off and holds the pen at a slant. Every mark is a sequence of pen strokes; each stroke
is a smooth curve through a few control points (a Catmull-Rom spline), travelled with
a bell-shaped speed profile. Along it the pen's pressure lands, wanders and lifts off:
width and ink follow pressure and speed, ballpoints skip where they move fast, the last
part of a quick stroke is a thin light tail, graphite breaks up on the paper's tooth.

Instruments (``INSTRUMENTS``): ballpoints from 0.25 to 0.6 mm, a gel pen, a felt tip,
an HB and a soft 2B pencil; inks in blue, black, red, green and violet (``INKS``).

Kinds and the reading they must get (``truth_of``):

* votes (``VOTE_KINDS``): a tick whose long arm leaves the oval at the top right, a
  cross slightly off centre, a single slash, a line across, a circle drawn around the
  oval, a scribble, a fill;
* marginal by design (``MARGINAL_KINDS``): a hesitation dot, where the pen rested up to
  about 1 mm — never to be counted, may be flagged;
* not votes (``BLANK_KINDS``): a speck (a fleck of ink or grit up to 0.3 mm), a stray
  mark in the option's row but away from the oval (a tick or underline at the name, a
  dash in the margin), an erased mark (a faint graphite shadow and crumbs).

Random streams are this module's own (seeded with the mark's seed and a tag of this
model); the scanner and paper effects of ``ScanMaker`` are shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hil.ballot_scans.pens import Patch, Pen

VOTE_KINDS = ("tick", "cross", "slash", "line", "circle", "scribble", "fill")
MARGINAL_KINDS = ("dot",)
BLANK_KINDS = ("speck", "stray", "erased")
KINDS = VOTE_KINDS + MARGINAL_KINDS + BLANK_KINDS
TAG = 0x68616E64  # this model's own random streams never coincide with other models'

# RGB transmittance of each ink; graphite is a grey of its own.
INKS: dict[str, tuple[float, float, float]] = {
    "blue": (0.20, 0.28, 0.66),
    "black": (0.14, 0.14, 0.16),
    "red": (0.78, 0.18, 0.20),
    "green": (0.22, 0.50, 0.30),
    "violet": (0.42, 0.22, 0.58),
}
GRAPHITE = (0.38, 0.38, 0.40)


@dataclass(frozen=True)
class Instrument:
    """A writing instrument: line width at ordinary pressure (mm), how much ink a
    stroke lays down, how far pressure changes its width, how likely it skips, and the
    share of a graphite line the paper's tooth leaves bare."""

    name: str
    width: float
    deposit: float
    spread: float
    skips: float
    tooth: float = 0.0

    @property
    def graphite(self) -> bool:
        """A pencil: grey graphite, whatever colour was asked."""
        return self.tooth > 0


INSTRUMENTS: dict[str, Instrument] = {
    "ballpoint-0.25": Instrument("ballpoint-0.25", 0.25, 0.95, 0.15, 0.25),
    "ballpoint-0.3": Instrument("ballpoint-0.3", 0.30, 0.95, 0.15, 0.2),
    "ballpoint-0.4": Instrument("ballpoint-0.4", 0.40, 0.95, 0.15, 0.15),
    "ballpoint-0.5": Instrument("ballpoint-0.5", 0.50, 0.97, 0.15, 0.1),
    "ballpoint-0.6": Instrument("ballpoint-0.6", 0.60, 0.97, 0.15, 0.1),
    "gel-0.5": Instrument("gel-0.5", 0.45, 1.0, 0.1, 0.02),
    "felt": Instrument("felt", 0.9, 1.0, 0.25, 0.0),
    "pencil-hb": Instrument("pencil-hb", 0.45, 0.85, 0.45, 0.0, tooth=0.45),
    "pencil-2b": Instrument("pencil-2b", 0.75, 0.9, 0.5, 0.0, tooth=0.35),
}


def truth_of(kind: str | None) -> str:
    """What reading a target carrying a hand mark of ``kind`` must give (None: none)."""
    if kind in VOTE_KINDS:
        return "vote"
    if kind in MARGINAL_KINDS:
        return "marginal"
    return "blank"


def parse_pen(pen: str) -> tuple[Instrument, str]:
    """``"ballpoint-0.3/blue"`` as its instrument and ink; ``ValueError`` if unknown."""
    name, _, ink = pen.partition("/")
    if name not in INSTRUMENTS:
        raise ValueError(f"unknown instrument {name!r} (known: {', '.join(INSTRUMENTS)})")
    instrument = INSTRUMENTS[name]
    if instrument.graphite:
        return instrument, "graphite"
    if ink not in INKS:
        raise ValueError(f"unknown ink {ink!r} (known: {', '.join(INKS)})")
    return instrument, ink


def random_pen(rng: np.random.Generator) -> str:
    """A pen as voters bring them: mostly ballpoints of every width, some gel and felt
    pens and pencils, in any of the inks."""
    names = list(INSTRUMENTS)
    weights = np.array([0.14, 0.14, 0.14, 0.12, 0.1, 0.1, 0.08, 0.1, 0.08])
    name = str(rng.choice(names, p=weights / weights.sum()))
    return f"{name}/{rng.choice(list(INKS))}"


# -- the hand's movement ----------------------------------------------------------------


class _Aim:
    """Where the voter believes the oval is and how they hold the pen: a frame in
    millimetres on the sheet, with (u, v) in half-widths and half-heights of the oval
    as the voter sees it."""

    def __init__(self, cx: float, cy: float, w: float, h: float, rng: np.random.Generator):
        self.cx = cx + rng.normal(0, 0.3)
        self.cy = cy + rng.normal(0, 0.25)
        size = rng.uniform(0.88, 1.12)
        self.a = w / 2 * size
        self.b = h / 2 * size * rng.uniform(0.92, 1.08)
        slant = math.radians(rng.normal(0, 6))
        self.cos, self.sin = math.cos(slant), math.sin(slant)

    def mm(self, u: float, v: float) -> tuple[float, float]:
        """The sheet point (mm) at (u, v) of the oval as seen; v grows downwards."""
        x, y = u * self.a, v * self.b
        return (self.cx + x * self.cos - y * self.sin, self.cy + x * self.sin + y * self.cos)


def _spline(points: list[tuple[float, float]], per_mm: float) -> np.ndarray:
    """A uniform Catmull-Rom curve through ``points`` (mm), sampled densely."""
    p = np.array(points, dtype=np.float64)
    if len(p) == 1:
        return p.copy()
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        steps = max(2, int(np.linalg.norm(p2 - p1) * per_mm) + 1)
        t = np.linspace(0, 1, steps, endpoint=False)[:, None]
        t2, t3 = t * t, t * t * t
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t3))
    out.append(p[-1:])
    return np.vstack(out)


@dataclass
class _Stroke:
    """One pen-down movement: control points (mm on the sheet), how hard the pen is
    pressed (0 to 1), and how much of its end is a lift-off tail."""

    points: list[tuple[float, float]]
    pressure: float
    tail: float = 0.15
    landing: float = 0.05


def _trace(stroke: _Stroke, instrument: Instrument, k: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pen's positions (pixels), radii (pixels) and ink (0 to 1) along a stroke,
    sampled finely enough that neighbouring stamps overlap."""
    path = _spline(stroke.points, per_mm=20.0)
    seg = np.hypot(*np.diff(path, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    total = along[-1]
    # Resample by arc length: a quarter of a pixel between stamps.
    count = max(2, int(total * k * 4) + 1)
    s = np.linspace(0, total, count)
    xy = np.stack([np.interp(s, along, path[:, 0]), np.interp(s, along, path[:, 1])], axis=1)
    t = s / total if total > 0 else np.zeros_like(s)
    # Speed: a bell over the stroke (minimum-jerk), so the middle is fast; 1 at its top.
    speed = 16 * t**2 * (1 - t) ** 2
    # Pressure lands, wanders slowly and lifts off over the tail.
    wander = np.interp(t, np.linspace(0, 1, 6), rng.uniform(0.85, 1.1, 6))
    land = np.clip(t / max(stroke.landing, 1e-3), 0, 1) ** 0.5
    lift = np.clip((1 - t) / max(stroke.tail, 1e-3), 0, 1) ** 1.5
    pressure = np.clip(stroke.pressure * wander * land * np.maximum(lift, 0.08), 0, 1.2)
    width = instrument.width * (1 - instrument.spread + instrument.spread * pressure)
    width = width * (1 - 0.15 * speed * (instrument.spread > 0.3))
    ink = instrument.deposit * np.clip(0.35 + 0.75 * pressure, 0, 1) * (1 - 0.15 * speed)
    if instrument.skips:
        # A ballpoint's ball runs dry for a moment where it moves fast: short gaps.
        chance = instrument.skips * speed * 0.02
        gaps = rng.random(count) < chance
        if gaps.any():
            length = int(0.25 * k * 4) + 1  # a quarter of a millimetre of pen travel
            spread = np.convolve(gaps.astype(np.float64), np.ones(length), mode="full")
            run = spread[length // 2 : length // 2 + count] > 0
            ink = np.where(run, ink * rng.uniform(0.15, 0.5), ink)
    return xy * k, np.maximum(width * k / 2, 0.3), np.clip(ink, 0, 1)


def _render(strokes: list[_Stroke], instrument: Instrument, k: float, origin: tuple[int, int],
            shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Coverage (0 to 1, float32) of ``strokes`` in a patch of ``shape`` whose top-left
    is at ``origin`` (pixels of the base sheet): the union of the pen's round stamps,
    anti-aliased over one pixel, each stamp as dark as the ink it lays down."""
    field = np.zeros(shape, dtype=np.float32)
    ys = np.arange(shape[0], dtype=np.float32)[:, None] + 0.5
    xs = np.arange(shape[1], dtype=np.float32)[None, :] + 0.5
    chunk = 48
    for stroke in strokes:
        xy, radius, ink = _trace(stroke, instrument, k, rng)
        xy = xy - np.array(origin, dtype=np.float64)
        for i in range(0, len(xy), chunk):
            part, r, a = xy[i:i + chunk], radius[i:i + chunk], ink[i:i + chunk]
            reach = float(r.max()) + 1.5
            x0 = max(0, int(part[:, 0].min() - reach))
            x1 = min(shape[1], int(part[:, 0].max() + reach) + 1)
            y0 = max(0, int(part[:, 1].min() - reach))
            y1 = min(shape[0], int(part[:, 1].max() + reach) + 1)
            if x1 <= x0 or y1 <= y0:
                continue
            dx = xs[:, x0:x1, None] - part[None, None, :, 0].astype(np.float32)
            dy = ys[y0:y1, :, None] - part[None, None, :, 1].astype(np.float32)
            dist = np.sqrt(dx * dx + dy * dy)
            cover = np.clip(r.astype(np.float32) + 0.5 - dist, 0, 1) * a.astype(np.float32)
            np.maximum(field[y0:y1, x0:x1], cover.max(axis=2), out=field[y0:y1, x0:x1])
    if instrument.tooth:
        # Graphite catches on the paper's tooth: a pixel keeps a random share of it.
        field *= 1 - instrument.tooth * rng.random(shape, dtype=np.float32)
    return field


# -- what a voter draws -------------------------------------------------------------------


def _jitter(rng: np.random.Generator, scale: float) -> float:
    return float(rng.normal(0, scale))


def _tick(aim: _Aim, rng: np.random.Generator) -> list[_Stroke]:
    start = (rng.uniform(-0.75, -0.35), rng.uniform(-0.3, 0.2))
    vertex = (rng.uniform(-0.3, 0.1), rng.uniform(0.3, 0.75))
    mid = (rng.uniform(0.3, 0.6), rng.uniform(-0.6, -0.1))
    end = (rng.uniform(1.0, 2.0), rng.uniform(-2.4, -1.4))
    corner = (vertex[0] + rng.uniform(0.02, 0.12), vertex[1] + rng.uniform(0.0, 0.08))
    pts = [aim.mm(*start), aim.mm(*vertex), aim.mm(*corner), aim.mm(*mid), aim.mm(*end)]
    return [_Stroke(pts, rng.uniform(0.6, 1.0), tail=rng.uniform(0.2, 0.4))]


def _straight(aim: _Aim, rng: np.random.Generator, angle: float, length: float,
              centre: tuple[float, float]) -> list[tuple[float, float]]:
    """A stroke of ``length`` (oval half-widths) through ``centre`` at ``angle``, bowed
    a little as a wrist moves."""
    du, dv = math.cos(angle) * length / 2, math.sin(angle) * length / 2 * aim.a / aim.b
    bow = _jitter(rng, 0.08)
    cu, cv = centre
    return [aim.mm(cu - du, cv - dv), aim.mm(cu - dv * bow, cv + du * bow),
            aim.mm(cu + du, cv + dv)]


def _cross(aim: _Aim, rng: np.random.Generator) -> list[_Stroke]:
    centre = (_jitter(rng, 0.2), _jitter(rng, 0.2))
    strokes = []
    for sign in (1, -1):
        angle = sign * math.radians(rng.uniform(25, 55))
        shift = (centre[0] + _jitter(rng, 0.08), centre[1] + _jitter(rng, 0.08))
        strokes.append(_Stroke(_straight(aim, rng, angle, rng.uniform(1.5, 2.6), shift),
                               rng.uniform(0.6, 1.0), tail=rng.uniform(0.1, 0.3)))
    return strokes


def _slash(aim: _Aim, rng: np.random.Generator) -> list[_Stroke]:
    angle = math.radians(rng.uniform(20, 70)) * (1 if rng.random() < 0.3 else -1)
    pts = _straight(aim, rng, angle, rng.uniform(1.6, 2.8), (_jitter(rng, 0.15),
                                                             _jitter(rng, 0.15)))
    return [_Stroke(pts, rng.uniform(0.6, 1.0), tail=rng.uniform(0.15, 0.35))]


def _line(aim: _Aim, rng: np.random.Generator) -> list[_Stroke]:
    angle = math.radians(rng.normal(0, 8))
    # Across the oval's middle: a line along its top or bottom edge is another mark.
    pts = _straight(aim, rng, angle, rng.uniform(1.7, 2.8),
                    (_jitter(rng, 0.1), float(np.clip(_jitter(rng, 0.15), -0.3, 0.3))))
    return [_Stroke(pts, rng.uniform(0.6, 1.0), tail=rng.uniform(0.1, 0.25))]


def _circle(aim: _Aim, rng: np.random.Generator) -> list[_Stroke]:
    # Around the oval, clear of it: a loop a little wider than the oval, not closed
    # exactly, the pen lifting off where it started.
    ru, rv = rng.uniform(1.2, 1.35), rng.uniform(1.3, 1.55)
    start = rng.uniform(0, math.tau)
    turn = rng.uniform(1.0, 1.12) * (1 if rng.random() < 0.7 else -1)
    steps = 14
    pts = []
    for i in range(steps + 1):
        angle = start + math.tau * turn * i / steps
        wobble = 1 + _jitter(rng, 0.03)
        pts.append(aim.mm(math.cos(angle) * ru * wobble, math.sin(angle) * rv * wobble))
    return [_Stroke(pts, rng.uniform(0.6, 1.0), tail=rng.uniform(0.05, 0.12))]


def _scribble(aim: _Aim, rng: np.random.Generator) -> list[_Stroke]:
    turns = int(rng.integers(5, 13))
    pts = []
    for i in range(turns + 1):
        side = 1 if i % 2 else -1
        pts.append(aim.mm(side * rng.uniform(0.4, 0.95), -0.7 + 1.4 * i / turns
                          + _jitter(rng, 0.1)))
    return [_Stroke(pts, rng.uniform(0.6, 1.0), tail=rng.uniform(0.05, 0.15))]


def _fill(aim: _Aim, rng: np.random.Generator, instrument: Instrument) -> list[_Stroke]:
    # Back and forth, row under row, as many passes as the pen's width needs; some
    # people go round the edge first.
    passes = int(np.clip(2 * aim.b / max(instrument.width * 0.9, 0.2), 5, 30))
    pts = []
    for i in range(passes + 1):
        v = -0.9 + 1.8 * i / passes + _jitter(rng, 0.03)
        reach = math.sqrt(max(0.0, 1 - v * v)) * rng.uniform(0.9, 1.08)
        pts.append(aim.mm(reach * (1 if i % 2 else -1), v))
    strokes = [_Stroke(pts, rng.uniform(0.7, 1.0), tail=0.03)]
    if rng.random() < 0.5:
        ring = [aim.mm(math.cos(a) * 0.92, math.sin(a) * 0.9)
                for a in np.linspace(0, math.tau, 16)]
        strokes.insert(0, _Stroke(ring, rng.uniform(0.7, 1.0), tail=0.05))
    return strokes


def _dot(aim: _Aim, rng: np.random.Generator, instrument: Instrument) -> list[_Stroke]:
    # The pen rests where the voter hesitated and wiggles a little: the whole dot,
    # pen width included, is at most about a millimetre across.
    size = rng.uniform(0.3, 1.0)
    move = max(0.0, size - instrument.width) / 2
    u, v = rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)
    x, y = aim.mm(u, v)
    angle = rng.uniform(0, math.tau)
    pts = [(x - math.cos(angle) * move, y - math.sin(angle) * move),
           (x + math.cos(angle) * move, y + math.sin(angle) * move)]
    return [_Stroke(pts, rng.uniform(0.8, 1.1), tail=0.01, landing=0.01)]


def _stray(aim: _Aim, rng: np.random.Generator) -> list[_Stroke]:
    # In the option's row, away from the oval: at the name (which starts 3 mm right
    # of the oval), or in the margin left of the oval.
    where = rng.integers(0, 3)
    if where == 0:  # a tick on the name
        x = aim.cx + aim.a + rng.uniform(6, 30)
        y = aim.cy + rng.uniform(-0.5, 0.5)
        pts = [(x, y), (x + 1.2, y + 1.3), (x + 4.5, y - 2.6)]
    elif where == 1:  # the name underlined
        x = aim.cx + aim.a + rng.uniform(4.5, 8)
        y = aim.cy + rng.uniform(2.4, 3.2)
        pts = [(x, y), (x + rng.uniform(12, 40) / 2, y + _jitter(rng, 0.2)),
               (x + rng.uniform(12, 40), y + _jitter(rng, 0.3))]
    else:  # a short dash in the margin to the left
        x = aim.cx - aim.a - rng.uniform(2.6, 3.1)
        y = aim.cy + _jitter(rng, 0.4)
        pts = [(x - 0.5, y), (x + 0.4, y + _jitter(rng, 0.2))]
    return [_Stroke(pts, rng.uniform(0.6, 1.0), tail=0.2)]


def _strokes(kind: str, aim: _Aim, instrument: Instrument, rng: np.random.Generator
             ) -> list[_Stroke]:
    if kind == "tick":
        return _tick(aim, rng)
    if kind == "cross":
        return _cross(aim, rng)
    if kind == "slash":
        return _slash(aim, rng)
    if kind == "line":
        return _line(aim, rng)
    if kind == "circle":
        return _circle(aim, rng)
    if kind == "scribble":
        return _scribble(aim, rng)
    if kind in ("fill", "erased"):
        return _fill(aim, rng, instrument)
    if kind == "dot":
        return _dot(aim, rng, instrument)
    if kind == "stray":
        return _stray(aim, rng)
    raise ValueError(f"unknown hand mark {kind!r} (known: {', '.join(KINDS)})")


def _speck(field: np.ndarray, aim: _Aim, k: float, origin: tuple[int, int],
           rng: np.random.Generator) -> None:
    """A fleck of ink or grit, 0.05 to 0.3 mm, in or near the oval."""
    x, y = aim.mm(rng.uniform(-1.1, 1.1), rng.uniform(-1.1, 1.1))
    radius = rng.uniform(0.025, 0.15) * k
    ys = np.arange(field.shape[0])[:, None] + 0.5 + origin[1]
    xs = np.arange(field.shape[1])[None, :] + 0.5 + origin[0]
    cover = np.clip(radius + 0.5 - np.hypot(xs - x * k, ys - y * k), 0, 1)
    np.maximum(field, (cover * rng.uniform(0.5, 1.0)).astype(np.float32), out=field)


def hand_patch(box: tuple[float, float, float, float], kind: str, pen: str, k: float,
               rng: np.random.Generator) -> tuple[Patch, Pen]:
    """A hand mark of ``kind`` with ``pen`` (``"instrument/ink"``) at the oval whose
    printed box is ``box`` (x, y, w, h in pixels of the base sheet at ``k`` pixels per
    millimetre): its coverage patch and the ink as a ``Pen`` for ``apply_ink``."""
    if kind not in KINDS:
        raise ValueError(f"unknown hand mark {kind!r} (known: {', '.join(KINDS)})")
    instrument, ink = parse_pen(pen)
    if kind == "erased":
        # Only pencil is erased; what is left is a shadow of it.
        instrument, ink = INSTRUMENTS["pencil-hb" if rng.random() < 0.6 else "pencil-2b"], \
            "graphite"
    x, y, w, h = (v / k for v in box)
    aim = _Aim(x + w / 2, y + h / 2, w, h, rng)
    # The patch reaches the row's neighbours: a tick's arm, a circle, a stray at the name.
    x0, y0 = int((aim.cx - 12) * k), int((aim.cy - 8) * k)
    shape = (int(16 * k), int(60 * k))
    if kind == "speck":
        field = np.zeros(shape, dtype=np.float32)
        _speck(field, aim, k, (x0, y0), rng)
    else:
        field = _render(_strokes(kind, aim, instrument, rng), instrument, k, (x0, y0),
                        shape, rng)
    if kind == "erased":
        # An eraser leaves a faint shadow of the graphite and a few crumbs of it.
        field *= np.float32(rng.uniform(0.04, 0.14))
        for _ in range(int(rng.integers(0, 4))):
            _speck(field, aim, k, (x0, y0), rng)
    rgb = GRAPHITE if ink == "graphite" else INKS[ink]
    return Patch(x0, y0, field), Pen(f"{instrument.name}/{ink}", rgb, instrument.width)
